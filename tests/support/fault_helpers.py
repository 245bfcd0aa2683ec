"""Measuring a world over a long session: processes, open files and memory of the owner and ranks."""

import os
import time

import psutil

from mpikernel.cells.runner import CellOptions, Screen, run_cell


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
