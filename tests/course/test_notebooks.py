"""The tutorial notebooks in notebooks/ run top to bottom with nbclient, as a student would run them.

Notebooks 01-06 run on the kernel spec `mpikernel-4` ("MPI (4 ranks)"), 07 on `python3` with
`%load_ext mpikernel`. A notebook fails the test when any cell raises, except the cells tagged
`raises-exception` (the deliberate deadlocks of 02 and the mistakes of 08), which must raise and
must show our report.
Every notebook checks its own results with asserts, so a wrong answer is an error here too.

Also checked: the notebooks are stored without outputs, and no process the kernel started
(controller, mpiexec, ranks) is left behind once nbclient has shut the kernel down. How long each
takes is printed here; the promise that each runs in under a minute is a benchmark
(`python -m benchmarks.budgets notebooks`, docs/benchmarks.md), not a test that a busy machine fails.

Every test here is marked `notebooks` (registered in pyproject.toml): `pytest -m notebooks` runs
just these, `pytest -m "not notebooks"` skips them. Running the seven notebooks takes about two
minutes on a 2-core machine; those runs are also marked `mpi`.

The `mpikernel-4` spec is the one installed with the package (`<prefix>/share/jupyter/kernels`).
If it is not installed (an editable install does not copy data files), the spec shipped in the
source tree's share/jupyter is used instead, through JUPYTER_PATH.
"""

from __future__ import annotations

import os
import re
import signal
import threading
import time
from pathlib import Path

import nbformat
import psutil
import pytest

ROOT = Path(__file__).resolve().parents[2]
NOTEBOOK_DIR = ROOT / "notebooks"
NOTEBOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]-*.ipynb"))
SHIPPED_SHARE = ROOT / "share" / "jupyter"

CELL_TIMEOUT = 60  # seconds for one cell (the deliberate deadlocks end in 2-5 s)
CLEANUP_WAIT = 20  # seconds the kernel's processes get to end after shutdown

pytestmark = pytest.mark.notebooks
run_marks = [pytest.mark.mpi, pytest.mark.timeout(CELL_TIMEOUT * 3)]


def _ids(paths):
    return [p.stem for p in paths]


def _tags(cell) -> set[str]:
    return set(cell.get("metadata", {}).get("tags", []))


