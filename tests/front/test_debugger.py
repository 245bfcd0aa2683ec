"""%mpi_debug: a post-mortem pdb on the rank whose cell failed, driven over ipyparallel."""

import pytest
from IPython.core.error import UsageError
from IPython.utils.capture import capture_output

from mpikernel.front.debug_inspect import (KERNEL_REF_BASE, RankVariables, merge_modules, merge_rich,
                                           without_addresses)
from mpikernel.front.debugger import parse_debug_line


def test_parse_debug_line():
    assert parse_debug_line("", 4) == (None, None)
    assert parse_debug_line('2 -c "p x" -c w', 4) == (2, ["p x", "w"])
    for bad, words in [("7", "does not exist"), ("1 2", "unexpected"), ("-c", "needs a pdb command"),
                       ("x", "unexpected")]:
        with pytest.raises(ValueError, match=words):
            parse_debug_line(bad, 4)


def test_variables_panel_rows_merge_the_ranks():
    rows = RankVariables()
    same = {"name": "n", "type": "int", "value": "5"}
    answers = {0: [same, {"name": "x", "type": "int", "value": "0"}],
               1: [same, {"name": "x", "type": "int", "value": "10"}],
               2: [same, {"name": "x", "type": "int", "value": "0"}, {"name": "only", "type": "str", "value": "'a'"}],
               3: None}
    got = {v["name"]: v for v in rows.build(answers)}
    assert got["n"]["value"] == "5" and got["n"]["variablesReference"] == 0
    assert got["rank 3"]["value"].startswith("busy running a cell")
    assert got["x"]["value"] == "[ranks 0,2] 0 | [rank 1] 10" and got["x"]["type"] is None  # JupyterLab shows the value
    kids = rows.children(got["x"]["variablesReference"])
    assert [(k["name"], k["value"]) for k in kids] == [("ranks 0,2", "0"), ("rank 1", "10")]
    assert got["only"]["value"] == "[ranks 0-1] (not defined) | [rank 2] 'a'"
    assert got["n"]["type"] == "int" and rows.owns(got["only"]["variablesReference"])
    assert not rows.owns(7) and rows.children(KERNEL_REF_BASE + 99) == []
    assert without_addresses("<function f at 0x7f3a01> and <A object at 0xAB>") == "<function f> and <A>"
    rows.build({0: [same]})  # a new answer forgets the old children
    assert rows.children(got["x"]["variablesReference"]) == []


def test_rich_views_and_modules_merge_the_ranks():
    five = {"data": {"text/plain": "5"}, "metadata": {}}
    assert merge_rich({0: five, 1: five}) == five
    mixed = merge_rich({0: five, 1: {"data": {"text/plain": "6", "text/html": "<b>6</b>"}, "metadata": {}}, 2: None})
    assert mixed["data"]["text/plain"].startswith("[rank 0]\n5\n[rank 1]\n6\n[rank 2]\nbusy"), mixed
    assert "<h4>[rank 1]</h4><b>6</b>" in mixed["data"]["text/html"]
    assert merge_rich({0: {"data": {}, "metadata": {}}, 1: None}) == {"data": {}, "metadata": {}}
    mods = merge_modules({0: [["a", "/a.py"], ["b", "/b.py"]], 1: [["a", "/a.py"], ["c", "/c.py"]], 2: None},
                         start=1, count=1)
    assert mods == {"modules": [{"id": 1, "name": "b", "path": "/b.py"}], "totalModules": 3}


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


def start_debugging(kc) -> DapClient:
    """What JupyterLab sends when the debugger is switched on: initialize, then attach."""
    dap = DapClient(kc)
    answer = dap.request("initialize", {"clientID": "test", "adapterID": "python", "pathFormat": "path",
                                        "linesStartAt1": True, "columnsStartAt1": True})
    assert answer["success"], answer
    assert dap.request("attach")["success"]
    return dap


def frame_values(dap, frame) -> dict:
    """{name: value} of every scope of one frame, as the panel's Variables list shows them."""
    values = {}
    for scope in dap.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]:
        for v in dap.request("variables", {"variablesReference": scope["variablesReference"]})["body"]["variables"]:
            values.setdefault(v["name"], v["value"])
    return values


