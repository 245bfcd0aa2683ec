"""Notebook-layer benchmarks: our magics against ipyparallel's own MPI cluster, in one run.

Each launch is one IPython shell process (benchmarks/notebook_prog.py) that starts a world of N
ranks, times cells, push/pull and an interrupt, and stops the world. ipyparallel starts its
controller and engines in sessions of their own, so the program lists their pids and this
module kills those process groups as well as its own when it ends or hangs.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import report
from .binding import Target
from .launch import kill_group, mpi_env
from .stats import summary

PROGRAM = Path(__file__).resolve().parent / "notebook_prog.py"
MB = 1_000_000
IMPLS = ("ipyparallel", "mpikernel")
DOCS = Path(__file__).resolve().parents[1] / "docs"

MODES = {
    "quick": {
        "rounds": 1, "timeout": 120, "ranks": 2, "scaling": [],
        "cases": [["cells", {"reps": 3}], ["push_pull", {"nbytes": 10 * MB, "reps": 2}],
                  ["interrupt", {"delay": 0.5, "bound": 3.0}]],
    },
    "full": {
        "rounds": 3, "timeout": 300, "ranks": 4, "scaling": [1, 2, 4, 8],
        "cases": [["cells", {"reps": 15}], ["push_pull", {"nbytes": 100 * MB, "reps": 3}],
                  ["interrupt", {"delay": 1.0, "bound": 5.0}]],
    },
}

TARGETS = [
    Target("cold start to first cell result", "cold_start", "ipyparallel", "cold_start", "time", 0.35),
    Target("cell round trip: print(rank)", "cell_print", "ipyparallel", "cell_print", "time", 1.0),
    Target("cell round trip: allreduce", "cell_allreduce", "ipyparallel", "cell_allreduce", "time", 1.0),
    Target("push then pull of one numpy array, all ranks (data moved / time)", "push_pull", "ipyparallel", "push_pull", "rate", 2.0),
    Target("interrupt a cell hung in a collective, until the next cell ran", "interrupt", "ipyparallel", "interrupt", "interrupt", 1.0),
]


def launch(impl, ranks, cases, timeout, log):
    """Run one shell; return its records. Kills every process group it started, always."""
    fd, out = tempfile.mkstemp(prefix="mpikernel-nb-", suffix=".jsonl")
    os.close(fd)
    env = mpi_env({"PATH": os.path.dirname(sys.executable) + os.pathsep + os.environ.get("PATH", "")})
    argv = [sys.executable, str(PROGRAM), "--impl", impl, "--ranks", str(ranks),
            "--config", json.dumps({"cases": cases}), "--out", out]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=env, start_new_session=True)
    error = None
    try:
        _, err = proc.communicate(timeout=timeout)
        if proc.returncode != 0:
            error = f"{impl} on {ranks} ranks exited {proc.returncode}:\n{err[-3000:]}"
    except subprocess.TimeoutExpired:
        error = f"{impl} on {ranks} ranks timed out after {timeout}s"
        record_descendants(proc.pid, out + ".pids")
    finally:
        kill_group(proc)
        kill_listed_groups(out + ".pids")
    records = []
    with open(out) as f:
        records = [json.loads(line) for line in f if line.strip()]
    for p in (out, out + ".pids"):
        try:
            os.unlink(p)
        except FileNotFoundError:
            pass
    if error:
        log("  FAILED: " + error.splitlines()[0])
    return records, error


def record_descendants(pid, pidfile):
    """Add the processes started by `pid` (ipyparallel puts them in sessions of their own)."""
    try:
        import psutil

        pids = [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except Exception:  # noqa: BLE001 - gone already, or no psutil: nothing more to list
        return
    with open(pidfile, "a") as f:
        f.write("".join(f"{p}\n" for p in pids))


def kill_listed_groups(pidfile):
    """SIGKILL the process groups led by the pids the program recorded (processes we started)."""
    try:
        pids = [int(x) for x in Path(pidfile).read_text().split()]
    except (OSError, ValueError):
        return
    for pid in pids:
        for kill in (os.killpg, os.kill):
            try:
                kill(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass


def run(mode="quick", rounds=None, impls=IMPLS, log=print):
    p = MODES[mode]
    rounds = rounds or p["rounds"]
    samples = {i: {} for i in impls}
    meta = {i: {} for i in impls}
    errors = {i: [] for i in impls}
    scaling = {i: {} for i in impls}
    by_round = {i: {} for i in impls}

    def add(impl, records, ranks, round_=None):
        for rec in records:
            key = rec["case"]
            if ranks == p["ranks"]:
                samples[impl].setdefault(key, []).extend(rec["samples"])
                if round_ is not None:
                    by_round[impl].setdefault(key, {}).setdefault(str(round_), []).extend(rec["samples"])
                meta[impl].setdefault(key, []).append(
                    {k: v for k, v in rec.items() if k not in ("case", "samples", "unit")})
            if key in ("cold_start", "cell_print"):
                scaling[impl].setdefault(str(ranks), {}).setdefault(key, []).extend(rec["samples"])

    for r in range(rounds):
        order = impls if r % 2 == 0 else tuple(reversed(impls))
        for impl in order:
            log(f"[round {r + 1}/{rounds}] {impl} on {p['ranks']} ranks")
            t0 = time.monotonic()
            records, err = launch(impl, p["ranks"], p["cases"], p["timeout"], log)
            add(impl, records, p["ranks"], r)
            if err:
                errors[impl].append(err)
            else:
                log(f"  done in {time.monotonic() - t0:.1f} s")
    for n in p["scaling"]:
        if n == p["ranks"]:
            continue
        for impl in impls:
            log(f"[scaling] {impl} on {n} ranks")
            records, err = launch(impl, n, [["cells", {"reps": 5}]], p["timeout"], log)
            add(impl, records, n)
            if err:
                errors[impl].append(err)
    return {"mode": mode, "ranks": p["ranks"], "samples": samples, "meta": meta,
            "errors": errors, "scaling": scaling, "by_round": by_round}


def evaluate(res):
    from .binding import Row

    rows = []
    for t in TARGETS:
        if t.kind == "interrupt":
            rows.append(evaluate_interrupt(res, t))
            continue
        nbytes = 0
        if t.kind == "rate":
            # data moved: the array to every rank and back from every rank
            m = res["meta"].get("mpikernel", {}).get(t.ours) or res["meta"].get(t.anchor_impl, {}).get(t.anchor)
            nbytes = 2 * m[0]["nbytes"] * m[0]["ranks"] if m else 0
        vals = {}
        for impl, key in (("mpikernel", t.ours), (t.anchor_impl, t.anchor)):
            v = res["samples"].get(impl, {}).get(key)
            if v and t.kind == "rate":
                v = [nbytes / x for x in v]
            vals[impl] = summary(v) if v else None
        so, sa = vals["mpikernel"], vals[t.anchor_impl]
        ratio = met = None
        ratios = paired_ratios(res, t, nbytes)
        if so and sa:
            ratio = summary(ratios)["median"] if ratios else so["median"] / sa["median"]
            met = ratio <= t.bound if t.kind == "time" else ratio >= t.bound
        rows.append(Row(t, sa, so, ratio, met, round_ratios=ratios))
    return rows


def paired_ratios(res, t, nbytes):
    """ours/anchor per round, from each round's medians (see binding.paired_ratios)."""
    o_rounds = res.get("by_round", {}).get("mpikernel", {}).get(t.ours, {})
    a_rounds = res.get("by_round", {}).get(t.anchor_impl, {}).get(t.anchor, {})
    ratios = []
    for r in sorted(set(o_rounds) & set(a_rounds), key=int):
        if not (o_rounds[r] and a_rounds[r]):
            continue
        o, a = summary(o_rounds[r])["median"], summary(a_rounds[r])["median"]
        ratios.append(a / o if t.kind == "rate" else o / a)
    return ratios


