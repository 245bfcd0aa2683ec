"""The magics in a real IPython InteractiveShell, on one 4-rank world shared by the module."""

import os
import signal
import threading
import time

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from mpikernel.front import hostfile, magics, options
from mpikernel.cells.merge import strip_ansi
from mpikernel.cells.runner import CellOptions, RanksError, RanksInterrupted, Screen, run_cell
from world_helpers import wait_all_gone

pytestmark = [pytest.mark.mpi, pytest.mark.world(shell=True)]


def run(shell, cell):
    """Run a cell as a person would; return (captured output, the exception it ended with)."""
    with capture_output() as cap:
        res = shell.run_cell(cell)
    return cap, res.error_in_exec


def traceback_text(exc):
    """The rendered traceback without colours."""
    return strip_ansi("\n".join(exc._render_traceback_()))


# ------------------------------------------------------------------- mistakes before the world


def test_px_mpi_before_mpi_start_says_what_to_do(shell):
    magics.stop_world()
    cap, err = run(shell, "%%px_mpi\nprint(rank)")
    assert isinstance(err, UsageError)
    assert "%mpi_start" in str(err)


@pytest.mark.parametrize(
    "line, words",
    [
        ("-n zero", "whole number"),
        ("-n 0", "at least 1 rank"),
        ("--env 1BAD=x", "NAME=VALUE"),
        ("--env NOEQUALS", "NAME=VALUE"),
        ("--launcher slurm --time never", "not a Slurm time"),
        ("--partition debug", "add --launcher slurm"),
        ("--launcher qsub", "unknown launcher"),
        ("--hostfile /nonexistent/hosts", "does not exist"),
    ],
)
def test_mpi_start_mistakes(shell, line, words):
    with pytest.raises(UsageError, match=words):
        shell.run_line_magic("mpi_start", line)
    assert magics.current_world() is None


def test_a_missing_mpiexec_is_a_usage_error(shell, monkeypatch):
    monkeypatch.setenv("MPIKERNEL_MPIEXEC", "/nonexistent/mpiexec")
    with pytest.raises(UsageError, match="did not start: MPIKERNEL_MPIEXEC='/nonexistent/mpiexec' is not an executable"):
        shell.run_line_magic("mpi_start", "-n 2")
    assert magics.current_world() is None


def test_more_ranks_than_the_hostfile_allows(shell, tmp_path):
    hosts = tmp_path / "hosts"
    hosts.write_text("# two machines\nlocalhost:2\nlocalhost slots=1\n")
    assert hostfile.hostfile_slots(hosts) == 3
    with pytest.raises(UsageError, match="allows 3 ranks, not 4"):
        shell.run_line_magic("mpi_start", f"-n 4 --hostfile {hosts}")
    hosts.write_text("localhost:2\nnode17.example.org slots=8\n")
    with pytest.raises(UsageError, match=r"names other machines \(node17.example.org\)"):
        shell.run_line_magic("mpi_start", f"-n 4 --hostfile {hosts}")


def test_split_line_options():
    assert options.split_line_options("--ranks 0,2 --no-collapse print(rank)") == ("--ranks 0,2 --no-collapse", "print(rank)")
    assert options.split_line_options("--timeout=3 x --y") == ("--timeout=3", "x --y")
    assert options.split_line_options("print('--ranks')") == ("", "print('--ranks')")
    with pytest.raises(UsageError, match="unknown option --bogus"):
        options.split_line_options("--bogus 1 x")


# --------------------------------------------------------------------------- output and labels


def test_start_predefines_the_namespace(shell, world):
    cap, err = run(shell, "%px_mpi print(MPI.__name__, comm is MPI.COMM_WORLD, size, np.__name__)")
    assert err is None
    assert cap.stdout == "[ranks 0-3]\nmpikernel.MPI True 4 numpy\n"


def test_different_outputs_are_labelled_per_rank_in_order(shell, world):
    cap, err = run(shell, "%px_mpi print(rank)")
    assert err is None
    assert cap.stdout == "[rank 0]\n0\n[rank 1]\n1\n[rank 2]\n2\n[rank 3]\n3\n"