def all_ranks_scope(dap, frame) -> dict:
    """{name: row} of the scope the kernel adds to every frame: the stopped ranks' variables, merged."""
    from mpikernel.front.debug_inspect import ALL_RANKS_SCOPE

    (scope,) = [s for s in dap.request("scopes", {"frameId": frame["id"]})["body"]["scopes"]
                if s["name"] == ALL_RANKS_SCOPE]
    rows = dap.request("variables", {"variablesReference": scope["variablesReference"]})["body"]["variables"]
    return {v["name"]: v for v in rows}


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
    dap = start_debugging(kc)
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
    values = frame_values(dap, frames[0])
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


@pytest.mark.mpi
@pytest.mark.kernel
@pytest.mark.timeout(300)
def test_debugger_panel_shows_every_rank_and_stops_in_an_earlier_cells_function(mpi_kernel):
    km, kc = mpi_kernel
    earlier = "def scaled(v):\n    w = v * 3\n    return w\n\nx = rank * 10\nsame = 5\n"
    assert kc.execute_interactive(earlier, timeout=60)["content"]["status"] == "ok"
    dap = start_debugging(kc)

    rows = {v["name"]: v for v in dap.request("inspectVariables")["body"]["variables"]}
    assert rows["same"]["value"] == "5" and rows["same"]["variablesReference"] == 0, rows["same"]
    assert rows["x"]["value"] == "[rank 0] 0 | [rank 1] 10 | [rank 2] 20 | [rank 3] 30", rows["x"]
    kids = dap.request("variables", {"variablesReference": rows["x"]["variablesReference"]})["body"]["variables"]
    assert [(k["name"], k["value"]) for k in kids] == [(f"rank {r}", str(10 * r)) for r in range(4)]
    assert rows["rank"]["value"].startswith("[rank 0] 0 | [rank 1] 1")
    assert "In" not in rows and "np" not in rows and "_i1" not in rows
    assert rows["scaled"]["value"] == "<function scaled>", rows["scaled"]  # no per-rank address: one row
    assert dap.request("richInspectVariables", {"variableName": "same"})["body"]["data"] == {"text/plain": "5"}
    rich = dap.request("richInspectVariables", {"variableName": "x"})["body"]["data"]
    assert rich["text/plain"] == "[rank 0]\n0\n[rank 1]\n10\n[rank 2]\n20\n[rank 3]\n30", rich
    modules = dap.request("modules")["body"]
    names = {m["name"]: m["path"] for m in modules["modules"]}
    assert names["mpikernel.front.debug_inspect"].endswith("debug_inspect.py")
    assert modules["totalModules"] == len(modules["modules"]) > 50

    # a breakpoint in the function of the earlier cell, as JupyterLab sets it: dump, then set
    path = dap.request("dumpCell", {"code": earlier})["body"]["sourcePath"]
    assert dap.request("source", {"source": {"path": path}})["body"]["content"] == earlier
    bp = dap.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": 2}]})
    assert bp["success"] and bp["body"]["breakpoints"][0]["verified"], bp
    msg_id = kc.execute("r = scaled(rank)")
    stops = dap.wait_events("stopped", 4)
    assert sorted(e["body"]["threadId"] for e in stops) == [1, 2, 3, 4], dap.events
    assert dap.request("debugInfo")["body"]["stoppedThreads"] == [1, 2, 3, 4]
    frames = dap.request("stackTrace", {"threadId": 4})["body"]["stackFrames"]  # rank 3
    assert (frames[0]["name"], frames[0]["line"], frames[0]["source"]["path"]) == ("scaled", 2, path), frames
    values = frame_values(dap, frames[0])
    assert values["v"] == "3" and values["x"] == "30" and "w" not in values, values  # rank 3's
    every = all_ranks_scope(dap, frames[0])  # and beside them, every rank's locals where it stopped
    assert every["v"]["value"] == "[rank 0] 0 | [rank 1] 1 | [rank 2] 2 | [rank 3] 3", every
    assert list(every) == ["v"], every  # the function's locals only, as in the rank's own Locals
    kids = dap.request("variables", {"variablesReference": every["v"]["variablesReference"]})["body"]["variables"]
    assert [(k["name"], k["value"]) for k in kids] == [(f"rank {r}", str(r)) for r in range(4)]
    rich = dap.request("richInspectVariables", {"variableName": "v", "frameId": frames[0]["id"]})["body"]
    assert rich["data"]["text/plain"] == "3", rich
    rows = {v["name"]: v for v in dap.request("inspectVariables")["body"]["variables"]}  # stopped: via debugpy
    assert rows["x"]["value"] == "[rank 0] 0 | [rank 1] 10 | [rank 2] 20 | [rank 3] 30", rows
    assert dap.request("continue", {"threadId": 4})["success"]
    reply = kc.get_shell_msg(timeout=60)
    assert reply["parent_header"]["msg_id"] == msg_id and reply["content"]["status"] == "ok", reply

    # pause on raised exceptions: only the rank that raises stops, and exceptionInfo names it
    assert dap.request("setBreakpoints", {"source": {"path": path}, "breakpoints": []})["success"]
    assert dap.request("setExceptionBreakpoints", {"filters": ["raised"]})["success"]
    msg_id = kc.execute("q = 1 / 0 if rank == 2 else rank")
    stops = dap.wait_events("stopped", 5)
    assert stops[4]["body"]["threadId"] == 3 and stops[4]["body"]["reason"] == "exception", stops
    info = dap.request("exceptionInfo", {"threadId": 3})
    assert info["success"] and "ZeroDivisionError" in info["body"]["exceptionId"], info
    assert dap.request("debugInfo")["body"]["stoppedThreads"] == [3]
    every = all_ranks_scope(dap, dap.request("stackTrace", {"threadId": 3})["body"]["stackFrames"][0])
    assert every["ranks 0-1,3"]["value"].startswith("not stopped"), every
    assert dap.request("setExceptionBreakpoints", {"filters": []})["success"]
    assert dap.request("continue", {"threadId": 3})["success"]
    reply = kc.get_shell_msg(timeout=60)
    assert reply["parent_header"]["msg_id"] == msg_id, reply
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "ZeroDivisionError", reply
    assert dap.request("disconnect", {"restart": False, "terminateDebuggee": False})["success"]


