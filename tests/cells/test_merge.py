"""Merging per-rank outputs (mpikernel.cells.merge): pure functions, no MPI needed."""

import pytest
from hypothesis import given, strategies as st

from mpikernel.cells import merge as output
from mpikernel.cells.merge import (
    RankError,
    RankOutput,
    busy_summary,
    deadlock_note,
    describe_call,
    describe_where,
    error_summary,
    group_errors,
    group_identical,
    merge_outputs,
    normalize_traceback_line,
    render_errors,
    render_text,
)
from mpikernel.notation import parse_ranks, rank_header, rank_ranges


@pytest.mark.parametrize(
    "ranks, header",
    [
        ([2], "[rank 2]"),
        ([0, 1, 2, 3], "[ranks 0-3]"),
        ([0, 2, 5, 6, 7], "[ranks 0,2,5-7]"),
        ([3, 1, 1, 0], "[ranks 0-1,3]"),
        ([4, 5], "[ranks 4-5]"),
    ],
)
def test_headers_use_the_design_forms(ranks, header):
    assert rank_header(ranks) == header


def test_empty_rank_list_is_an_error():
    with pytest.raises(ValueError):
        rank_ranges([])


@given(st.sets(st.integers(0, 64), min_size=1))
def test_ranges_round_trip_through_the_parser(ranks):
    assert parse_ranks(rank_ranges(ranks)) == sorted(ranks)


@pytest.mark.parametrize("text, ranks", [("0,2-3", [0, 2, 3]), ("3", [3]), (" 1 , 0 ", [0, 1]), ("0-0", [0])])
def test_parse_ranks(text, ranks):
    assert parse_ranks(text, size=4) == ranks


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "no ranks"),
        ("a", "not a rank"),
        ("1;2", "not a rank"),
        ("__import__('os')", "not a rank"),
        ("3-1", "backwards"),
        ("-1", "not a rank"),
        ("7", "rank 7 does not exist: this world has 4 ranks (0-3)"),
        ("2-5", "ranks 4-5 do not exist"),
    ],
)
def test_parse_ranks_rejects_with_a_sentence(text, words):
    with pytest.raises(ValueError, match=words.replace("(", r"\(").replace(")", r"\)")):
        parse_ranks(text, size=4)


def test_parse_ranks_in_a_one_rank_world():
    with pytest.raises(ValueError, match=r"this world has 1 rank \(0\)"):
        parse_ranks("1", size=1)


def test_group_identical_groups_unhashable_values_too():
    values = {0: [1, 2], 1: "x", 2: [1, 2], 3: {"a": 1}, 4: "x", 5: {"a": 1}, 6: [2]}
    assert group_identical(values) == [([0, 2], [1, 2]), ([1, 4], "x"), ([3, 5], {"a": 1}), ([6], [2])]


def test_group_identical_keeps_rank_order_and_can_be_switched_off():
    values = {3: "a", 0: "b", 1: "a", 2: "b"}
    assert group_identical(values) == [([0, 2], "b"), ([1, 3], "a")]
    assert group_identical(values, collapse=False) == [([0], "b"), ([1], "a"), ([2], "b"), ([3], "a")]


def test_identical_stdout_collapses_under_one_header():
    outs = [RankOutput(r, stdout="hello\n") for r in range(4)]
    blocks = merge_outputs(outs)
    assert render_text(blocks, "stdout") == "[ranks 0-3]\nhello\n"


def test_different_stdout_is_shown_per_rank_in_rank_order():
    outs = [RankOutput(r, stdout=f"{r}\n") for r in (3, 1, 0, 2)]
    assert render_text(merge_outputs(outs), "stdout") == "[rank 0]\n0\n[rank 1]\n1\n[rank 2]\n2\n[rank 3]\n3\n"