def test_identical_outputs_collapse_and_no_collapse_separates(shell, world):
    cap, _ = run(shell, "%%px_mpi\nprint('hello')\nprint(comm.allreduce(rank))")
    assert cap.stdout == "[ranks 0-3]\nhello\n6\n"
    cap, _ = run(shell, "%%px_mpi --no-collapse\nprint('hello')")
    assert cap.stdout == "".join(f"[rank {r}]\nhello\n" for r in range(4))


def test_partly_identical_and_selected_ranks(shell, world):
    cap, _ = run(shell, "%px_mpi print(rank % 2)")
    assert cap.stdout == "[ranks 0,2]\n0\n[ranks 1,3]\n1\n"
    cap, _ = run(shell, "%%px_mpi --ranks 0,2-3\nprint('here')")
    assert cap.stdout == "[ranks 0,2-3]\nhere\n"
    cap, _ = run(shell, "%px_mpi --ranks 1 --no-collapse print('one', rank)")
    assert cap.stdout == "[rank 1]\none 1\n"


def test_stderr_and_results(shell, world):
    cap, _ = run(shell, "%%px_mpi\nimport sys\nprint('oops', file=sys.stderr)\nrank * 10")
    assert cap.stderr == "[ranks 0-3]\noops\n"
    results = [o.data["text/plain"] for o in cap.outputs]
    assert results == ["0", "10", "20", "30"]
    assert cap.stdout == "[rank 0]\n[rank 1]\n[rank 2]\n[rank 3]\n"


def test_rich_output_is_shown_labelled(shell, world):
    cap, err = run(shell, "%%px_mpi\nfrom IPython.display import HTML, display\ndisplay(HTML('<b>same</b>'))")
    assert err is None
    assert [o.data.get("text/html") for o in cap.outputs] == ["<b>same</b>"]
    assert cap.stdout == "[ranks 0-3]\n"


def test_matplotlib_figures_from_each_rank(shell, world):
    cap, err = run(shell, "%%px_mpi\nimport matplotlib.pyplot as plt\nplt.plot([0, rank])\nplt.show()")
    assert err is None
    pngs = [o for o in cap.outputs if "image/png" in o.data]
    assert len(pngs) == 4
    # (a first matplotlib import builds its font cache: the cell may run long enough for a notice)
    assert cap.stdout.endswith("[rank 0]\n[rank 1]\n[rank 2]\n[rank 3]\n")


# ------------------------------------------------------------------------------------ errors


def test_errors_are_grouped_with_their_ranks_and_the_users_line(shell, world):
    cap, err = run(shell, "%%px_mpi\nx = 1\nif rank % 2:\n    x = 1 / 0\nprint('done')")
    assert isinstance(err, RanksError)
    lines = err._render_traceback_()
    assert lines[0] == "[ranks 1,3] ZeroDivisionError: division by zero"
    text = traceback_text(err)
    assert text.count("ZeroDivisionError: division by zero") == 2  # header + the traceback's last line
    assert "x = 1 / 0" in text and "line 4" in text
    assert "ipyparallel" not in text
    assert cap.stdout.startswith("[ranks 0,2]\ndone\n[ranks 1,3] ZeroDivisionError")  # output, then the error


def test_different_errors_each_shown_once(shell, world):
    _, err = run(shell, "%%px_mpi\nif rank == 0:\n    raise ValueError('zero')\nelif rank == 3:\n    raise KeyError('three')")
    lines = err._render_traceback_()
    assert "[rank 0] ValueError: zero" in lines
    assert "[rank 3] KeyError: 'three'" in lines


def test_the_rank_raises_before_bcast_deadlock_ends_after_the_grace_period(shell, world):
    cell = "%%px_mpi --grace 1\nif rank == 1:\n    raise ValueError('bad input')\nx = comm.bcast(rank, root=1)\nprint(x)"
    t0 = time.monotonic()
    _, err = run(shell, cell)
    took = time.monotonic() - t0
    assert isinstance(err, RanksError)
    assert took < 1 + 3, took
    lines = err._render_traceback_()
    assert lines[0] == "[rank 1] ValueError: bad input"
    for r in (0, 2, 3):
        assert f"rank {r} was waiting in comm.bcast(root=1) at line 4 when rank 1 failed" in lines
    assert not any("KeyboardInterrupt" in line for line in lines)
    cap, err = run(shell, "%px_mpi print(comm.allreduce(rank))")
    assert err is None and cap.stdout == "[ranks 0-3]\n6\n"


