"""The notebook-layer benchmarks: one IPython shell drives either ipyparallel or mpikernel.

    python notebook_prog.py --impl ipyparallel|mpikernel --ranks 4 --config JSON --out FILE

Both sides run their cells through their own magic in the same kind of IPython shell (what a
notebook kernel does): ipyparallel's anchor is ``ipp.Cluster(engines="mpi", n=N)`` with ``%%px``
and mpi4py on the engines; ours is ``%mpi_start`` with ``%%px_mpi``. Results go to --out as JSON
lines; the processes each side starts are listed in FILE.pids so the harness can kill their
process groups if this program hangs.
"""

import argparse
import json
import os
import signal
import sys
import threading
import time

import numpy as np

perf_counter = time.perf_counter


class Recorder:
    def __init__(self, path):
        self.path = path

    def __call__(self, case, samples, unit, **extra):
        with open(self.path, "a") as f:
            f.write(json.dumps({"case": case, "unit": unit, "samples": list(samples), **extra}) + "\n")


def shell_instance():
    from IPython.core.interactiveshell import InteractiveShell

    return InteractiveShell.instance()


def run_cell(shell, magic, code, expect=None):
    """Run one cell through `magic`; return (seconds, captured stdout). Raise if it failed."""
    from IPython.utils.capture import capture_output

    t0 = perf_counter()
    with capture_output() as cap:
        result = shell.run_cell(f"{magic}\n{code}", store_history=False)
    dt = perf_counter() - t0
    if not result.success:
        raise RuntimeError(f"cell failed: {code!r}\n{cap.stdout[-2000:]}\n{cap.stderr[-2000:]}")
    if expect is not None:
        missing = [e for e in expect if e not in cap.stdout]
        if missing:
            raise RuntimeError(f"cell {code!r} printed {cap.stdout[-1000:]!r}, missing {missing}")
    return dt, cap.stdout


class IPyParallelSide:
    """The anchor: ipyparallel's own MPI cluster and its %%px magic, mpi4py on the engines."""

    magic = "%%px"
    first_cell = "from mpi4py import MPI\ncomm = MPI.COMM_WORLD\nrank, size = comm.rank, comm.size\nprint(rank)"

    def __init__(self, shell, pidfile):
        self.shell, self.pidfile, self.cluster, self.rc = shell, pidfile, None, None

    def start(self, n):
        import ipyparallel as ipp

        self.cluster = ipp.Cluster(engines="mpi", n=n, log_level=40)
        self.rc = self.cluster.start_and_connect_sync(activate=True)
        self.record_pids()
        self.view = self.rc[:]

    def record_pids(self):
        pids = []
        ctl = getattr(self.cluster, "controller", None)
        if ctl is not None and getattr(ctl, "pid", None):
            pids.append(ctl.pid)
        for launcher in (self.cluster.engines or {}).values():
            if getattr(launcher, "pid", None):
                pids.append(launcher.pid)
        with open(self.pidfile, "a") as f:
            f.write("".join(f"{p}\n" for p in pids))

    def push_pull(self, name, array):
        self.view.push({name: array}, block=True)
        return self.view.pull(name, block=True)

    def interrupt(self):
        """What a user of ipyparallel can do: signal the engines (through the MPI launcher)."""
        self.cluster.signal_engines_sync(signal.SIGINT)

    def stop(self):
        if self.cluster is not None:
            try:
                self.rc.close()
            except Exception:  # noqa: BLE001 - stopping anyway
                pass
            self.cluster.stop_cluster_sync()


class MPIKernelSide:
    """Ours: %load_ext mpikernel, %mpi_start N, %%px_mpi (MPI, comm, rank, size predefined)."""

    magic = "%%px_mpi"
    first_cell = "print(rank)"

    def __init__(self, shell, pidfile):
        self.shell, self.pidfile = shell, pidfile

    def start(self, n):
        self.shell.run_line_magic("load_ext", "mpikernel")
        self.shell.run_line_magic("mpi_start", f"-n {n}")
        from mpikernel.front import magics

        self.world = magics.current_world()
        with open(self.pidfile, "a") as f:
            f.write("".join(f"{p}\n" for p in self.world.processes()))

    def push_pull(self, name, array):
        self.world.push({name: array})
        return self.world.pull(name)

    def interrupt(self):
        self.world.interrupt()

    def stop(self):
        try:
            self.shell.run_line_magic("mpi_stop", "")
        except Exception:  # noqa: BLE001
            pass


