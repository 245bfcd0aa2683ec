"""%mpi_debug: a post-mortem pdb on the rank whose cell failed, driven over ipyparallel."""

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from mpikernel.front.debugger import parse_debug_line


def test_parse_debug_line():
    assert parse_debug_line("", 4) == (None, None)
    assert parse_debug_line('2 -c "p x" -c w', 4) == (2, ["p x", "w"])
    for bad, words in [("7", "does not exist"), ("1 2", "unexpected"), ("-c", "needs a pdb command"),
                       ("x", "unexpected")]:
        with pytest.raises(ValueError, match=words):
            parse_debug_line(bad, 4)


pytestmark = pytest.mark.world(ranks=2, shell=True)  # the `world` fixture (tests/conftest.py)


@pytest.mark.mpi
def test_post_mortem_on_the_rank_that_failed(shell, world):
    with capture_output():
        shell.run_cell("%%px_mpi\nsecret = 100 + rank\nif rank == 1:\n    values = [secret, 0]\n"
                       "    print(values[0] / values[1])")
    with capture_output() as cap:
        shell.run_line_magic("mpi_debug", '-c "p secret" -c "p values" -c "l"')
    text = cap.stdout
    assert "[rank 1] post-mortem debugger" in text, text
    assert "101\n" in text and "[101, 0]" in text, text  # rank 1's variables, not rank 0's
    assert "print(values[0] / values[1])" in text  # the failing line, listed
    with capture_output() as cap:
        shell.run_line_magic("mpi_debug", '1 -c "p rank" -c q')
    assert "(Pdb rank 1) p rank\n1\n" in cap.stdout, cap.stdout
    with capture_output() as cap:  # rank 0 never failed: pdb has nothing to show, and says so
        shell.run_line_magic("mpi_debug", "0 -c w")
    assert "no cell has failed on this rank" in cap.stdout
    with pytest.raises(UsageError, match="does not exist"):
        shell.run_line_magic("mpi_debug", "5")
    with capture_output() as cap:
        shell.run_cell("%px_mpi print(comm.allreduce(rank))")
    assert cap.stdout == "[ranks 0-1]\n1\n"


# ------------------------------------------------------------------ the visual debugger (DAP)


class DapClient:
    """What JupyterLab's debugger sends over the control channel, one request at a time."""

    def __init__(self, kc):
        self.kc = kc
        self.seq = 0
        self.events = []

    def request(self, command, arguments=None, timeout=90):
        import time

        self.seq += 1
        msg = self.kc.session.msg("debug_request", {"type": "request", "seq": self.seq, "command": command,
                                                    "arguments": arguments or {}})
        self.kc.control_channel.send(msg)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            reply = self.kc.control_channel.get_msg(timeout=deadline - time.monotonic())
            if reply["parent_header"].get("msg_id") == msg["header"]["msg_id"]:
                return reply["content"]
        raise TimeoutError(command)

    def wait_events(self, name, count, timeout=60):
        import queue
        import time

        deadline = time.monotonic() + timeout
        while sum(e["event"] == name for e in self.events) < count and time.monotonic() < deadline:
            try:
                m = self.kc.get_iopub_msg(timeout=0.5)
            except queue.Empty:
                continue
            if m["msg_type"] == "debug_event":
                self.events.append(m["content"])
        return [e for e in self.events if e["event"] == name]


@pytest.fixture
def mpi_kernel():
    from kernel_client import Kernel
    from world_helpers import use_shipped_kernel_specs

    restore_path = use_shipped_kernel_specs()
    k = None
    try:
        k = Kernel()
        k.kc.execute_interactive("x = 1", timeout=120)  # the ranks are up
        yield k.km, k.kc
    finally:
        if k is not None:
            k.close()
        restore_path()


@pytest.mark.mpi
@pytest.mark.kernel
@pytest.mark.timeout(300)
def test_visual_debugger_stops_every_rank_and_shows_its_variables(mpi_kernel):
    km, kc = mpi_kernel
    kc.kernel_info()
    info = kc.get_shell_msg(timeout=30)["content"]
    assert "debugger" in info.get("supported_features", [])
    dap = DapClient(kc)
    assert dap.request("initialize", {"clientID": "test", "adapterID": "python",
                                      "pathFormat": "path", "linesStartAt1": True,
                                      "columnsStartAt1": True})["success"]
    assert dap.request("attach")["success"]
    info = dap.request("debugInfo")["body"]
    assert info["isStarted"] and info["hashMethod"] == "Murmur2"
    code = "a = rank * 10\nb = a + 1\nprint('b is', b)\n"
    path = dap.request("dumpCell", {"code": code})["body"]["sourcePath"]
    assert path.startswith(info["tmpFilePrefix"])
    bp = dap.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": 2}],
                                        "sourceModified": False})
    assert bp["success"], bp
    assert dap.request("configurationDone")["success"]

    msg_id = kc.execute(code)
    stops = dap.wait_events("stopped", 4)
    assert sorted(e["body"]["threadId"] for e in stops) == [1, 2, 3, 4], dap.events
    threads = dap.request("threads")["body"]["threads"]
    assert [t["name"] for t in threads] == ["rank 0", "rank 1", "rank 2", "rank 3"]

    frames = dap.request("stackTrace", {"threadId": 3})["body"]["stackFrames"]  # rank 2
    assert frames[0]["line"] == 2 and frames[0]["source"]["path"] == path, frames[0]
    scopes = dap.request("scopes", {"frameId": frames[0]["id"]})["body"]["scopes"]
    values = {}
    for scope in scopes:
        for v in dap.request("variables", {"variablesReference": scope["variablesReference"]})["body"]["variables"]:
            values.setdefault(v["name"], v["value"])
    assert values.get("a") == "20" and values.get("rank") == "2", values
    assert "b" not in values  # stopped before line 2 ran

    assert dap.request("next", {"threadId": 3})["success"]  # a step moves every rank
    stops = dap.wait_events("stopped", 8)
    assert sorted(e["body"]["threadId"] for e in stops[4:]) == [1, 2, 3, 4], dap.events
    frames = dap.request("stackTrace", {"threadId": 1})["body"]["stackFrames"]  # rank 0
    assert frames[0]["line"] == 3, frames[0]

    assert dap.request("continue", {"threadId": 3})["success"]
    reply = kc.get_shell_msg(timeout=60)
    assert reply["parent_header"]["msg_id"] == msg_id and reply["content"]["status"] == "ok", reply
    assert dap.request("disconnect", {"restart": False, "terminateDebuggee": False})["success"]
    out = kc.execute_interactive("print(comm.allreduce(rank))", timeout=60)
    assert out["content"]["status"] == "ok"