def test_a_slow_cell_is_not_killed_by_the_grace_rule(shell, world):
    cell = ("%%px_mpi --grace 0.5\nimport time\nif rank == 0:\n    raise ValueError('early')\n"
            "if rank == 1:\n    time.sleep(2)\nprint('finished')")
    cap, err = run(shell, cell)
    assert "[rank 0] ValueError: early" in err._render_traceback_()
    assert "[ranks 1-3]\nfinished\n" in cap.stdout  # (after the live lines: this cell ran > 1 s)


def test_timeout_interrupts_all_ranks_and_the_next_cell_works(shell, world):
    cell = "%%px_mpi --timeout 1\nimport time\nif rank == 0:\n    time.sleep(60)\ncomm.barrier()"
    t0 = time.monotonic()
    _, err = run(shell, cell)
    assert time.monotonic() - t0 < 1 + 5
    lines = err._render_traceback_()
    assert "rank 0 was running line 4 when the cell timed out after 1 s" in lines
    assert "rank 2 was waiting in comm.barrier() at line 5 when the cell timed out after 1 s" in lines
    assert lines[-1] == "TimeoutError: the cell timed out after 1 s"
    cap, err = run(shell, "%px_mpi print(comm.allreduce(1))")
    assert err is None and cap.stdout == "[ranks 0-3]\n4\n"


def test_ctrl_c_interrupts_the_ranks_and_the_next_allreduce_is_right(shell, world):
    timer = threading.Timer(1.5, os.kill, (os.getpid(), signal.SIGINT))
    timer.start()
    t0 = time.monotonic()
    try:
        _, err = run(shell, "%%px_mpi\nimport time\nif rank == 0:\n    time.sleep(60)\ncomm.barrier()")
    finally:
        timer.cancel()
    assert time.monotonic() - t0 < 10
    assert isinstance(err, RanksInterrupted)
    lines = err._render_traceback_()
    assert "rank 3 was waiting in comm.barrier() at line 5 when interrupted" in lines
    cap, err = run(shell, "%px_mpi print(comm.allreduce(rank))")
    assert err is None and cap.stdout == "[ranks 0-3]\n6\n"


def test_a_stale_receive_from_an_interrupted_cell_does_not_swallow_new_messages(shell, world):
    cell = ("%%px_mpi --timeout 1\nimport time\nif rank == 1:\n    stale = comm.irecv(source=0, tag=5)\n"
            "if rank == 0:\n    time.sleep(60)\ncomm.barrier()")
    _, err = run(shell, cell)
    assert isinstance(err, RanksError)
    cap, err = run(shell, "%%px_mpi --ranks 0,1\nif rank == 0:\n    comm.send('fresh', dest=1, tag=5)\n"
                          "else:\n    print(comm.recv(source=0, tag=5))")
    assert err is None and cap.stdout == "[rank 1]\nfresh\n"
    cap, err = run(shell, "%px_mpi print(comm.allreduce(rank))")
    assert err is None and cap.stdout == "[ranks 0-3]\n6\n"


# --------------------------------------------------------------------- live output and notices


class RecordingScreen(Screen):
    def __init__(self):
        self.events = []

    def live(self, rank, text):
        self.events.append(("live", time.monotonic(), rank, text))

    def notice(self, text):
        self.events.append(("notice", time.monotonic(), text))

    def show(self, blocks):
        self.events.append(("show", time.monotonic(), blocks))


def test_output_streams_live_while_the_cell_runs(world):
    screen = RecordingScreen()
    code = "import time\nfor i in range(3):\n    print(f'step {i}', flush=True)\n    time.sleep(0.7)"
    run_cell(world, code, CellOptions(ranks=[0, 1], live_after=0.2), screen=screen)
    shown_at = [e[1] for e in screen.events if e[0] == "show"][0]
    first_steps = [e for e in screen.events if e[0] == "live" and "step 0" in e[3]]
    assert {e[2] for e in first_steps} == {0, 1}
    assert all(shown_at - e[1] > 1.0 for e in first_steps)
    blocks = [e for e in screen.events if e[0] == "show"][0][2]
    assert [(b.header, b.payload) for b in blocks] == [("[ranks 0-1]", "step 0\nstep 1\nstep 2\n")]


