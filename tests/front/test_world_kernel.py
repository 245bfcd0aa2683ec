"""The magics in a real ipykernel driven through jupyter_client, as a notebook would use them."""

import os
import queue
import signal
import time

import pytest
from jupyter_client.manager import start_new_kernel

from mpikernel.front.display import as_stream
from mpikernel.cells.merge import strip_ansi
from world_helpers import kill_all, wait_all_gone

# kernels and worlds start slowly when the 2 cores are shared: generous limits, still finite
pytestmark = [pytest.mark.mpi, pytest.mark.timeout(300)]


LAST = {}  # execution_count of the last cell run by execute()


def execute(kc, code, timeout=60, interrupt_after=None, km=None):
    """Run code; return (stdout text, stderr text, [display/result data], error content or None)."""
    msg_id = kc.execute(code)
    stdout, stderr, rich, error = [], [], [], None
    deadline = time.monotonic() + timeout
    interrupt_at = time.monotonic() + interrupt_after if interrupt_after else None
    while True:
        if interrupt_at and time.monotonic() >= interrupt_at:
            km.interrupt_kernel()
            interrupt_at = None
        try:
            msg = kc.get_iopub_msg(timeout=0.2)
        except queue.Empty:
            if time.monotonic() > deadline:
                raise AssertionError(f"no end of cell within {timeout} s: {code!r}")
            continue
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        t, c = msg["msg_type"], msg["content"]
        labelled = as_stream(c["data"], c.get("metadata")) if t == "display_data" else None
        if t == "stream" or labelled:  # the merged output comes as labelled displays
            name, text = labelled or (c["name"], c["text"])
            (stdout if name == "stdout" else stderr).append(text)
        elif t in ("display_data", "execute_result", "update_display_data"):
            rich.append(c["data"])
        elif t == "error":
            error = c
        elif t == "execute_input":
            LAST["execution_count"] = c["execution_count"]
        elif t == "status" and c["execution_state"] == "idle":
            break
    while kc.get_shell_msg(timeout=10)["parent_header"].get("msg_id") != msg_id:
        pass  # replies to earlier requests (kernel_info at start-up)
    return "".join(stdout), "".join(stderr), rich, error


def start_kernel():
    """A python3 kernel started outside the source tree (so it imports the installed mpikernel)."""
    import tempfile

    return start_new_kernel(kernel_name="python3", startup_timeout=120, cwd=tempfile.gettempdir())


def world_pids(kc):
    out, _, _, err = execute(kc, "from mpikernel.front.magics import world\nprint(*world().processes())")
    assert err is None, err
    return [int(p) for p in out.split()]


@pytest.fixture(scope="module")
def kernel():
    km, kc = start_kernel()
    try:
        _, _, rich, err = execute(kc, "%load_ext mpikernel\n%mpi_start -n 4", timeout=120)
        assert err is None, err
        # the progress line is one display area, updated in place until it says ready
        assert rich[-1]["text/plain"].startswith("MPI world ready: 4 ranks")
        yield km, kc
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_labelled_collapsed_output_reaches_the_notebook(kernel):
    _, kc = kernel
    out, _, _, err = execute(kc, "%%px_mpi\nprint('hi')\nprint(rank)")
    assert err is None
    assert out == "".join(f"[rank {r}]\nhi\n{r}\n" for r in range(4))


def test_output_streams_live_into_one_display_area(kernel):
    _, kc = kernel
    msg_id = kc.execute("%%px_mpi --ranks 0\nimport time\nfor i in range(3):\n    print('step', i, flush=True)\n    time.sleep(0.8)")
    live, merged_at, first_step_at = [], None, None
    while True:
        msg = kc.get_iopub_msg(timeout=30)
        if msg["parent_header"].get("msg_id") != msg_id:
            continue
        t, c = msg["msg_type"], msg["content"]
        if t == "display_data" and as_stream(c["data"], c.get("metadata")):
            merged_at = merged_at or time.monotonic()  # the merged output's label
            assert as_stream(c["data"], c["metadata"]) == ("stdout", "[rank 0]\n")
        elif t in ("display_data", "update_display_data"):
            live.append(c["data"]["text/plain"])
            if first_step_at is None and "[rank 0] step 0" in c["data"]["text/plain"]:
                first_step_at = time.monotonic()
        elif t == "stream":
            assert merged_at is not None and c["text"].startswith("step 0\nstep 1\nstep 2\n")
        elif t == "status" and c["execution_state"] == "idle":
            break
    assert first_step_at is not None and merged_at - first_step_at > 0.8, live
    assert live[-1] == ""  # the live area is emptied when the merged output appears


