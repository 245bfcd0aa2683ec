"""What grows with the rank count: start-up, a cell's fan-out and merge, interrupt, stop, memory.

    python -m benchmarks.scaling [--ranks 1,2,4,8,16] [--launchers mpiexec,slurm] [--reps 5]
                                 [--json PATH] [--markdown PATH]

Each (launcher, N) runs in a fresh IPython shell process of its own (`--one`), through the
magics' Python API as a notebook would, with a hard timeout and a kill of its process group
(and a scancel of its job, which the World does itself on stop and its watchdog on our death).
Measured per world:

- start: `start_world` until all N engines are connected (for Slurm: sbatch to connected,
  queue included; this machine's Slurm has free CPUs, so the queue wait is the scheduler's
  polling, not a wait for resources);
- cell_distinct: a cell where every rank prints something different (N blocks to merge);
- cell_same: every rank prints the same line (collapsed to one block);
- cell_quiet: an allreduce with no output (the fan-out and the replies alone);
- interrupt: SIGINT to the owner while rank 0 sleeps and the others wait in a barrier, until
  the cell ended with every rank interrupted; then reset: the next cell (the collective reset);
- stop: stop_world until every process is gone (and, for Slurm, the job left the queue);
- rss: the median resident memory of one engine.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

CASES = ("start", "cell_distinct", "cell_same", "cell_quiet", "interrupt", "reset", "stop")


def one(n, launcher, reps):
    """Run in the child: one world, every measurement; returns a dict of lists of seconds."""
    from IPython.core.interactiveshell import InteractiveShell
    from IPython.utils.capture import capture_output

    from mpikernel.front import magics

    ip = InteractiveShell.instance()
    ip.run_line_magic("load_ext", "mpikernel")
    out = {c: [] for c in CASES}
    t0 = time.perf_counter()
    w = magics.start_world(n, launcher=launcher)
    out["start"].append(time.perf_counter() - t0)
    out["where"] = w.launch_note()

    def cell(code, expect=None):
        t = time.perf_counter()
        with capture_output() as cap:
            res = ip.run_cell("%%px_mpi\n" + code, store_history=False)
        dt = time.perf_counter() - t
        if expect is not None and expect not in cap.stdout:
            raise RuntimeError(f"{code!r} printed {cap.stdout[-500:]!r}, expected {expect!r}")
        return dt, res

    cell("x = 1")  # first cell: lazy imports on the ranks
    for _ in range(reps):
        out["cell_distinct"].append(cell("print(f'rank {rank} of {size}')", f"rank {n - 1} of {n}")[0])
        out["cell_same"].append(cell("print('same on every rank')", "same on every rank")[0])
        out["cell_quiet"].append(cell("_s = comm.allreduce(rank)")[0])
    for _ in range(max(1, reps // 2)):
        fired = {}

        def fire():
            fired["t"] = time.perf_counter()
            os.kill(os.getpid(), signal.SIGINT)

        timer = threading.Timer(1.0, fire)
        timer.start()
        dt, res = cell("import time\nif rank == 0:\n    time.sleep(60)\ncomm.barrier()")
        ended = time.perf_counter()
        timer.cancel()
        if "t" not in fired or res.success:
            raise RuntimeError("the interrupt did not end the cell")
        out["interrupt"].append(ended - fired["t"])
        out["reset"].append(cell("print(comm.allreduce(1))", f"{n}")[0])
    rows = w.status()
    out["rss"] = statistics.median(r["rss"] for r in rows if r["rss"])
    job = getattr(w._launch, "job", None)
    t = time.perf_counter()
    magics.stop_world()
    if job and "." not in job:
        from mpikernel.cluster.slurm import job_state

        while job_state(job) is not None and time.perf_counter() - t < 30:
            time.sleep(0.1)
    out["stop"].append(time.perf_counter() - t)
    return out


def run_one(n, launcher, reps, timeout, log):
    """The child process for one world; its records, or an error string."""
    argv = [sys.executable, "-m", "benchmarks.scaling", "--one", str(n), launcher, "--reps", str(reps)]
    root = Path(__file__).resolve().parents[1]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, cwd=root)
    try:
        stdout, stderr = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        stdout, stderr = "", f"timed out after {timeout} s"
    finally:
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        proc.wait()
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            return json.loads(line[7:]), None
    return None, f"{launcher} on {n} ranks: {stderr.strip().splitlines()[-1] if stderr.strip() else 'no result'}"


def median(xs):
    return statistics.median(xs) if xs else None


def table(results):
    """Markdown: one row per (launcher, N), medians in seconds."""
    head = ["launcher", "ranks", "start s", "cell: N distinct outputs", "cell: same output",
            "cell: no output", "interrupt s", "next cell s", "stop s", "engine RSS MB", "load"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in results:
        if r.get("error"):
            lines.append(f"| {r['launcher']} | {r['n']} | failed: {r['error'][:80]} |")
            continue
        cells = [r["launcher"], str(r["n"])]
        for c in CASES:
            m = median(r[c])
            cells.append("—" if m is None else (f"{m * 1000:.0f} ms" if c.startswith("cell") else f"{m:.2f}"))
        cells.append(f"{r['rss'] / 1e6:.0f}")
        cells.append(f"{r['load']:.0f}")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main(argv=None):
    p = argparse.ArgumentParser(prog="python -m benchmarks.scaling", description=__doc__.split("\n")[0])
    p.add_argument("--ranks", default="1,2,4,8,16")
    p.add_argument("--launchers", default="mpiexec,slurm")
    p.add_argument("--reps", type=int, default=5)
    p.add_argument("--timeout", type=float, default=400)
    p.add_argument("--json")
    p.add_argument("--markdown")
    p.add_argument("--table-from", metavar="JSON", help="only print the table of an earlier run")
    p.add_argument("--one", nargs=2, metavar=("N", "LAUNCHER"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.table_from:
        print(table(json.loads(Path(args.table_from).read_text())["results"]))
        return 0
    if args.one:
        res = one(int(args.one[0]), args.one[1], args.reps)
        print("RESULT " + json.dumps(res), flush=True)
        return 0
    results = []
    for launcher in args.launchers.split(","):
        if launcher == "slurm":
            from mpikernel.cluster.slurm import missing

            why = missing()
            if why:
                print(f"skipping slurm: {why}", file=sys.stderr)
                continue
        for n in [int(x) for x in args.ranks.split(",")]:
            t0 = time.monotonic()
            print(f"{launcher} on {n} ranks (load {os.getloadavg()[0]:.1f})…", file=sys.stderr, flush=True)
            res, err = run_one(n, launcher, args.reps, args.timeout, print)
            row = {"launcher": launcher, "n": n, "load": os.getloadavg()[0], **(res or {}), "error": err}
            results.append(row)
            print(f"  {'FAILED: ' + err if err else 'done'} in {time.monotonic() - t0:.0f} s", file=sys.stderr)
    text = table(results)
    print(text)
    if args.json:
        Path(args.json).write_text(json.dumps({"results": results, "cpus": os.cpu_count()}, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(text + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