def test_there_is_a_course():
    assert len(NOTEBOOKS) >= 7, [p.name for p in NOTEBOOKS]
    readme = (NOTEBOOK_DIR / "README.md").read_text()
    for path in NOTEBOOKS:
        assert path.name in readme, f"notebooks/README.md does not list {path.name}"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_stored_without_outputs(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    dirty = [i for i, c in enumerate(nb.cells) if c.cell_type == "code"
             and (c.get("outputs") or c.get("execution_count") is not None)]
    assert not dirty, (f"{path.name}: cells {dirty} have outputs or execution counts; clear them "
                       "(jupyter nbconvert --clear-output --inplace) before committing")


@pytest.mark.parametrize("path", NOTEBOOKS, ids=_ids(NOTEBOOKS))
def test_notebook_shape(path):
    """A known kernel, an exercise with a hidden solution, and intentional errors tagged."""
    nb = nbformat.read(path, as_version=4)
    kernel = nb.metadata.get("kernelspec", {}).get("name")
    assert kernel in ("mpikernel-4", "python3"), kernel
    code = [c for c in nb.cells if c.cell_type == "code"]
    solutions = [c for c in code if "solution" in _tags(c)]
    assert solutions, f"{path.name} has no solution cell (tag 'solution')"
    for cell in solutions:
        assert cell.metadata.get("jupyter", {}).get("source_hidden") is True, \
            f"{path.name}: a solution cell is not hidden by default"
    assert any("assert" in c.source for c in code), f"{path.name} checks nothing"
    assert any("Exercise" in c.source for c in nb.cells if c.cell_type == "markdown")


# ------------------------------------------------------------------------- running them


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


@pytest.fixture(scope="module")
def kernel_specs():
    """Make sure mpikernel-4 is visible to nbclient (installed spec, else the shipped one)."""
    from jupyter_client.kernelspec import KernelSpecManager, NoSuchKernel

    old = os.environ.get("JUPYTER_PATH")
    try:
        KernelSpecManager().get_kernel_spec("mpikernel-4")
    except NoSuchKernel:
        os.environ["JUPYTER_PATH"] = str(SHIPPED_SHARE) + (os.pathsep + old if old else "")
    yield
    if old is None:
        os.environ.pop("JUPYTER_PATH", None)
    else:
        os.environ["JUPYTER_PATH"] = old


def _error_text(cell) -> str:
    parts = []
    for o in cell.get("outputs", []):
        if o.get("output_type") == "error":
            parts.append(f"{o.get('ename')}: {o.get('evalue')}\n" + "\n".join(o.get("traceback", [])))
    return "\n".join(parts)


class NotebookFailed(Exception):
    """nbclient stopped the notebook; `left` holds processes that survived its kernel (now killed)."""

    def __init__(self, error, left):
        super().__init__(f"{error}\n(processes left after the kernel shut down: {left or 'none'})")
        self.error, self.left = error, left


def run_notebook(nb, workdir: Path):
    """(seconds, processes left alive after shutdown, processes started) for one notebook.

    `nb` is executed in place. Whatever happens, every process started under us while it ran
    is waited for and, if still alive after CLEANUP_WAIT seconds, killed; an nbclient failure
    is raised after that as NotebookFailed.
    """
    from nbclient import NotebookClient

    client = NotebookClient(
        nb,
        timeout=CELL_TIMEOUT,
        startup_timeout=60,
        allow_errors=False,  # cells tagged raises-exception may (and here must) fail
        resources={"metadata": {"path": str(workdir)}},
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


@pytest.mark.parametrize("path", [pytest.param(p, marks=run_marks) for p in NOTEBOOKS],
                         ids=_ids(NOTEBOOKS))
def test_notebook_runs(path, tmp_path, kernel_specs, record_property):
    nb = nbformat.read(path, as_version=4)
    seconds, left, started = run_notebook(nb, tmp_path)
    record_property("seconds", round(seconds, 1))
    print(f"{path.name}: {seconds:.1f} s, {started} processes started")

    for index, cell in enumerate(nb.cells):
        if cell.cell_type == "code" and "raises-exception" in _tags(cell):
            text = _error_text(cell)
            assert text, f"{path.name} cell {index} is tagged raises-exception but did not fail"
            # a deliberate deadlock must end with our report of where the ranks waited (after an
            # interrupt or a timeout), our deadlock explanation, or the collective-checking error
            if "comm." in cell.source:
                assert re.search(r"rank \d+ was .+ when|\branks? [\d,-]+ (?:each )?waits? in "
                                 r"|collective mismatch", text), text

    assert not left, f"{path.name} left processes running after the kernel shut down: {left}"
    # the kernel and its 4 ranks at least: otherwise the process check above proves nothing
    assert started >= 5, f"only {started} processes seen under the kernel: the process check is not working"


@pytest.mark.mpi
@pytest.mark.timeout(CELL_TIMEOUT * 2)
def test_a_wrong_result_fails_the_run(tmp_path, kernel_specs):
    """The runner can fail: an assert that is false on one rank stops the notebook, with the
    rank's error in the report, and the kernel's processes are still cleaned up."""
    from nbformat import v4

    nb = v4.new_notebook(metadata={"kernelspec": {"name": "mpikernel-4", "display_name": "MPI (4 ranks)",
                                                  "language": "python"}})
    nb.cells = [v4.new_code_cell("total = comm.allreduce(rank)\nassert total == 6"),
                v4.new_code_cell("assert rank != 2, 'rank 2 got a wrong answer'"),
                v4.new_code_cell("print('never reached')")]
    with pytest.raises(NotebookFailed) as failed:
        run_notebook(nb, tmp_path)
    assert "rank 2 got a wrong answer" in str(failed.value.error)
    assert not failed.value.left, failed.value.left
    assert not any(o.get("output_type") == "error" for o in nb.cells[0].outputs)
    assert not nb.cells[2].get("outputs"), "nbclient went on after the failing cell"