def test_partly_identical_stdout_and_no_collapse():
    outs = [RankOutput(0, stdout="x"), RankOutput(1, stdout="y\n"), RankOutput(2, stdout="x"), RankOutput(3)]
    assert render_text(merge_outputs(outs), "stdout") == "[ranks 0,2]\nx\n[rank 1]\ny\n"
    assert render_text(merge_outputs(outs, collapse=False), "stdout") == "[rank 0]\nx\n[rank 1]\ny\n[rank 2]\nx\n"


def test_stderr_is_merged_separately_from_stdout():
    outs = [RankOutput(r, stdout="same\n", stderr=f"warn {r % 2}\n") for r in range(4)]
    blocks = merge_outputs(outs)
    assert render_text(blocks, "stdout") == "[ranks 0-3]\nsame\n"
    assert render_text(blocks, "stderr") == "[ranks 0,2]\nwarn 0\n[ranks 1,3]\nwarn 1\n"


def _png(n):
    return {"data": {"image/png": f"PNG{n}", "text/plain": "<Figure>"}, "metadata": {"image/png": {"width": 10}}}


def test_rich_outputs_are_labelled_per_rank_when_they_differ():
    outs = [RankOutput(r, displays=[_png(r)]) for r in range(3)]
    blocks = [b for b in merge_outputs(outs) if b.kind == "display"]
    assert [(b.ranks, b.payload["data"]["image/png"]) for b in blocks] == [([0], "PNG0"), ([1], "PNG1"), ([2], "PNG2")]
    assert blocks[0].payload["metadata"] == {"image/png": {"width": 10}}


def test_identical_rich_outputs_collapse():
    html = {"data": {"text/html": "<b>hi</b>", "text/plain": "hi"}, "metadata": {}}
    outs = [RankOutput(r, displays=[html]) for r in range(4)]
    blocks = [b for b in merge_outputs(outs) if b.kind == "display"]
    assert len(blocks) == 1 and blocks[0].header == "[ranks 0-3]"