def record_descendants(pidfile):
    """List every process this one started (they lose their parent link once we exit)."""
    import psutil

    pids = [p.pid for p in psutil.Process().children(recursive=True)]
    with open(pidfile, "a") as f:
        f.write("".join(f"{p}\n" for p in pids))


SIDES = {"ipyparallel": IPyParallelSide, "mpikernel": MPIKernelSide}


def case_cells(side, rec, cfg, n):
    expect = [str(r) for r in range(n)]
    for name, code in (("cell_print", "print(rank)"),
                       ("cell_allreduce", "total = comm.allreduce(rank)\nprint(total)")):
        run_cell(side.shell, side.magic, code)
        samples = [run_cell(side.shell, side.magic, code, expect=expect if name == "cell_print" else None)[0]
                   for _ in range(cfg["reps"])]
        rec(name, samples, "s", ranks=n)


def case_push_pull(side, rec, cfg, n):
    nbytes = cfg["nbytes"]
    array = np.arange(nbytes // 8, dtype=np.float64)
    samples = []
    for _ in range(cfg["reps"]):
        t0 = perf_counter()
        pulled = list(side.push_pull("bench_data", array))
        samples.append(perf_counter() - t0)
    if len(pulled) != n or any(p.shape != array.shape or p[-1] != array[-1] for p in pulled):
        raise RuntimeError("push/pull returned the wrong data")
    rec("push_pull", samples, "s", nbytes=nbytes, ranks=n)


def case_interrupt(side, rec, cfg, n):
    """A cell hangs in a barrier rank 0 never enters; we interrupt it and time until the next
    cell has printed on every rank. The interrupt is what a notebook does: SIGINT to the process
    running the magic (the kernel), then the side's own way to stop the engines' work."""
    bound = cfg["bound"]
    hung = "if rank != 0:\n    comm.barrier()"
    sent = {}

    def interrupt_kernel():
        sent["t"] = perf_counter()
        os.kill(os.getpid(), signal.SIGINT)

    signal.signal(signal.SIGINT, signal.default_int_handler)
    timer = threading.Timer(cfg["delay"], interrupt_kernel)
    timer.start()
    outcome = {"magic_returned": None, "next_cell": None}
    try:
        t0 = perf_counter()
        side.shell.run_cell(f"{side.magic}\n{hung}", store_history=False)
        outcome["magic_returned"] = perf_counter() - t0
    except KeyboardInterrupt:
        outcome["magic_returned"] = perf_counter() - t0
    timer.join()
    if isinstance(side, IPyParallelSide):
        side.interrupt()  # ipyparallel's %%px does not signal engines by itself
    done = threading.Event()
    result = {}

    def next_cell():
        try:
            result["out"] = run_cell(side.shell, side.magic, "print('next', rank)")
        except BaseException as exc:  # noqa: BLE001 - reported below
            result["error"] = repr(exc)
        done.set()

    worker = threading.Thread(target=next_cell, daemon=True)
    worker.start()
    finished = done.wait(bound)
    latency = perf_counter() - sent["t"] if finished and "out" in result else None
    ok = latency is not None and all(f"next {r}" in result["out"][1] for r in range(n))
    rec("interrupt", [latency] if ok else [], "s", bound=bound, ranks=n,
        error=result.get("error"), finished=finished, magic_returned=outcome["magic_returned"])
    return ok


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--impl", required=True, choices=sorted(SIDES))
    parser.add_argument("--ranks", type=int, default=4)
    parser.add_argument("--config", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args(argv)
    cfg = json.loads(args.config)
    rec = Recorder(args.out)
    shell = shell_instance()
    side = SIDES[args.impl](shell, args.out + ".pids")
    clean = True
    try:
        t0 = perf_counter()
        side.start(args.ranks)
        t_started = perf_counter() - t0
        run_cell(shell, side.magic, side.first_cell, expect=[str(r) for r in range(args.ranks)])
        rec("cold_start", [perf_counter() - t0], "s", ranks=args.ranks, started=t_started)
        for name, params in cfg["cases"]:
            if name == "cells":
                case_cells(side, rec, params, args.ranks)
            elif name == "push_pull":
                case_push_pull(side, rec, params, args.ranks)
            elif name == "interrupt":
                clean = case_interrupt(side, rec, params, args.ranks)
            else:
                raise SystemExit(f"unknown case {name}")
    finally:
        if clean:
            side.stop()
        else:
            record_descendants(args.out + ".pids")
            os._exit(0)  # engines stuck in MPI: the harness kills what we list
    sys.stdout.flush()


if __name__ == "__main__":
    main()
