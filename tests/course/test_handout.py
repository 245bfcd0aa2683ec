"""The course as handed out: every notebook with exercises runs with its `solution` cells removed
(the handout of notebooks/README.md), as a student who has not answered yet would run it.

Then every exercise check (cells tagged `check`) must fail: a check that passes without its
solution proves nothing (a ring check satisfied by `left = (rank - 1) % size` computed without a
message, a mean that can be typed in). Every other cell must still run (cells after an exercise
never depend on its solution), and the deliberate failures (tagged `raises-exception`) must still
fail with our report; the ones also tagged `hints-off` (an exercise about the fix) must not give
the fix away. The runner is the one of tests/course/test_notebooks.py (tests/support/notebook_runner.py).

Faked answers (the expected value computed without a message, or typed in) must fail their checks
too: `test_faked_answers_fail_their_checks` runs several after their exercises' set-up in one kernel.

This doubles the notebooks' time in CI; each run's seconds are printed and recorded.
"""

from __future__ import annotations

import copy

import nbformat
import pytest
from notebook_runner import (CELL_TIMEOUT, NOTEBOOKS, deliberate_failures_problems, error_text, ids,
                             kernel_specs_visible, run_notebook, tags)

pytestmark = pytest.mark.notebooks
run_marks = [pytest.mark.mpi, pytest.mark.timeout(CELL_TIMEOUT * 3)]

WITH_EXERCISES = [p for p in NOTEBOOKS
                  if any("solution" in tags(c) for c in nbformat.read(p, as_version=4).cells)]
REVISED = {f"{n:02d}" for n in range(1, 9)}  # 01-08: two or three exercises and a stretch goal each
FIX_WORDS = ("Sendrecv", "order the calls", "must be called", "must call", "check the source")


def handout(nb):
    """A copy of `nb` without its solution cells."""
    out = copy.deepcopy(nb)
    out.cells = [c for c in out.cells if "solution" not in tags(c)]
    return out


def test_the_course_has_exercises():
    assert len(WITH_EXERCISES) >= 8, [p.name for p in WITH_EXERCISES]


@pytest.mark.parametrize("path", WITH_EXERCISES, ids=ids(WITH_EXERCISES))
def test_every_solution_has_a_check_after_it(path):
    """Each exercise: an answer cell, its hidden solution, then a check cell tagged `check`."""
    cells = nbformat.read(path, as_version=4).cells
    code = [c for c in cells if c.cell_type == "code"]
    kinds = ["solution" if "solution" in tags(c) else "check" if "check" in tags(c) else "" for c in code]
    checks = kinds.count("check")
    assert checks >= 1, f"{path.name}: no cell tagged check"
    if path.name[:2] in REVISED:
        assert checks >= 3, f"{path.name}: {checks} checks; the course asks 2-3 exercises and a stretch goal"
    for i, kind in enumerate(kinds):
        if kind == "solution":
            after = [k for k in kinds[i + 1:] if k and k != "solution"]  # a solution may take 2 cells
            assert after and after[0] == "check", f"{path.name}: solution cell {i} has no check after it"
    for c in code:
        if "check" in tags(c):
            assert "solution" not in tags(c) and "raises-exception" not in tags(c), c.source


@pytest.mark.parametrize("path", [pytest.param(p, marks=run_marks) for p in WITH_EXERCISES],
                         ids=ids(WITH_EXERCISES))
def test_handout_runs_and_its_checks_fail(path, tmp_path, record_property):
    nb = handout(nbformat.read(path, as_version=4))
    with kernel_specs_visible():
        seconds, left, started = run_notebook(nb, tmp_path, allow_errors=True)
    record_property("seconds", round(seconds, 1))
    print(f"{path.name} handout: {seconds:.1f} s, {started} processes started")

    problems = deliberate_failures_problems(nb, path.name)
    for index, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        text, kind = error_text(cell), tags(cell)
        if "check" in kind and not text:
            problems.append(f"{path.name} cell {index}: this check passes without its solution:\n{cell.source}")
        elif not kind & {"check", "raises-exception"} and text:
            problems.append(f"{path.name} cell {index} fails in the handout (does it use a solution?):\n"
                            f"{cell.source}\n{text[-1500:]}")
        if "hints-off" in kind and any(w in text for w in FIX_WORDS):
            problems.append(f"{path.name} cell {index}: the report gives the fix away:\n{text[-1500:]}")
    assert not problems, "\n\n".join(problems)
    assert not left, f"{path.name} left processes running after the kernel shut down: {left}"
    assert started >= 5, f"only {started} processes seen under the kernel: the process check is not working"


# Faked answers: each computes the expected value without a message (the fakes the old checks
# accepted, or a typed number); each must fail its check. name -> (notebook, fake answer, what
# earlier cells the exercises' set-up needs).
FAKES = {
    "02 ring": ("02", "left_token = (rank - 1) % size", None),
    "03 mean": ("03", "mean = 20.5", None),
    "06 pi": ("06", "pi_all = 3.14159", "def count_hits"),
    "08 ring": ("08", "ring_left = (rank - 1) % size", None),
}


def _fake_cells(prefix, fake, prelude):
    """The exercises' set-up cells of notebook `prefix`, the fake answer, and its check."""
    from nbformat import v4

    path = next(p for p in NOTEBOOKS if p.name.startswith(prefix))
    nb = nbformat.read(path, as_version=4)
    name = fake.split("=")[0].strip()
    start = next(i for i, c in enumerate(nb.cells) if c.cell_type == "markdown" and "## Exercises" in c.source)
    check = next(c for c in nb.cells[start:] if "check" in tags(c) and name in c.source)
    setup = [c for c in nb.cells[start:nb.cells.index(check)] if c.cell_type == "code"
             and not tags(c) & {"solution", "raises-exception", "check"} and "your answer" not in c.source]
    before = [c for c in nb.cells if prelude and prelude in c.source]
    return nb.metadata, [*before, *setup, v4.new_code_cell(fake), copy.deepcopy(check)]


@pytest.mark.mpi
@pytest.mark.timeout(CELL_TIMEOUT * 3)
def test_faked_answers_fail_their_checks(tmp_path):
    """One kernel runs every fake after its notebook's exercise set-up: each check must fail."""
    from nbformat import v4

    nb, checks = v4.new_notebook(), {}
    for label, (prefix, fake, prelude) in FAKES.items():
        metadata, cells = _fake_cells(prefix, fake, prelude)
        assert metadata["kernelspec"]["name"] == "mpikernel-4", label
        nb.metadata = metadata
        nb.cells += cells
        checks[label] = cells[-1]
    with kernel_specs_visible():
        seconds, left, _ = run_notebook(nb, tmp_path, allow_errors=True)
    print(f"faked answers: {seconds:.1f} s")
    passed = [label for label, cell in checks.items() if not error_text(cell)]
    assert not passed, f"checks accept a faked answer: {passed}"
    others = [c.source for c in nb.cells if c not in checks.values() and error_text(c)]
    assert not others, f"set-up cells failed, so the fakes prove nothing: {others}"
    assert not left, left
