"""What tracing and checking cost: `python -m benchmarks.instrument [--quick] [--rounds N]
[--json PATH] [--markdown PATH]`.

Builds a second copy of the extension with -DMPIK_NO_INSTRUMENT (no hooks at all; cached under
the system's temp directory, keyed by the sources) and compares, per round, with launches of
the two builds back to back (the order alternates):

- 8-byte Send/Recv ping-pong latency and allreduce(int) latency: uninstrumented build vs the
  normal build with tracing and checking off (the "costs nothing" claim), tracing on, checking on;
- the per-call cost of tracing, on one rank: Isend(PROC_NULL)+Wait pairs and COMM_SELF.Barrier()
  with tracing on minus off, in the same process.

Ratios are formed per round from the round's medians; the table shows the median over rounds
and the range. The machine is shared, so read the ranges.
"""

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from . import report
from .launch import run_ranks

ROOT = Path(__file__).resolve().parent.parent
PROGRAM = Path(__file__).resolve().parent / "instrument_prog.py"

MODES = {
    "quick": {"rounds": 2, "timeout": 120,
              "params": {"warmup": 50, "reps": 3, "pingpong": 500, "allreduce": 200,
                         "local": 20000, "capacity": 65536}},
    "full": {"rounds": 6, "timeout": 300,
             "params": {"warmup": 200, "reps": 5, "pingpong": 1000, "allreduce": 300,
                        "local": 100000, "capacity": 65536}},
}


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def source_key():
    h = hashlib.sha256()
    for path in sorted((ROOT / "_mpi").glob("*.p*")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()[:16]


def uninstrumented_build():
    """A directory whose `mpikernel` package is ours with an extension built without hooks."""
    base = Path(tempfile.gettempdir()) / f"mpikernel-uninstrumented-{source_key()}"
    pkg = base / "lib" / "mpikernel"
    if list(pkg.glob("MPI*.so")):
        return base / "lib"
    log(f"building the extension without instrumentation into {base} (a few minutes)")
    env = dict(os.environ)
    env["CFLAGS"] = (env.get("CFLAGS", "") + " -DMPIK_NO_INSTRUMENT").strip()
    env.setdefault("MPICC", str(Path(sys.executable).with_name("mpicc")))
    subprocess.run(
        ["nice", sys.executable, "setup.py", "-q", "build_ext", "--build-lib", str(base / "lib"),
         "--build-temp", str(base / "tmp")],
        cwd=ROOT, env=env, check=True, timeout=1800,
    )
    # the rest of the package (pure Python, build record) beside the uninstrumented extension
    for path in (ROOT / "mpikernel").iterdir():
        if path.suffix == ".so" or path.name == "__pycache__":
            continue
        dest = pkg / path.name
        if path.is_dir():
            shutil.copytree(path, dest, dirs_exist_ok=True)
        else:
            shutil.copy2(path, dest)
    return base / "lib"


def launch(label, params, timeout, pythonpath=None):
    env = {"PYTHONPATH": str(pythonpath)} if pythonpath else {}
    return run_ranks(2, [sys.executable, str(PROGRAM), label, json.dumps(params)], timeout,
                     env=env)


def medians(records):
    """{(build, state, bench): median seconds} of one round."""
    groups = {}
    for r in records:
        groups.setdefault((r["build"], r["state"], r["bench"]), []).append(r["seconds"])
    return {k: statistics.median(v) for k, v in groups.items()}


ROWS = []  # (label, bench, (build, state) measured, (build, state) anchor)
for _what, _bench in (("8 B ping-pong, fastest chunk of 20", "pingpong8_best"),
                      ("8 B ping-pong, mean", "pingpong8"),
                      ("allreduce(int), fastest chunk of 20", "allreduce_int_best"),
                      ("allreduce(int), mean", "allreduce_int")):
    ROWS += [
        (f"{_what}, tracing/checking off vs a build without hooks", _bench,
         ("instrumented", "off"), ("uninstrumented", "off")),
        (f"{_what}, tracing on vs off", _bench, ("instrumented", "trace"), ("instrumented", "off")),
        (f"{_what}, checking on vs off", _bench, ("instrumented", "check"), ("instrumented", "off")),
    ]
ROWS += [  # CPU time of local calls: the off path against no hooks at all
    (f"{what}, CPU time, tracing/checking off vs a build without hooks", bench,
     ("instrumented", "off"), ("uninstrumented", "off"))
    for what, bench in (("Isend(PROC_NULL)+Wait", "isend_wait_procnull"),
                        ("COMM_SELF.Barrier()", "self_barrier"),
                        ("Iprobe (nothing there)", "iprobe_nothing"))
]
OVERHEADS = [  # per-call tracing cost: on minus off (CPU time)
    ("Isend(PROC_NULL)+Wait (2 traced calls)", "isend_wait_procnull", 2),
    ("COMM_SELF.Barrier() (1 traced call)", "self_barrier", 1),
    ("Iprobe finding nothing (counted, not recorded)", "iprobe_nothing", 1),
]


def run(mode, rounds=None):
    cfg = MODES[mode]
    lib = uninstrumented_build()
    rounds = rounds or cfg["rounds"]
    per_round = []
    for i in range(rounds):
        order = [("instrumented", None), ("uninstrumented", lib)]
        if i % 2:
            order.reverse()
        records = []
        for label, path in order:
            t0 = time.monotonic()
            records += launch(label, cfg["params"], cfg["timeout"], path)
            log(f"round {i + 1}/{rounds}: {label} in {time.monotonic() - t0:.1f}s")
        per_round.append(records)
    return per_round


def evaluate(per_round):
    rows = []
    meds = [medians(r) for r in per_round]
    for label, bench, ours, anchor in ROWS:
        ratios = [m[(ours[0], ours[1], bench)] / m[(anchor[0], anchor[1], bench)] for m in meds
                  if (ours[0], ours[1], bench) in m and (anchor[0], anchor[1], bench) in m]
        ov = [m[(ours[0], ours[1], bench)] for m in meds if (ours[0], ours[1], bench) in m]
        av = [m[(anchor[0], anchor[1], bench)] for m in meds if (anchor[0], anchor[1], bench) in m]
        rows.append({"label": label, "anchor": statistics.median(av), "ours": statistics.median(ov),
                     "ratio": statistics.median(ratios), "range": [min(ratios), max(ratios)]})
    costs = []
    for label, bench, calls in OVERHEADS:
        diffs = [(m[("instrumented", "trace", bench)] - m[("instrumented", "off", bench)]) / calls
                 for m in meds if ("instrumented", "trace", bench) in m]
        offs = [m[("instrumented", "off", bench)] for m in meds if ("instrumented", "off", bench) in m]
        costs.append({"label": label, "off": statistics.median(offs),
                      "per_call": statistics.median(diffs), "range": [min(diffs), max(diffs)]})
    rec = [r for rs in per_round for r in rs if r["bench"] == "record_per_event"]
    return rows, costs, rec


def markdown(rows, costs, rec, command, seconds):
    m = report.machine()
    lines = [
        f"- command: `{command}` (git {report.git_revision() or '?'}, {seconds:.0f} s)",
        f"- machine: {report.machine_text(m)}, at end {os.getloadavg()[0]:.2f}",
        "- ratio = measured / anchor of the per-round medians; median over rounds (range)",
        "",
        "| comparison | anchor | measured | ratio |",
        "| --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(f"| {r['label']} | {report.fmt_time(r['anchor'])} | {report.fmt_time(r['ours'])} "
                     f"| {r['ratio']:.3f}× ({r['range'][0]:.3f}–{r['range'][1]:.3f}) |")
    lines += ["", "| traced call (CPU time) | per loop, tracing off | tracing cost per call (on − off) |",
              "| --- | --- | --- |"]
    for c in costs:
        lines.append(f"| {c['label']} | {report.fmt_time(c['off'])} | {c['per_call'] * 1e9:.0f} ns "
                     f"({c['range'][0] * 1e9:.0f} to {c['range'][1] * 1e9:.0f} ns) |")
    if rec:
        per = statistics.median(r["seconds"] for r in rec)
        lines += ["", f"Turning a full ring ({rec[0]['events']} events) into the record "
                  f"(`_trace_stop()`): {per * 1e6:.2f} µs of CPU per event."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m benchmarks.instrument")
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--rounds", type=int)
    ap.add_argument("--json")
    ap.add_argument("--markdown")
    ap.add_argument("--quiet-below", type=float, default=None,
                    help="wait (at most --max-wait s) until the 1-minute load is below this")
    ap.add_argument("--max-wait", type=float, default=1800)
    args = ap.parse_args(argv)
    if args.quiet_below is not None:
        deadline = time.monotonic() + args.max_wait
        while os.getloadavg()[0] >= args.quiet_below and time.monotonic() < deadline:
            log(f"load average {os.getloadavg()[0]:.2f} >= {args.quiet_below}: waiting")
            time.sleep(15)
    command = "python -m benchmarks.instrument " + " ".join(argv if argv is not None else sys.argv[1:])
    t0 = time.monotonic()
    per_round = run("quick" if args.quick else "full", args.rounds)
    rows, costs, rec = evaluate(per_round)
    text = markdown(rows, costs, rec, command.strip(), time.monotonic() - t0)
    print(text)
    if args.markdown:
        Path(args.markdown).write_text(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"rounds": per_round, "rows": rows, "costs": costs},
                                              indent=1))


if __name__ == "__main__":
    main()
