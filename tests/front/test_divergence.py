"""%px_diff (mpikernel/front/divergence.py): the comparison as a pure function, then on live ranks."""

from __future__ import annotations

import numpy as np
import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from mpikernel.front.divergence import diff_values, equal, group_values

pytestmark = pytest.mark.world(shell=True)


def test_the_same_everywhere():
    d = diff_values("x", {r: np.arange(3.0) for r in range(4)}, 4)
    assert d.same and d.lines == ["x is the same on every rank: array([0., 1., 2.])"]


def test_arrays_name_the_indices_and_values_that_differ():
    values = {r: np.zeros((3, 4)) for r in range(4)}
    values[2][1, 3] = 7.5
    values[3][0, 0] = np.nan
    d = diff_values("u", values, 4)
    assert not d.same and d.indices == [(0, 0), (1, 3)]
    assert d.lines[0] == "u differs at 2 of 12 elements (shape (3, 4), float64); 3 distinct arrays: ranks 0-1; rank 2; rank 3"
    assert "  [0, 0]: ranks 0-2: 0.0; rank 3: nan" in d.lines
    assert "  [1, 3]: ranks 0-1,3: 0.0; rank 2: 7.5" in d.lines


def test_nan_on_every_rank_is_not_a_difference():
    d = diff_values("u", {r: np.array([np.nan, float(r > 2)]) for r in range(4)}, 4)
    assert d.indices == [(1,)]


def test_many_differences_are_summarised():
    d = diff_values("v", {r: np.arange(1000) * (1 if r else 2) for r in range(4)}, 4)
    assert len(d.indices) == 999  # all but index 0
    assert d.lines[-2] == "  ... and 991 more; all differences lie in [1:1000]"
    assert d.lines[-1] == "  largest difference from rank 0: 999"
    assert len(d.lines) == 1 + 8 + 2


def test_arrays_of_different_shapes():
    d = diff_values("a", {0: np.zeros(3), 1: np.zeros(3), 2: np.zeros(4), 3: np.zeros(3, dtype="i")}, 4)
    assert d.lines == ["a has different shapes or dtypes across ranks:", "  ranks 0-1: shape (3,) float64",
                       "  rank 2: shape (4,) float64", "  rank 3: shape (3,) int32"]


def test_dicts_name_the_keys():
    values = {r: {"steps": 100, "dt": 0.01, "me": r // 2} for r in range(4)}
    values[3]["extra"] = True
    d = diff_values("settings", values, 4)
    assert d.keys == ["me", "extra"]
    assert d.lines[1:] == ["  key 'me': ranks 0-1: 0; ranks 2-3: 1", "  key 'extra': rank 3: True; missing on ranks 0-2",
                           "  2 other keys agree"]


def test_other_values_by_rank_range():
    d = diff_values("n", {0: 1, 1: 1, 2: 2, 3: 1}, 4)
    assert d.lines == ["n differs across ranks: 2 distinct values", "  ranks 0-1,3: 1", "  rank 2: 2"]
    assert d.groups == [([0, 1, 3], 1), ([2], 2)]


def test_missing_on_some_ranks():
    d = diff_values("t", {0: 5, 1: 5}, 4)
    assert not d.same and d.missing == [2, 3]
    assert d.lines == ["t is not defined on ranks 2-3", "t is the same on ranks 0-1: 5"]
    assert diff_values("t", {}, 2).lines == ["t is not defined on any rank"]


def test_equality_of_awkward_values():
    assert equal([np.zeros(2)], [np.zeros(2)]) and not equal([np.zeros(2)], [np.ones(2)])
    assert not equal(1, 1.0)  # int and float are different values to a person reading ranks
    assert not equal(np.zeros(2), [0.0, 0.0])
    assert group_values({0: "a", 1: "b", 2: "a"}) == [([0, 2], "a"), ([1], "b")]


# ------------------------------------------------------------------------------ live


def test_px_diff_without_a_world_says_what_to_do(shell):
    """First of the live tests: the module's world is not started yet (the fixture starts it on first use)."""
    with pytest.raises(UsageError, match="%mpi_start"):
        shell.run_line_magic("px_diff", "x")


@pytest.mark.mpi
def test_px_diff_on_the_ranks(shell, world):
    with capture_output():
        shell.run_cell("%%px_mpi\nu = np.zeros(6)\nif rank == 1:\n    u[4] = 2.0\ncfg = {'n': 4, 'who': rank}\nsame = 3")
    d = shell.run_line_magic("px_diff", "u")
    assert d.indices == [(4,)] and "  [4]: ranks 0,2-3: 0.0; rank 1: 2.0" in repr(d)
    assert shell.run_line_magic("px_diff", "cfg").keys == ["who"]
    assert shell.run_line_magic("px_diff", "same").same
    assert shell.run_line_magic("px_diff", "nowhere").lines == ["nowhere is not defined on any rank"]
    assert "<pre>" in d._repr_html_()


@pytest.mark.mpi
@pytest.mark.parametrize("line, words", [("", "name one variable"), ("a b", "name one variable"),
                                         ("a.b", "not a variable name")])
def test_px_diff_mistakes(shell, world, line, words):
    with pytest.raises(UsageError, match=words):
        shell.run_line_magic("px_diff", line)