def evaluate_interrupt(res, t):
    from .binding import Row

    a_meta = res["meta"].get(t.anchor_impl, {}).get("interrupt", [])
    a_vals = res["samples"].get(t.anchor_impl, {}).get("interrupt", [])
    o_meta = res["meta"].get("mpikernel", {}).get("interrupt", [])
    o_vals = res["samples"].get("mpikernel", {}).get("interrupt", [])
    anchor = None
    if a_meta:
        anchor = {"interrupted": len(a_vals), "runs": len(a_meta), "bound": a_meta[0]["bound"],
                  "raised_after_release": []}
    ours = summary(o_vals) if o_vals else None
    met = None
    note = ""
    if o_meta:
        met = bool(ours) and len(o_vals) == len(o_meta) and ours["max"] <= t.bound
        if len(o_vals) < len(o_meta):
            note = f"next cell did not run within the bound in {len(o_meta) - len(o_vals)} of {len(o_meta)} runs"
    return Row(t, anchor, ours, None, met, note)


def interrupt_anchor_text(row):
    a = row.anchor
    if a is None:
        return "n/a"
    if a["interrupted"] == 0:
        return f"next cell never ran (waited {a['bound']:.0f} s after the interrupt; engines need a restart)"
    return f"recovered in {a['interrupted']} of {a['runs']} runs"