@pytest.mark.mpi
@pytest.mark.kernel
@pytest.mark.timeout(300)
def test_interrupt_and_restart_with_a_debug_session_open(mpi_kernel):
    import time

    km, kc = mpi_kernel
    dap = start_debugging(kc)
    code = "a = rank\nb = a + 1\n"  # interrupted while every rank is stopped at a breakpoint
    path = dap.request("dumpCell", {"code": code})["body"]["sourcePath"]
    assert dap.request("setBreakpoints", {"source": {"path": path}, "breakpoints": [{"line": 2}]})["success"]
    msg_id = kc.execute(code)
    assert len(dap.wait_events("stopped", 4)) == 4, dap.events
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=60)
    assert reply["parent_header"]["msg_id"] == msg_id, reply
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "RanksInterrupted", reply
    assert dap.request("debugInfo")["body"]["stoppedThreads"] == []
    assert dap.request("setBreakpoints", {"source": {"path": path}, "breakpoints": []})["success"]

    msg_id = kc.execute("import time\nfor i in range(600):\n    time.sleep(0.1)\n")  # and while running
    deadline = time.monotonic() + 60
    while kc.get_iopub_msg(timeout=60)["msg_type"] != "display_data":  # the rank view: the loop runs
        assert time.monotonic() < deadline
    km.interrupt_kernel()
    reply = kc.get_shell_msg(timeout=60)
    assert reply["parent_header"]["msg_id"] == msg_id, reply
    assert reply["content"]["status"] == "error" and reply["content"]["ename"] == "RanksInterrupted", reply
    assert kc.execute_interactive("print(comm.allreduce(1))", timeout=60)["content"]["status"] == "ok"

    km.restart_kernel(now=True)
    kc.wait_for_ready(timeout=60)
    dap = start_debugging(kc)  # at once, as JupyterLab does: initialize waits for the new ranks
    assert [t["name"] for t in dap.request("threads")["body"]["threads"]] == [f"rank {r}" for r in range(4)]
    rows = {v["name"]: v for v in dap.request("inspectVariables")["body"]["variables"]}
    assert "i" not in rows and rows["size"]["value"] == "4", rows  # the new ranks' namespace
    assert kc.execute_interactive("print(comm.allreduce(1))", timeout=60)["content"]["status"] == "ok"
