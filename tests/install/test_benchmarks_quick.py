"""The benchmarks must keep running: the quick mode end to end, and the arithmetic of the table.

The quick run checks that every anchor and every mpikernel figure is produced and sane (finite,
positive, same libmpi everywhere); it does not check the targets, which depend on the load of
the machine. The evaluation logic is tested on synthetic samples instead.
"""

import json
import math
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from benchmarks import binding, report  # noqa: E402
from benchmarks.stats import summary  # noqa: E402


def test_summary_median_and_spread():
    s = summary([1.0, 2.0, 3.0, 4.0, 100.0])
    assert s["median"] == 3.0
    assert (s["q1"], s["q3"]) == (2.0, 4.0)
    assert s["spread"] == pytest.approx(1 / 3)
    with pytest.raises(ValueError):
        summary([])


def synthetic(ours_scale, cpu=0.02, interrupted=True):
    """Results where mpikernel takes `ours_scale` times the anchors' time in every case."""
    res = binding.Results("quick")
    base = {"pingpong:8": 1e-6, f"pingpong:{binding.MiB}": 2e-4,
            f"pingpong:{64 * binding.MiB}": 1.5e-2, "pickle_small": 1e-5, "dict_array": 0.1,
            "allreduce_int": 1e-4, "bcast_dict": 0.03, f"window:64x{4 * binding.MiB}": 0.03,
            f"window:1x{4 * binding.MiB}": 5e-4, "window:16x65536": 1e-4, "window:64x8": 3e-5,
            "jacobi:5": 2e-4, "jacobi:4": 1.5e-4}
    for impl in ("c", "mpi4py"):
        res.samples[impl] = {k: [v * 0.9, v, v * 1.1] for k, v in base.items()
                             if impl == "mpi4py" or k.split(":")[0] not in ("pickle_small", "dict_array", "window", "jacobi")}
    res.samples["mpikernel"] = {k: [v * ours_scale] * 3 for k, v in base.items()}
    res.samples["mpi4py"]["barrier_cpu"] = [1.0]
    res.samples["mpikernel"]["barrier_cpu"] = [cpu]
    res.meta["mpi4py"]["ctrl_c"] = [{"released_by": "timeout", "latency": 2.5, "bound": 3.0, "delay": 0.5}]
    res.samples["mpikernel"]["ctrl_c"] = [0.01] if interrupted else []
    res.meta["mpikernel"]["ctrl_c"] = [{"released_by": "message" if interrupted else "timeout",
                                        "latency": 0.01, "bound": 3.0, "delay": 0.5}]
    res.alias_c_dict(64 * binding.MiB)
    return res


def test_evaluate_ratios_and_verdicts():
    rows = binding.evaluate(synthetic(0.5))
    by = {(r.target.label, r.target.anchor_impl): r for r in rows}
    lat = by[("8 B ping-pong latency (one way, Send/Recv)", "mpi4py")]
    assert lat.ratio == pytest.approx(0.5) and lat.met
    bw = by[("bandwidth 64 MiB (Send/Recv ping-pong)", "c")]
    assert bw.ratio == pytest.approx(2.0) and bw.met  # half the time = twice the bandwidth
    dict_vs_mpi4py = by[("dict with 64 MiB array, send/recv bandwidth", "mpi4py")]
    assert dict_vs_mpi4py.ratio == pytest.approx(2.0) and not dict_vs_mpi4py.met  # needs 4x
    dict_vs_c = by[("dict with 64 MiB array, send/recv bandwidth", "c")]
    assert dict_vs_c.ratio == pytest.approx(0.015 / 0.05) and not dict_vs_c.met  # vs C 64 MiB Send/Recv
    assert all(r.met is not None for r in rows if r.target.bound is not None)

    slow = {(r.target.label, r.target.anchor_impl): r for r in binding.evaluate(synthetic(2.0, cpu=0.5, interrupted=False))}
    assert not slow[("8 B ping-pong latency (one way, Send/Recv)", "c")].met
    assert not slow[("CPU of a rank blocked in a barrier", "mpi4py")].met
    assert not slow[("Ctrl-C latency in a blocked barrier", "mpi4py")].met