def test_rich_output_is_displayed(kernel):
    _, kc = kernel
    out, _, rich, err = execute(kc, "%%px_mpi\nfrom IPython.display import HTML, display\ndisplay(HTML(f'<i>{rank // 2}</i>'))")
    assert err is None
    assert [d.get("text/html") for d in rich if "text/html" in d] == ["<i>0</i>", "<i>1</i>"]
    assert out == "[ranks 0-1]\n[ranks 2-3]\n"


def test_rank_errors_arrive_as_one_labelled_error_message(kernel):
    _, kc = kernel
    out, _, _, err = execute(kc, "%%px_mpi\nif rank == 2:\n    undefined_name\nprint('ok')")
    assert out == "[ranks 0-1,3]\nok\n"
    assert err is not None
    # named after rank 2's exception, as a plain kernel would name it
    assert (err["ename"], err["evalue"]) == ("NameError", "name 'undefined_name' is not defined")
    tb = strip_ansi("\n".join(err["traceback"]))
    assert tb.startswith("[rank 2] NameError: name 'undefined_name' is not defined")
    assert "----> 3     undefined_name" in tb
    assert f"Cell In[{LAST['execution_count']}], line 3" in tb  # the notebook's cell number, not the rank's


def test_deadlock_report_in_the_notebook(kernel):
    _, kc = kernel
    t0 = time.monotonic()
    _, _, _, err = execute(kc, "%%px_mpi\nif rank == 1:\n    raise RuntimeError('no data')\ndata = comm.recv(source=1)")
    assert time.monotonic() - t0 < 2 + 4
    tb = strip_ansi("\n".join(err["traceback"]))
    assert "rank 0 was waiting in comm.recv(source=1) at line 4 when rank 1 failed" in tb


def test_interrupt_button_then_a_correct_allreduce(kernel):
    km, kc = kernel
    t0 = time.monotonic()
    _, _, _, err = execute(kc, "%%px_mpi\nif rank != 3:\n    comm.barrier()", interrupt_after=1.5, km=km)
    assert time.monotonic() - t0 < 10
    assert err is not None and err["ename"] == "RanksInterrupted"
    tb = strip_ansi("\n".join(err["traceback"]))
    assert "rank 0 was waiting in comm.barrier() at line 3 when interrupted" in tb
    out, _, _, err = execute(kc, "%px_mpi print(comm.allreduce(rank))")
    assert err is None and out == "[ranks 0-3]\n6\n"


def test_kernel_restart_and_shutdown_leave_nothing():
    km, kc = start_kernel()
    pids = []
    try:
        _, _, _, err = execute(kc, "%load_ext mpikernel\n%mpi_start -n 2", timeout=120)
        assert err is None, err
        pids = world_pids(kc)
        assert len(pids) >= 4
        km.restart_kernel(now=False)
        kc.wait_for_ready(timeout=60)
        left = wait_all_gone(pids, 5)
        kill_all(left)
        assert left == [], "after restart"
        _, _, _, err = execute(kc, "%load_ext mpikernel\n%mpi_start -n 2", timeout=120)
        assert err is None, err
        pids = world_pids(kc)
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=False)
    left = wait_all_gone(pids, 5)
    kill_all(left)
    assert left == [], "after shutdown"


def test_sigkill_of_the_kernel_leaves_nothing_within_5_seconds():
    km, kc = start_kernel()
    pids = []
    try:
        _, _, _, err = execute(kc, "%load_ext mpikernel\n%mpi_start -n 2", timeout=120)
        assert err is None, err
        pids = world_pids(kc)
        os.kill(km.provisioner.process.pid, signal.SIGKILL)
        left = wait_all_gone(pids, 5)
        kill_all(left)
        assert left == []
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)
