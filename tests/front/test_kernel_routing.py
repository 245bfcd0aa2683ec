"""Which cells run on the ranks and which in the kernel (the pure rule, no kernel started)."""

import pytest

from mpikernel.front.kernel import _as_calls, mpi_library, route_cell

LINE = {"mpi_status", "mpi_start", "mpi_stop", "mpi_restart", "px_mpi"}
CELL = {"px_mpi"}


@pytest.mark.parametrize(
    "code",
    [
        "x = 1",
        "print(rank)\n",
        "%timeit comm.barrier()",
        "%%timeit\ncomm.barrier()",
        "%mpi_status\nx = 1",  # mixed: the code part needs the ranks
        "%matplotlib inline",
        "%%local_not_ours\n1",
        "  %%localx\n1",
    ],
)
def test_ranks(code):
    assert route_cell(code, LINE, CELL) == ("ranks", code)


@pytest.mark.parametrize(
    "code,runs",
    [
        ("%%local\nimport os\nos.getpid()", "import os\nos.getpid()"),
        ("\n# plot here\n%%local\nx = 1\n", "x = 1\n"),
        ("%%local", ""),
        ("%%local\n%mpi_status", "%mpi_status"),
        ("", ""),
        ("  \n", "  \n"),
    ],
)
def test_local(code, runs):
    assert route_cell(code, LINE, CELL) == ("local", runs)


@pytest.mark.parametrize(
    "code",
    [
        "%mpi_status",
        "%mpi_status\n\n%mpi_restart\n",
        "# comment\n%mpi_status -v",
        "%%px_mpi --ranks 0\nprint(1)",
    ],
)
def test_our_magics(code):
    assert route_cell(code, LINE, CELL) == ("magics", code)


def test_magic_cells_become_calls():
    assert _as_calls("%mpi_status\n%mpi_stop\n") == ["%mpi_status\n", "%mpi_stop\n"]
    assert _as_calls("# c\n%%px_mpi --ranks 0\nprint(1)\n") == [
        "get_ipython().run_cell_magic('px_mpi', '--ranks 0', 'print(1)\\n')\n"
    ]


@pytest.mark.parametrize(
    "code,request_",
    [("comm.allreduce?", "comm.allreduce?"), ("  x ??\n", "x??"), ("?comm", "comm?"),
     ("??MPI.Comm", "MPI.Comm??")],
)
def test_help_requests(code, request_):
    assert route_cell(code, LINE, CELL) == ("help", request_)


@pytest.mark.parametrize("code", ["x = a?b", "print('?')", "comm.allreduce?\nx = 1", "a???"])
def test_not_help_requests(code):
    assert route_cell(code, LINE, CELL)[0] == "ranks"


def test_mpi_library_names_the_build():
    from mpikernel._libmpi import build_config

    cfg = build_config()
    if cfg.get("vendor"):
        assert mpi_library() == f"{cfg['vendor']} {cfg['version']}".strip()
    else:  # e.g. an editable install whose build config was written elsewhere
        from mpikernel.cluster.launcher import find_mpiexec, mpiexec_vendor

        assert mpi_library() == mpiexec_vendor(find_mpiexec())


def test_start_is_tried_once_more_after_a_surprise():
    import logging

    from IPython.core.error import UsageError

    from mpikernel.front.kernel import call_with_one_retry

    log = logging.getLogger("test")
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) == 1:
            raise ValueError("half-written connection file")
        return "up"

    assert call_with_one_retry(flaky, log) == "up" and len(calls) == 2

    def impossible():
        calls.append(1)
        raise UsageError("the slurm launcher is not available yet")

    calls.clear()
    with pytest.raises(UsageError):
        call_with_one_retry(impossible, log)
    assert len(calls) == 1

    def broken():
        calls.append(1)
        raise RuntimeError("no")

    calls.clear()
    with pytest.raises(RuntimeError):
        call_with_one_retry(broken, log)
    assert len(calls) == 2
