"""Measuring a world over a long session: processes, open files and memory of the owner and ranks.

The interrupt and many-cell loops live here because test_faults.py runs them briefly and
test_long_session.py at length (a test module never imports another).
"""

import os
import signal
import threading
import time

import psutil
import pytest

from mpikernel.cells.runner import run_cell
from mpikernel.cells.screen import Screen
from mpikernel.cells.types import CellOptions, RanksInterrupted


class QuietScreen(Screen):
    """Keeps the merged output of the last cell instead of printing it."""

    def __init__(self):
        self.blocks = []

    def live(self, rank, text):
        pass

    def notice(self, text):
        pass

    def show(self, blocks):
        self.blocks = blocks

    def stdout(self):
        return "".join(f"{b.header}\n{b.payload}" for b in self.blocks if b.kind == "stdout")


def run(world, code, **options):
    """Run a cell quietly; (result, merged stdout text)."""
    screen = QuietScreen()
    result = run_cell(world, code, CellOptions(**options), screen=screen)
    return result, screen.stdout()


def fd_count(pid, samples=3, pause=0.1):
    """Open files of `pid`: the least of a few samples (a file open for a moment is not a leak)."""
    counts = []
    for i in range(samples):
        if i:
            time.sleep(pause)
        counts.append(len(os.listdir(f"/proc/{pid}/fd")))
    return min(counts)


def rss(pid):
    return psutil.Process(pid).memory_info().rss


def snapshot(world):
    """{'processes', 'owner_fds', 'rank_fds', 'owner_rss', 'rank_rss'} of a running world and its owner."""
    me = os.getpid()
    ranks = [e.pid for _, e in sorted(world.engines.items())]
    return {
        "processes": len(world.processes()),
        "owner_threads": psutil.Process(me).num_threads(),
        "owner_fds": fd_count(me),
        "rank_fds": [fd_count(p) for p in ranks],
        "owner_rss": rss(me),
        "rank_rss": [rss(p) for p in ranks],
    }


def growth(before, after):
    """The differences after - before, per key (lists element-wise, as their max)."""
    out = {}
    for k, v in before.items():
        w = after[k]
        out[k] = max(b - a for a, b in zip(v, w)) if isinstance(v, list) else w - v
    return out


def settle(seconds=0.5):
    time.sleep(seconds)


def interrupt_cycles(world, cycles):
    """`cycles` times: a cell hung in a barrier (rank 3 sleeps) is interrupted; the next allreduce
    must be right. Returns (growth of processes/fds/RSS, seconds per cycle)."""
    warm_up = 2  # the first interrupts create what later ones reuse: measure after them
    run(world, "x = comm.allreduce(rank)")
    for i in range(cycles + warm_up):
        if i == warm_up:
            settle()
            before = snapshot(world)
            t0 = time.monotonic()
        timer = threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT))
        timer.start()
        try:
            with pytest.raises(RanksInterrupted):
                run(world, "import time\nif rank == 3:\n    time.sleep(60)\ncomm.barrier()")
        finally:
            timer.cancel()
        _, out = run(world, f"print(comm.allreduce(rank + {i}))")
        assert out == f"[ranks 0-3]\n{6 + 4 * i}\n", f"cycle {i}: {out!r}"
    per_cycle = (time.monotonic() - t0) / cycles
    settle()
    after = snapshot(world)
    g = growth(before, after)
    print(f"\n{cycles} interrupt cycles: {per_cycle:.2f} s each; growth: processes {g['processes']:+d}, "
          f"owner fds {g['owner_fds']:+d}, rank fds {g['rank_fds']:+d}, owner RSS {g['owner_rss'] / 1e6:+.1f} MB, "
          f"rank RSS {g['rank_rss'] / 1e6:+.1f} MB, owner threads {g['owner_threads']:+d}")
    return g, per_cycle


def assert_no_growth(g, rss_noise):
    assert g["processes"] == 0 and g["owner_threads"] <= 0
    assert g["owner_fds"] <= 0 and g["rank_fds"] <= 0
    assert g["owner_rss"] < rss_noise and g["rank_rss"] < rss_noise


def many_cells(world, cells, k):
    """`cells` small cells; (growth, first, last) where first/last are the seconds per cell of the
    first and last `k` cells: {"wall": median wall time, "cpu": CPU time of owner + ranks per cell}.

    CPU time is what our own growth would add to (bigger caches to walk, more to copy); the wall
    time also measures what the other jobs on a shared machine take from us, so it is printed
    but the test holds the CPU time to the 20 % promise.
    """
    procs = [psutil.Process(os.getpid())] + [psutil.Process(e.pid) for _, e in sorted(world.engines.items())]

    def cpu():
        return sum(sum(p.cpu_times()[:2]) for p in procs)

    run(world, "x = 0")
    for _ in range(max(10, cells // 20)):  # warm-up: lazily made caches, sockets (ipykernel opens an
        run(world, "print(1)")  # event pipe the first time a thread prints), history
    settle()
    before = snapshot(world)
    times, cpu_marks = [], {}
    for i in range(cells):
        if i in (0, cells - k):
            cpu_marks[i] = cpu()
        t = time.perf_counter()
        _, out = run(world, "x += 1\nif x % 50 == 0:\n    print(x)")
        times.append(time.perf_counter() - t)
        if i + 1 in (k, cells):
            cpu_marks[i + 1] = cpu()
        if (i + 1) % 50 == 0:
            assert out == f"[ranks 0-3]\n{i + 1}\n"
    settle()
    after = snapshot(world)
    g = growth(before, after)
    first = {"wall": sorted(times[:k])[k // 2], "cpu": (cpu_marks[k] - cpu_marks[0]) / k}
    last = {"wall": sorted(times[-k:])[k // 2], "cpu": (cpu_marks[cells] - cpu_marks[cells - k]) / k}
    print(f"\n{cells} cells ({len(times) / sum(times):.0f} cells/s): first {k}: median {first['wall'] * 1e3:.1f} ms, "
          f"CPU {first['cpu'] * 1e3:.1f} ms/cell; last {k}: median {last['wall'] * 1e3:.1f} ms, "
          f"CPU {last['cpu'] * 1e3:.1f} ms/cell; growth: owner RSS {g['owner_rss'] / 1e6:+.1f} MB, "
          f"rank RSS {g['rank_rss'] / 1e6:+.1f} MB, owner fds {g['owner_fds']:+d}, rank fds {g['rank_fds']:+d}")
    return g, first, last