def test_a_long_wait_says_which_ranks_are_busy_and_where(world):
    screen = RecordingScreen()
    code = "import time\nif rank == 0:\n    time.sleep(2.5)\ncomm.barrier()"
    run_cell(world, code, CellOptions(slow_notice=1.0), screen=screen)
    notices = [e[2] for e in screen.events if e[0] == "notice"]
    assert notices, screen.events
    assert "rank 0 running line 3" in notices[0]
    assert "ranks 1-3 waiting in comm.barrier() at line 4" in notices[0]


# --------------------------------------------------------------------------- data and control


def test_push_and_pull(shell, world):
    shell.user_ns["numbers"] = [1, 2, 3]
    run(shell, "%mpi_push numbers")
    cap, err = run(shell, "%px_mpi total = sum(numbers) + rank")
    assert err is None
    assert shell.run_line_magic("mpi_pull", "total") == [6, 7, 8, 9]
    assert shell.run_line_magic("mpi_pull", "--ranks 1 total") == [7]
    with pytest.raises(UsageError, match="not defined here"):
        shell.run_line_magic("mpi_push", "nothing_called_this")
    with pytest.raises(UsageError, match="not defined on every rank"):
        shell.run_line_magic("mpi_pull", "nothing_called_this")
    w = magics.world()
    w.scatter("chunk", list(range(8)))
    assert w.gather("chunk") == list(range(8))


@pytest.mark.parametrize(
    "line, words",
    [("--ranks 9", "rank 9 does not exist"), ("--ranks a", "not a rank"), ("--timeout -1", "0 or more")],
)
def test_bad_cell_options(shell, world, line, words):
    _, err = run(shell, f"%%px_mpi {line}\nprint(rank)")
    assert isinstance(err, UsageError)
    assert words in str(err)


def test_start_twice_is_refused(shell, world):
    with pytest.raises(UsageError, match="already running"):
        shell.run_line_magic("mpi_start", "-n 2")


def test_status_lists_every_rank(shell, world):
    cap, err = run(shell, "%mpi_status")
    assert err is None
    lines = cap.stdout.splitlines()
    assert lines[0].startswith("MPI world: 4 ranks")
    rows = lines[2:]
    assert [int(r.split()[0]) for r in rows] == [0, 1, 2, 3]
    assert all(" idle " in r and " MB" in r for r in rows)


def test_entry_point_for_the_kernel(shell, world):
    with capture_output() as cap:
        result = magics.run_cell_on_ranks("print(size)", "--ranks 1")
    assert cap.stdout == "[rank 1]\n4\n"
    assert [o.rank for o in result.outputs] == [1]
    with pytest.raises(RanksError) as info:
        with capture_output():
            magics.run_cell_on_ranks("1/0", magics.CellOptions(ranks=[0]))
    assert info.value._render_traceback_()[0] == "[rank 0] ZeroDivisionError: division by zero"


def test_a_rank_that_dies_ends_the_cell_and_restart_recovers(shell, world):
    t0 = time.monotonic()
    _, err = run(shell, "%%px_mpi\nimport os\nif rank == 1:\n    os._exit(3)\ncomm.barrier()")
    assert time.monotonic() - t0 < 15
    assert isinstance(err, RanksError)
    assert "rank 1 died (exit code 3)" in traceback_text(err)  # (more in test_faults.py)
    _, err = run(shell, "%px_mpi print(rank)")
    assert isinstance(err, UsageError) and "%mpi_restart" in str(err)
    cap, err = run(shell, "%mpi_status")
    assert err is None and "all gone: rank 1 died (exit code 3)" in cap.stdout


def test_restart_gives_fresh_processes(shell, world):
    old = world.processes()
    with capture_output() as cap:
        shell.run_line_magic("mpi_restart", "")
    assert "MPI world restarted: 4 ranks" in cap.stdout
    assert wait_all_gone(old, 5) == []
    cap, err = run(shell, "%px_mpi print(comm.allreduce(rank))")
    assert cap.stdout == "[ranks 0-3]\n6\n"


def test_stop_then_cells_are_refused(shell, world):
    w = magics.world()
    pids = w.processes()
    run(shell, "%mpi_stop")
    assert wait_all_gone(pids, 5) == []
    _, err = run(shell, "%px_mpi print(rank)")
    assert isinstance(err, UsageError)
