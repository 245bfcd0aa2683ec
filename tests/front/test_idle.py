"""--idle-timeout through the one Session, whichever door a cell comes in by (%%px_mpi or the kernel).

A cell that runs longer than the limit is not idleness: it runs to its end (the Session holds the
world in use for the whole cell, for both front ends). Once nothing runs, the world is released
after the limit and its processes are gone. What the next cell says differs by owner: in IPython
the person starts the world (%mpi_start); the kernel owns its world and starts it again itself.
"""

import time

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from kernel_client import Kernel, stream_of
from mpikernel.front import idle, magics
from world_helpers import use_shipped_kernel_specs, wait_all_gone

pytestmark = [pytest.mark.mpi, pytest.mark.timeout(240)]

LIMIT = 3  # seconds of idleness before the world is released
CELL = f"import time; time.sleep({2 * LIMIT}); print('slept')"  # twice the limit
NOTE = f"the MPI world was stopped after {LIMIT} s without a cell (--idle-timeout)"


class MagicsDoor:
    """%%px_mpi cells in an IPython shell whose world %mpi_start started."""

    def __init__(self, shell):
        self.shell = shell
        magics.stop_world()
        with capture_output():
            shell.run_line_magic("mpi_start", "-n 2")  # the limit comes from MPIKERNEL_IDLE_TIMEOUT

    def run(self, code):
        """(ok, stdout, error text) of one cell."""
        with capture_output() as cap:
            res = self.shell.run_cell("%%px_mpi\n" + code)
        err = res.error_in_exec
        return err is None, cap.stdout, "" if err is None else str(err)

    def rank_pids(self):
        return magics.world().processes()

    def status(self):
        with capture_output() as cap:
            self.shell.run_line_magic("mpi_status", "")
        return cap.stdout

    def after_release(self):
        """Here the person starts the next world: the cell says so, and why the last one went."""
        ok, _, err = self.run("print(rank)")
        assert not ok and NOTE in err and "%mpi_start" in err, err

    def close(self):
        magics.stop_world()


class KernelDoor:
    """Cells of the MPI kernel (every cell on the ranks), driven through jupyter_client."""

    def __init__(self):
        self.restore = use_shipped_kernel_specs()
        self.kernel = Kernel()  # inherits MPIKERNEL_IDLE_TIMEOUT from this process

    def run(self, code):
        content, msgs = self.kernel.run(code, timeout=90)
        self.kernel.descendants()  # record the ranks, so close() can kill whatever is left
        text = {"stdout": "", "stderr": ""}
        for name, chunk in map(stream_of, msgs):
            if name in text:
                text[name] += chunk
        error = "\n".join(content.get("traceback", [])) + text["stderr"]
        return content["status"] == "ok", text["stdout"], error

    def rank_pids(self):
        ok, out, err = self.run("import os; print(os.getpid())")
        assert ok, err
        return [int(line) for line in out.splitlines() if line.strip().isdigit()]

    def status(self):
        return self.run("%mpi_status")[1]  # a magics cell: it runs in the kernel, not on the ranks

    def after_release(self):
        """The kernel owns its world: the next cell starts it again, says why, and runs."""
        ok, out, err = self.run("print(size)")
        assert ok, err
        assert NOTE in err and "starting it again" in err and "%mpi_start" not in err, err
        said = [line for line in err.splitlines() if "start" in line.lower()]
        assert len(said) == 1 and said[0].startswith(NOTE) and said[0].endswith("; starting it again"), err
        assert "[ranks 0-3]\n4\n" in out, out

    def close(self):
        try:
            self.kernel.close()
        finally:
            self.restore()


def wait_released(door, timeout):
    """The status line once the world has been released (None if it was not within timeout)."""
    until = time.monotonic() + timeout
    while time.monotonic() < until:
        text = door.status()
        if NOTE in text:
            return text
        time.sleep(0.5)
    return None


@pytest.mark.parametrize("front", ["magics", "kernel"])
def test_a_cell_longer_than_the_idle_limit_runs_then_the_idle_world_is_released(front, request, monkeypatch):
    monkeypatch.setenv(idle.ENV_VAR, f"{LIMIT}s")
    door = MagicsDoor(request.getfixturevalue("shell")) if front == "magics" else KernelDoor()
    try:
        pids = door.rank_pids()
        t0 = time.monotonic()
        ok, out, err = door.run(CELL)
        took = time.monotonic() - t0
        assert ok, err  # not "the MPI world is not running": the Session held it in use
        assert "slept" in out and took >= 2 * LIMIT
        assert NOTE not in door.status()  # the clock starts when the cell ends, not before
        released = wait_released(door, timeout=LIMIT + 20)
        assert released is not None, f"still running {LIMIT + 20} s after the last cell"
        assert wait_all_gone(pids, 10) == []
        door.after_release()
    finally:
        door.close()


def test_the_kernel_message_after_a_release_does_not_ask_for_mpi_start():
    """The kernel's Session revives its world; one of IPython asks the person (unit level)."""
    from mpikernel.front.session import Session

    plain, owned = Session(), Session(revive=lambda why: None)
    for s in (plain, owned):
        s._released = NOTE
    assert "%mpi_start" in plain.not_running()
    assert "%mpi_start" not in owned.not_running() and "the next cell starts it again" in owned.not_running()
    with pytest.raises(UsageError, match="%mpi_start"):
        plain.require_world()
