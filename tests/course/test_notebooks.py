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

import nbformat
import pytest
from notebook_runner import (CELL_TIMEOUT, NOTEBOOK_DIR, NOTEBOOKS, NotebookFailed,
                             deliberate_failures_problems, ids, kernel_specs_visible, run_notebook)
from notebook_runner import tags as _tags

pytestmark = pytest.mark.notebooks
run_marks = [pytest.mark.mpi, pytest.mark.timeout(CELL_TIMEOUT * 3)]
_ids = ids


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


@pytest.fixture(scope="module")
def kernel_specs():
    """Make sure mpikernel-4 is visible to nbclient (installed spec, else the shipped one)."""
    with kernel_specs_visible():
        yield


@pytest.mark.parametrize("path", [pytest.param(p, marks=run_marks) for p in NOTEBOOKS],
                         ids=_ids(NOTEBOOKS))
def test_notebook_runs(path, tmp_path, kernel_specs, record_property):
    nb = nbformat.read(path, as_version=4)
    seconds, left, started = run_notebook(nb, tmp_path)
    record_property("seconds", round(seconds, 1))
    print(f"{path.name}: {seconds:.1f} s, {started} processes started")

    # a deliberate deadlock must end with our report (support/notebook_runner.py: OUR_REPORT)
    problems = deliberate_failures_problems(nb, path.name)
    assert not problems, "\n".join(problems)

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
