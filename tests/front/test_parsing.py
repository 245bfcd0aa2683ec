"""Strict parsing of what people type: --ranks, --env, hostfiles, -n and the option line.

Every mistake is a UsageError (or ValueError from the pure parser) whose sentence names the
wrong text and says what is expected; nothing is guessed, nothing is evaluated, nothing huge is
built from a short string. No MPI process is started here (fast, no marker).
"""

import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from IPython.core.error import UsageError

from mpikernel.front import hostfile, magics, options
from mpikernel.notation import parse_ranks


# ---------------------------------------------------------------------------------- --ranks


@pytest.mark.parametrize(
    "text, words",
    [
        ("0-3,x", "'x' is not a rank"),
        ("5", "rank 5 does not exist: this world has 4 ranks (0-3)"),
        ("", "no ranks given"),
        ("   ", "no ranks given"),
        ("3-1", "'3-1' goes backwards"),
        ("0 1", "'0 1' is not a rank"),  # not silently "01"
        ("0,,1", "'' is not a rank"),
        ("-1", "'-1' is not a rank"),
        ("1.5", "'1.5' is not a rank"),
        ("٣", "is not a rank"),  # a non-ASCII digit int() would accept
        ("0x2", "is not a rank"),
        ("__import__('os').system('x')", "is not a rank"),
        ("2-5", "ranks 4-5 do not exist"),
        ("5,5", "rank 5 does not exist"),
    ],
)
def test_ranks_mistakes(text, words):
    with pytest.raises(ValueError) as info:
        parse_ranks(text, size=4)
    assert words in str(info.value)


def test_a_huge_range_is_refused_without_building_it():
    t0 = time.perf_counter()
    with pytest.raises(ValueError, match="ranks 4-999999999 do not exist"):
        parse_ranks("0-999999999", size=4)
    with pytest.raises(ValueError, match="beyond any world"):
        parse_ranks("0-999999999")
    assert time.perf_counter() - t0 < 1.0


@pytest.mark.parametrize("text, ranks", [("0-3", [0, 1, 2, 3]), (" 2 , 0 ", [0, 2]), ("1 - 2", [1, 2]),
                                         ("3,1-2,1", [1, 2, 3])])
def test_ranks_accepted(text, ranks):
    assert parse_ranks(text, size=4) == ranks


@settings(max_examples=300, deadline=None, derandomize=True)
@given(st.text(max_size=12))
def test_ranks_parser_answers_any_text_with_a_list_or_a_sentence(text):
    try:
        got = parse_ranks(text, size=8)
    except ValueError as e:
        assert str(e)
    else:
        assert got == sorted(set(got)) and all(0 <= r < 8 for r in got)


def test_ranks_option_goes_through_the_parser():
    with pytest.raises(UsageError, match="--ranks: 'x' is not a rank"):
        magics.cell_options("--ranks 0-3,x")
    with pytest.raises(UsageError, match="goes backwards"):
        magics.cell_options("--ranks 3-1")


# ----------------------------------------------------------------------------------- --env


@pytest.mark.parametrize(
    "item, words",
    [
        ("A", "NAME=VALUE"),
        ("=1", "NAME=VALUE"),
        ("1A=2", "does not start with a digit"),
        ("A-B=1", "NAME=VALUE"),
        ("A B=1", "NAME=VALUE"),
        ("É=1", "NAME=VALUE"),
        ("A=x\0y", "NUL"),
    ],
)
def test_env_mistakes(item, words):
    with pytest.raises(UsageError, match=words):
        options.parse_env([item])


def test_env_name_given_twice():
    with pytest.raises(UsageError, match="A is given twice"):
        options.parse_env(["A=1", "A=2"])


def test_env_accepted():
    assert options.parse_env(["A=1", "_B2=x=y", "C="]) == {"A": "1", "_B2": "x=y", "C": ""}


# ------------------------------------------------------------------------------- hostfiles