def test_execute_results_grouped():
    outs = [RankOutput(r, result={"data": {"text/plain": str(r // 2)}}) for r in range(4)]
    blocks = [b for b in merge_outputs(outs) if b.kind == "result"]
    assert [(b.header, b.payload["data"]["text/plain"]) for b in blocks] == [("[ranks 0-1]", "0"), ("[ranks 2-3]", "1")]


def _tb(cell_no, line=2):
    return [
        "\x1b[31m---------------------------------------------------------------------------\x1b[39m",
        "\x1b[31mZeroDivisionError\x1b[39m                         Traceback (most recent call last)",
        f"\x1b[36mCell\x1b[39m\x1b[36m \x1b[39m\x1b[32mIn[{cell_no}]\x1b[39m, \x1b[32mline {line}\x1b[39m\n      1 x = 1\n----> 2 1/0\n",
        "\x1b[31mZeroDivisionError\x1b[39m: division by zero",
    ]


def test_errors_grouped_once_per_distinct_traceback_even_with_different_cell_numbers():
    outs = [
        RankOutput(0),
        RankOutput(1, error=RankError("ZeroDivisionError", "division by zero", _tb(3))),
        RankOutput(2, error=RankError("ZeroDivisionError", "division by zero", _tb(7))),
        RankOutput(3, error=RankError("ValueError", "bad", ["ValueError: bad"])),
    ]
    groups = group_errors(outs)
    assert [(g.ranks, g.error.ename) for g in groups] == [([1, 2], "ZeroDivisionError"), ([3], "ValueError")]
    lines = render_errors(groups, cell_label="12")
    assert lines[0] == "[ranks 1-2] ZeroDivisionError: division by zero"
    assert "[rank 3] ValueError: bad" in lines
    text = "\n".join(lines)
    assert "----> 2 1/0" in text
    assert text.count("----> 2 1/0") == 1
    assert "In[12]" in text and "In[3]" not in text
    assert error_summary(groups) == "ranks 1-2 raised ZeroDivisionError: division by zero (and 1 other error)"


def test_errors_at_different_lines_stay_apart():
    outs = [RankOutput(r, error=RankError("ZeroDivisionError", "division by zero", _tb(3, line=r))) for r in range(2)]
    assert len(group_errors(outs)) == 2


def test_notes_replace_the_errors_of_ranks_we_interrupted():
    outs = [
        RankOutput(1, error=RankError("RuntimeError", "boom", ["RuntimeError: boom"])),
        RankOutput(2, error=RankError("KeyboardInterrupt", "", ["KeyboardInterrupt"]), note="n2"),
    ]
    groups = group_errors(outs)
    assert [g.ranks for g in groups] == [[1]]
    lines = render_errors(groups, notes={2: "rank 2 was waiting"})
    assert lines[-1] == "rank 2 was waiting"
    assert not any("KeyboardInterrupt" in line for line in lines)


def test_traceback_normalization():
    assert normalize_traceback_line("\x1b[32mCell In[4], line 2\x1b[0m") == "Cell In[ ], line 2"


@pytest.mark.parametrize(
    "waiting, text",
    [
        (None, None),
        ({"call": "recv", "peer": 1, "tag": 0, "comm": "COMM_WORLD"}, "comm.recv(source=1)"),
        ({"call": "send", "peer": 3, "tag": 7, "comm": "COMM_WORLD"}, "comm.send(dest=3, tag=7)"),
        ({"call": "bcast", "peer": 0, "comm": "COMM_WORLD"}, "comm.bcast(root=0)"),
        ({"call": "barrier", "peer": None, "comm": "MPI_COMM_WORLD"}, "comm.barrier()"),
        ({"call": "recv", "peer": "ANY_SOURCE", "tag": "ANY_TAG", "comm": "MPI_COMM_WORLD"},
         "comm.recv(source=MPI.ANY_SOURCE)"),
        ({"call": "Allreduce", "comm": "row_comm"}, "row_comm.Allreduce()"),
        ({"call": "Wait", "peer": None, "comm": None}, "req.Wait()"),
        ({"call": "Waitall", "peer": None, "comm": None}, "MPI.Request.Waitall()"),
        ({"call": "recv", "peer": "ANY_SOURCE", "comm": "COMM_WORLD"}, "comm.recv(source=MPI.ANY_SOURCE)"),
    ],
)
def test_describe_call(waiting, text):
    assert describe_call(waiting) == text


def test_where_and_deadlock_sentences():
    st_recv = {"busy": True, "waiting": {"call": "recv", "peer": 1, "comm": "COMM_WORLD"}, "line": 4}
    st_run = {"busy": True, "waiting": None, "line": 7}
    assert describe_where(st_recv) == "waiting in comm.recv(source=1) at line 4"
    assert describe_where(st_run) == "running line 7"
    assert describe_where(None) == "not answering"
    assert deadlock_note(2, st_recv, [1]) == "rank 2 was waiting in comm.recv(source=1) at line 4 when rank 1 failed"
    barrier = {"busy": True, "waiting": {"call": "barrier", "comm": "COMM_WORLD"}, "line": 3}
    assert busy_summary({1: barrier, 3: barrier, 0: st_run}) == (
        "rank 0 running line 7; ranks 1,3 waiting in comm.barrier() at line 3"
    )


def test_compiled_frames_lose_ipythons_no_source_filler():
    err = RankError(
        "CollectiveMismatchError", "collective mismatch on COMM_WORLD call 1",
        ["\x1b[0;32mFile _mpi/comm.pxi:812\x1b[0m, in \x1b[0;36mmpikernel.MPI.Comm.bcast\x1b[0m()\n\n"
         "\x1b[1;31mCould not get source, probably due dynamically evaluated source code.\x1b[0m\n"],
    )
    lines = output.render_errors([output.ErrorGroup([0, 1], err)])
    assert any("comm.pxi:812" in ln for ln in lines)
    assert not any("Could not get source" in output.strip_ansi(ln) for ln in lines)
