"""Running the tutorial notebooks with nbclient, shared by tests/course/test_notebooks.py (as
written) and tests/course/test_handout.py (as handed out: solutions removed).

`run_notebook(nb, workdir)` executes a notebook in place on its kernel spec and accounts for every
process started under it while it ran (waited for, killed if it outlives the kernel);
`kernel_specs_visible()` makes the `mpikernel-4` spec findable; the tags: `solution` (hidden
answer), `check` (an exercise's check), `raises-exception` (a deliberate failure).
"""

from __future__ import annotations

import contextlib
import os
import re
import signal
import threading
import time
from pathlib import Path

import psutil

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]-*.ipynb"))
SHIPPED_SHARE = ROOT / "share" / "jupyter"

CELL_TIMEOUT = 60  # seconds for one cell (the deliberate deadlocks end in 2-5 s)
CLEANUP_WAIT = 20  # seconds the kernel's processes get to end after shutdown

# what a deliberate deadlock's output must contain: our report of where the ranks waited (after an
# interrupt or a timeout), our deadlock explanation, or the collective-checking error
OUR_REPORT = re.compile(r"rank \d+ was .+ when|\branks? [\d,-]+ (?:each )?waits? in |collective mismatch")


def ids(paths):
    return [p.stem for p in paths]


def tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


class ProcessWatch:
    """Records every process started under this test process while a notebook runs.

    nbclient starts the kernel as our child; the kernel's World starts the controller and
    mpiexec, which starts the ranks. Sampling our descendants catches all of them; afterwards
    we wait for them to end and, if they do not, kill them (by pid) and fail the test.
    """

    def __init__(self, every=0.2):
        me = psutil.Process()
        self.before = {p.pid for p in me.children(recursive=True)}
        self.seen: dict[int, tuple[float, str]] = {}  # pid -> (create_time, name)
        self.every = every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self):
        self._thread.start()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()

    def _run(self):
        me = psutil.Process()
        while not self._stop.is_set():
            self.sample(me)
            self._stop.wait(self.every)

    def sample(self, me=None):
        try:
            procs = (me or psutil.Process()).children(recursive=True)
        except psutil.Error:
            return
        for p in procs:
            if p.pid in self.before or p.pid in self.seen:
                continue
            try:
                self.seen[p.pid] = (p.create_time(), " ".join(p.cmdline()[:4]))
            except psutil.Error:
                pass

    def alive(self) -> dict[int, str]:
        out = {}
        for pid, (created, name) in self.seen.items():
            try:
                p = psutil.Process(pid)
                if p.create_time() == created and p.status() != psutil.STATUS_ZOMBIE:
                    out[pid] = name
            except psutil.Error:
                pass
        return out

    def wait_gone(self, timeout) -> dict[int, str]:
        deadline = time.monotonic() + timeout
        while (left := self.alive()) and time.monotonic() < deadline:
            time.sleep(0.2)
        return left

    def kill(self, pids):
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass


@contextlib.contextmanager
def kernel_specs_visible():
    """Make sure mpikernel-4 is visible to nbclient (installed spec, else the shipped one)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    old = os.environ.get("JUPYTER_PATH")
    try:
        KernelSpecManager().get_kernel_spec("mpikernel-4")
    except NoSuchKernel:
        os.environ["JUPYTER_PATH"] = str(SHIPPED_SHARE) + (os.pathsep + old if old else "")
    try:
        yield
    finally:
        if old is None:
            os.environ.pop("JUPYTER_PATH", None)
        else:
            os.environ["JUPYTER_PATH"] = old


REPLY_ERROR = "mpikernel_test_error"  # metadata run_notebook leaves on a cell whose reply was an error


def error_text(cell) -> str:
    """The cell's error outputs; else the error its execute reply named. (A UsageError, such as
    %mpi_pull of a name the ranks lack, is printed to stderr, not sent as an error output.)"""
    parts = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            parts.append(f"{o.get('ename')}: {o.get('evalue')}\n" + "\n".join(o.get("traceback", [])))
    return "\n".join(parts) or cell.get("metadata", {}).get(REPLY_ERROR, "")


def _note_reply_error(cell, cell_index, execute_reply):
    content = (execute_reply or {}).get("content", {})
    if content.get("status") == "error":
        cell.metadata[REPLY_ERROR] = f"{content.get('ename')}: {content.get('evalue')}"


class NotebookFailed(Exception):
    """nbclient stopped the notebook; `left` holds processes that survived its kernel (now killed)."""

    def __init__(self, error, left):
        super().__init__(f"{error}\n(processes left after the kernel shut down: {left or 'none'})")
        self.error, self.left = error, left


def run_notebook(nb, workdir: Path, allow_errors: bool = False):
    """(seconds, processes left alive after shutdown, processes started) for one notebook.

    `nb` is executed in place. allow_errors=True runs every cell whatever fails (the handout,
    whose checks must fail); otherwise a failing cell not tagged raises-exception stops it.
    Whatever happens, every process started under us while it ran is waited for and, if still
    alive after CLEANUP_WAIT seconds, killed; an nbclient failure is raised after that as
    NotebookFailed.
    """
    from nbclient import NotebookClient

    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        startup_timeout=60,
        allow_errors=allow_errors,  # cells tagged raises-exception may (and here must) fail
        resources={"metadata": {"path": str(workdir)}},
        on_cell_executed=_note_reply_error,
    )
    error = None
    with ProcessWatch() as watch:
        t0 = time.perf_counter()
        try:
            client.execute()
        except Exception as exc:  # CellExecutionError, CellTimeoutError, DeadKernelError, ...
            error = exc
        seconds = time.perf_counter() - t0
        watch.sample()
    left = watch.wait_gone(CLEANUP_WAIT)
    watch.kill(left)
    if error is not None:
        raise NotebookFailed(error, left) from error
    return seconds, left, len(watch.seen)


def deliberate_failures_problems(nb, name: str) -> list[str]:
    """What is wrong with the cells tagged raises-exception after a run: one that did not fail,
    or a deliberate deadlock (a cell using `comm.`) whose error is not our report."""
    problems = []
    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "raises-exception" in tags(cell):
            text = error_text(cell)
            if not text:
                problems.append(f"{name} cell {index} is tagged raises-exception but did not fail")
            elif "comm." in cell.source and not OUR_REPORT.search(text):
                problems.append(f"{name} cell {index} failed without our report:\n{text}")
    return problems
