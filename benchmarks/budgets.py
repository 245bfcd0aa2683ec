"""Wall-time budgets (`python -m benchmarks.budgets [notebooks] [flood]`): speed claims, measured
here rather than asserted by the tests, whose pass or fail must not depend on how busy the machine
is. The tests keep the behaviour (every notebook runs, a 100 MB print is cut with a note); the
time each takes is judged here against the budget the docs promise.

- notebooks: each tutorial notebook (notebooks/NN-*.ipynb) end to end with nbclient, kernel start
  included, under 60 s (tests/course/test_notebooks.py runs them without the clock).
- flood: a cell printing 100 MB on every rank of a 4-rank world, cut to 1 MB per rank, under 30 s
  (tests/cluster/test_faults.py checks the cut and the owner's memory).

Prints markdown table rows (docs/benchmarks.md, "Wall-time budgets"); exits 1 when a budget is missed.
"""

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOK_BUDGET = 60.0  # seconds for a whole notebook, kernel start included
FLOOD_BUDGET = 30.0  # seconds for print('x' * 100_000_000) on 4 ranks
CLEANUP_WAIT = 20.0  # seconds a notebook's kernel processes get to end after nbclient shut it down


class Descendants:
    """Every process started under this one, sampled whenever `sample` is called (after each cell:
    the kernel's ranks are up from its first cell on); `kill_survivors()` once the kernel is shut down."""

    def __init__(self):
        self.before = {p.pid for p in psutil.Process().children(recursive=True)}
        self.seen: set[int] = set()

    def sample(self, **_hook_arguments):
        try:
            self.seen.update(p.pid for p in psutil.Process().children(recursive=True))
        except psutil.Error:
            pass
        self.seen -= self.before

    def kill_survivors(self, wait: float) -> list[int]:
        """The pids still alive `wait` s later (now SIGKILLed): none after a clean shutdown."""
        deadline = time.monotonic() + wait
        while (left := [p for p in self.seen if psutil.pid_exists(p) and not _zombie(p)]) \
                and time.monotonic() < deadline:
            time.sleep(0.2)
        for pid in left:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return left


def _zombie(pid):
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def time_notebook(path: Path) -> float:
    """Seconds to run one notebook with nbclient (the kernel's processes gone after it, or killed)."""
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.read(path, as_version=4)
    workdir = tempfile.mkdtemp(prefix="mpikernel-budget-")  # what the notebook writes stays out of notebooks/
    procs = Descendants()
    client = NotebookClient(nb, timeout=120, startup_timeout=60, allow_errors=False,
                            resources={"metadata": {"path": workdir}}, on_cell_complete=procs.sample)
    t0 = time.perf_counter()
    try:
        client.execute()
        return time.perf_counter() - t0
    finally:
        left = procs.kill_survivors(CLEANUP_WAIT)
        shutil.rmtree(workdir, ignore_errors=True)
        if left:
            print(f"warning: {path.name} left processes {left} (killed)", file=sys.stderr)


def notebook_rows():
    shipped = str(ROOT / "share" / "jupyter")  # the mpikernel-4 spec, also without an installed one
    os.environ["JUPYTER_PATH"] = os.pathsep.join(filter(None, [shipped, os.environ.get("JUPYTER_PATH")]))
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]-*.ipynb")):
        yield f"notebook {path.stem}, kernel start included", time_notebook(path), NOTEBOOK_BUDGET


def flood_rows():
    from mpikernel.cells.runner import run_cell
    from mpikernel.cells.screen import Screen
    from mpikernel.cells.types import CellOptions
    from mpikernel.cluster.world import World

    class Kept(Screen):
        """Keeps the merged output instead of printing 4 MB of x."""

        def live(self, rank, text):
            pass

        def notice(self, text):
            pass

        def show(self, blocks):
            self.text = "".join(b.payload for b in blocks if b.kind == "stdout")

    world = World(4).start()
    try:
        screen = Kept()
        t0 = time.perf_counter()
        run_cell(world, "print('x' * 100_000_000)", CellOptions(), screen=screen)
        seconds = time.perf_counter() - t0
    finally:
        world.stop()
    assert "[output truncated" in screen.text, "the 100 MB output was not cut: not the case this budget is for"
    yield "100 MB printed on each of 4 ranks, cut to 1 MB with a note", seconds, FLOOD_BUDGET


CASES = {"notebooks": notebook_rows, "flood": flood_rows}


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.budgets", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("cases", nargs="*", metavar="|".join(CASES), help="which budgets (default: all)")
    args = parser.parse_args(argv)
    unknown = set(args.cases) - set(CASES)
    if unknown:
        parser.error(f"no such budget: {', '.join(sorted(unknown))} (choose from {', '.join(CASES)})")
    print(f"load average {os.getloadavg()[0]:.2f} at start", file=sys.stderr)
    print("| budget | measured | limit | met? |\n| --- | ---: | ---: | --- |")
    missed = 0
    for case in args.cases or CASES:
        for what, seconds, limit in CASES[case]():
            met = seconds < limit
            missed += not met
            print(f"| {what} | {seconds:.1f} s | {limit:.0f} s | {'yes' if met else '**no**'} |", flush=True)
    print(f"load average {os.getloadavg()[0]:.2f} at end", file=sys.stderr)
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