def test_ratio_is_paired_per_round():
    """The ratio is the median of per-round ratios, so one slow phase that hits only one side
    (here ours in round 1) does not decide the verdict as pooled medians would (5x)."""
    res = binding.Results("full")
    for rnd, anchor, ours in ((0, 1.0, 0.5), (1, 1.0, 5.0), (2, 10.0, 5.0)):
        res.add("mpi4py", [{"case": "pickle_small", "unit": "s", "samples": [anchor * 1e-5] * 3}], rnd)
        res.add("mpikernel", [{"case": "pickle_small", "unit": "s", "samples": [ours * 1e-5] * 3}], rnd)
    row = next(r for r in binding.evaluate(res) if r.target.ours == "pickle_small")
    assert sorted(row.round_ratios) == pytest.approx([0.5, 0.5, 5.0])
    assert row.ratio == pytest.approx(0.5) and row.met


def test_table_has_one_row_per_target():
    text = report.table(binding.evaluate(synthetic(0.5)))
    lines = text.splitlines()
    assert len(lines) == 2 + len(binding.TARGETS)
    assert "no KeyboardInterrupt within 2.5 s" in text
    assert "**no**" in text  # the 4x dict target is missed at 2x


@pytest.mark.mpi
@pytest.mark.timeout(80)
def test_quick_mode_runs_end_to_end(tmp_path):
    pytest.importorskip("mpi4py")
    out = tmp_path / "quick.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "benchmarks", "binding", "--quick", "--json", str(out)],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=70)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        stdout, stderr = proc.communicate()
        pytest.fail(f"quick benchmarks took over 70 s\n{stderr[-3000:]}")
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    assert proc.returncode == 0, stderr[-3000:]
    data = json.loads(out.read_text())
    errors = {k: v for k, v in data["results"]["errors"].items() if v}
    assert not errors, json.dumps(errors, indent=1)[:3000]
    assert data["same_library"], data["libmpi"]
    assert len(data["rows"]) == len(binding.TARGETS)
    for row in data["rows"]:
        assert row["anchor"] is not None, row
        assert row["ours"] is not None, row
        assert row["met"] in (True, False) or row["target"] == "(context)", row
        if row["ratio"] is not None:
            assert math.isfinite(row["ratio"]) and row["ratio"] > 0, row
    assert "| benchmark |" in stdout


@pytest.mark.mpi
@pytest.mark.timeout(60)
def test_interleaved_program_pairs_samples(tmp_path):
    """The interleaved program gives every impl the same number of samples per case, taken in
    the same repetitions, from one libmpi (C through ctypes, mpi4py, mpikernel)."""
    pytest.importorskip("mpi4py")
    from benchmarks import cbuild
    from benchmarks.launch import run_ranks

    kernels = cbuild.compile_program("kernels", shared=True, directory=tmp_path)
    cases = [["pingpong", {"sizes": [[8, 50]], "warmup": 5, "reps": 3}],
             ["pickle_small", {"iters": 20, "warmup": 2, "reps": 3}]]
    argv = [sys.executable, str(binding.INTERLEAVED), "--kernels", str(kernels),
            "--config", json.dumps({"cases": cases})]
    records = run_ranks(2, argv, timeout=45)
    res = binding.Results("test")
    res.add("all", records, 0)
    assert res.samples["c"]["pingpong:8"] and len(res.samples["c"]["pingpong:8"]) == 3
    assert len(res.samples["mpi4py"]["pingpong:8"]) == len(res.samples["mpikernel"]["pingpong:8"]) == 3
    assert "pickle_small" not in res.samples["c"]
    assert sorted(res.by_round["mpikernel"]["pickle_small"]) == ["0.0", "0.1", "0.2"]
    assert all(0 < x < 1 for x in res.samples["mpikernel"]["pingpong:8"])
    ok, libs = binding.same_library(res)
    assert ok, libs
