"""merge.settle: a rank's clears and display updates applied as a notebook applies them (pure),
and the error type named after the rank's exception (cells/types.py)."""

import pytest

from mpikernel.cells.merge import (
    Block, ErrorGroup, RankError, RankOutput, labelled_results, merge_outputs, other_errors_lines, settle,
)
from mpikernel.cells.types import RanksError, ranks_error, ranks_error_class


def clear(wait, stdout=0, stderr=0):
    return {"data": {}, "metadata": {}, "transient": {"mpikernel": {"op": "clear", "wait": wait,
                                                                    "stdout": stdout, "stderr": stderr}}}


def shown(text, did=None):
    return {"data": {"text/plain": text}, "metadata": {}, "transient": {"display_id": did} if did else {}}


def update(text, did):
    return {"data": {"text/plain": text}, "metadata": {},
            "transient": {"display_id": did, "mpikernel": {"op": "update"}}}


def test_a_clear_removes_text_and_displays_before_it():
    o = settle(RankOutput(0, stdout="old\nnew\n", displays=[shown("a"), clear(False, stdout=4), shown("b")]))
    assert (o.stdout, [d["data"]["text/plain"] for d in o.displays], o.cleared) == ("new\n", ["b"], "now")


def test_a_waiting_clear_acts_only_when_something_follows():
    loop = RankOutput(0, stdout="0\n1\n2\n", displays=[clear(True, 0), clear(True, 2), clear(True, 4)])
    assert settle(loop).stdout == "2\n" and settle(loop).cleared == "wait"
    at_end = RankOutput(0, stdout="kept\n", displays=[shown("kept"), clear(True, stdout=5)])
    o = settle(at_end)
    assert (o.stdout, len(o.displays), o.cleared) == ("kept\n", 1, None)


def test_updates_replace_their_display_in_place_or_wait_for_an_earlier_cells():
    o = settle(RankOutput(0, displays=[shown("0%", "p"), shown("other"), update("50%", "p"), update("100%", "p"),
                                       update("x", "from-before"), update("y", "from-before")]))
    assert [d["data"]["text/plain"] for d in o.displays] == ["100%", "other"]
    assert o.displays[0]["transient"] == {"display_id": "p"}
    assert [u["data"]["text/plain"] for u in o.updates] == ["y"]


def test_merged_blocks_clear_first_and_updates_last():
    outs = [RankOutput(r, stdout="s\n", displays=[clear(False), update("u", "d")]) for r in range(2)]
    kinds = [(b.kind, b.ranks) for b in merge_outputs(outs)]
    assert kinds == [("clear", [0, 1]), ("stdout", [0, 1]), ("update", [0, 1])]
    assert merge_outputs(outs)[-1].payload["transient"] == {"display_id": "d"}


def test_labelled_results_and_the_other_errors_line():
    blocks = [Block("result", [0], {"data": {"text/plain": "0"}}), Block("result", [1, 2], {"data": {"text/plain": "5"}})]
    assert labelled_results(blocks) == "[rank 0]\n0\n[ranks 1-2]\n5"
    groups = [ErrorGroup([2], RankError("ZeroDivisionError", "division by zero")), ErrorGroup([3], RankError("KeyError", "'k'"))]
    assert other_errors_lines(groups) == ["", "other errors: rank 3 raised KeyError: 'k'"]
    assert other_errors_lines(groups[:1]) == []


def test_the_error_is_a_ranks_error_named_after_the_rank_exception():
    err = ranks_error(None, ["tb"], "rank 2 raised ZeroDivisionError: division by zero", "ZeroDivisionError", "division by zero")
    assert isinstance(err, RanksError) and isinstance(err, ZeroDivisionError)
    assert (type(err).__name__, err.ename, str(err)) == ("ZeroDivisionError", "ZeroDivisionError", "division by zero")
    assert err.summary.startswith("rank 2 raised") and err._render_traceback_() == ["tb"]
    with pytest.raises(KeyError):
        raise ranks_error(None, [], "s", "KeyError", "'k'")
    custom = ranks_error_class("Boom")
    assert custom.__name__ == "Boom" and custom.__mro__[1:3] == (RanksError, Exception)
    assert ranks_error_class("Boom") is custom  # made once
    assert ranks_error_class("UnicodeDecodeError").__mro__[1] is RanksError  # not mixed: 5-argument constructor
    assert not issubclass(ranks_error_class("KeyboardInterrupt"), KeyboardInterrupt)
    assert ranks_error_class("not a name") is RanksError