def plot_scaling(res, path):
    """PNG: cold start and cell round trip against the number of ranks, both sides."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    for impl, style in (("ipyparallel", "o--"), ("mpikernel", "s-")):
        sc = res["scaling"].get(impl, {})
        ns = sorted(int(n) for n in sc)
        for ax, key, scale in ((axes[0], "cold_start", 1), (axes[1], "cell_print", 1e3)):
            pts = [(n, summary(sc[str(n)][key])["median"] * scale) for n in ns if sc[str(n)].get(key)]
            if pts:
                ax.plot(*zip(*pts), style, label=impl)
    axes[0].set(title="cold start to first cell result", xlabel="ranks", ylabel="seconds")
    axes[1].set(title="cell round trip: print(rank)", xlabel="ranks", ylabel="milliseconds")
    for ax in axes:
        ax.set_xticks([1, 2, 4, 8])
        ax.grid(alpha=0.3)
        ax.legend()
        ax.set_ylim(bottom=0)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def scaling_table(res):
    lines = ["| ranks | ipyparallel start | mpikernel start | ipyparallel print(rank) | mpikernel print(rank) |",
             "| --- | --- | --- | --- | --- |"]
    ns = sorted({int(n) for impl in res["scaling"].values() for n in impl})
    for n in ns:
        cells = []
        for key in ("cold_start", "cell_print"):
            for impl in IMPLS:
                v = res["scaling"].get(impl, {}).get(str(n), {}).get(key)
                cells.append(report.fmt_time(summary(v)["median"]) if v else "n/a")
        lines.append(f"| {n} | {cells[0]} | {cells[1]} | {cells[2]} | {cells[3]} |")
    return "\n".join(lines)


def main(args, log=print):
    mode = "quick" if args.quick else "full"
    m = report.machine()
    t0 = time.monotonic()
    res = run(mode, rounds=args.rounds, log=log)
    rows = evaluate(res)
    text_rows = report.table(rows, anchor_names={"ipyparallel": "ipyparallel `%%px` (MPI engines, mpi4py)"},
                             interrupt_anchor=interrupt_anchor_text)
    lines = [
        f"## Notebook layer ({mode} mode, {res['ranks']} ranks, {time.monotonic() - t0:.0f} s)",
        "",
        f"- command: `{args.command_line}` (git {report.git_revision() or '?'})",
        f"- machine: {report.machine_text(m)}, at end {os.getloadavg()[0]:.2f}",
        "- values: median ±half the interquartile range; ratio = ours / anchor per round (from the "
        "round's medians), median over rounds, lowest–highest round in brackets",
        "",
        text_rows,
    ]
    if res["scaling"] and any(res["scaling"].values()) and MODES[mode]["scaling"]:
        png = DOCS / "benchmarks-scaling.png"
        try:
            plot_scaling(res, png)
            lines += ["", "Scaling (medians):", "", scaling_table(res), "",
                      "![scaling](benchmarks-scaling.png)"]
        except ImportError as exc:
            lines += ["", f"(no plot: {exc})"]
    for impl, errs in res["errors"].items():
        if errs:
            lines += ["", f"Errors from {impl}:", "```", *errs[0].splitlines()[-20:], "```"]
    text = "\n".join(lines) + "\n"
    data = {"machine": m, "command": args.command_line, "results": res,
            "rows": [{"label": r.target.label, "target": r.target.target_text, "anchor": r.anchor,
                      "ours": r.ours, "ratio": r.ratio, "met": r.met, "note": r.note} for r in rows]}
    return text, data