@pytest.mark.parametrize(
    "text, words",
    [
        ("", "names no hosts"),
        ("# only a comment\n\n", "names no hosts"),
        ("localhost:x\n", "line 1: the count after ':' must be a whole number"),
        ("localhost:0\n", "must be a whole number, 1 or more (got '0')"),
        ("localhost:\n", "got ''"),
        ("a\nlocalhost slots=-1\n", "line 2: slots must be a whole number"),
        ("localhost slots=two\n", "slots must be a whole number"),
        ("localhost slots=99999999999\n", "slots must be a whole number"),
        ("localhost foo=1\n", "unknown 'foo=1'"),
        ("localhost slots\n", "unknown 'slots'"),
        ("localhost slots=1 slots=2\n", "slots given twice"),
        ("-oProxyCommand=x\n", "is not a host name"),
        ("local$host\n", "is not a host name"),
    ],
)
def test_hostfile_mistakes(tmp_path, text, words):
    path = tmp_path / "hosts"
    path.write_text(text)
    with pytest.raises(UsageError) as info:
        hostfile.read_hostfile(path)
    assert words in str(info.value)
    assert str(path) in str(info.value)


def test_hostfile_accepted(tmp_path):
    path = tmp_path / "hosts"
    path.write_text("# lab\nlocalhost:2  # two\nnode1 slots=4 max_slots=8\nnode1\nnode-2.example.org\n")
    assert hostfile.read_hostfile(path) == {"localhost": 2, "node1": 5, "node-2.example.org": 1}


def test_missing_hostfile(tmp_path):
    with pytest.raises(UsageError, match="does not exist"):
        hostfile.read_hostfile(tmp_path / "nope")


# ---------------------------------------------------------------------------------------- -n


@pytest.mark.parametrize(
    "n, words",
    [
        ("0", "at least 1 rank"),
        ("-1", "at least 1 rank (got -n -1)"),
        ("four", "whole number of ranks"),
        ("4.0", "whole number of ranks"),
        ("", "whole number of ranks"),
        ("٤", "whole number of ranks"),
        (True, "whole number of ranks"),
        (str(10**6), "too many ranks"),
        (10**6, "too many ranks"),
        ("9" * 40, "far more ranks"),
    ],
)
def test_ranks_count_mistakes(n, words):
    with pytest.raises(UsageError) as info:
        options.check_ranks_count(n)
    assert words in str(info.value)


def test_ranks_count_accepted_and_bounded():
    assert options.check_ranks_count(" 4 ") == 4
    assert options.check_ranks_count(4) == 4
    limit = options.local_rank_limit()
    assert options.check_ranks_count(limit) == limit
    with pytest.raises(UsageError, match="too many ranks"):
        options.check_ranks_count(limit + 1)
    assert options.check_ranks_count(limit + 1, local=False) == limit + 1
    with pytest.raises(UsageError, match="at most 4096"):
        options.check_ranks_count(4097, local=False)


def test_mpi_start_refuses_a_million_ranks_before_starting_anything():
    with pytest.raises(UsageError, match="too many ranks"):
        magics.start_world(10**6)
    assert magics.current_world() is None


# ------------------------------------------------------------------------- the option line


@pytest.mark.parametrize(
    "line, words",
    [
        ("-- print(1)", "'--' is not an option"),
        ("--rank 0 print(1)", "unknown option --rank"),
        ("--ranks", "--ranks needs a value"),
    ],
)
def test_option_line_mistakes(line, words):
    with pytest.raises(UsageError, match=words):
        options.split_line_options(line)


@pytest.mark.parametrize("line", ["--timeout nan", "--timeout -1", "--grace inf", "--timeout=-0.5"])
def test_timeouts_must_be_finite_and_not_negative(line):
    with pytest.raises(UsageError, match="must be a number of seconds"):
        magics.cell_options(line)


def test_no_hints_is_a_start_option():
    """%mpi_start --no-hints: the session runs every cell with hints off; without it the
    environment decides (None), so a kernel spec's MPIKERNEL_HINTS=0 still counts."""
    assert options.parse_start_line("-n 2").hints is None
    assert options.parse_start_line("-n 2 --no-hints").hints is False
    assert options.start_options(2, hints=False).hints is False
    assert options.start_options(2).hints is None
