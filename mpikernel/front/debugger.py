"""Debugging a rank: `%mpi_debug RANK`, a post-mortem pdb on the traceback of the rank that failed.

A rank has no terminal and no stdin, so IPython's `%debug` cannot run there. Instead each rank
keeps a pdb session on its last traceback (`sys.last_traceback`, which IPython sets when a cell
raises) and is driven one command at a time through ipyparallel's apply: the owner reads a
command (from the person, or from `-c` options), the rank runs it with `Pdb.onecmd` and sends back
what pdb printed. `q` (or EOF) ends the session; `c`/`n`/`s` end it too, since
the failed frame cannot run on.

    %mpi_debug 1                 interactive: (Pdb rank 1) prompts until q
    %mpi_debug 1 -c "p x" -c w   run these commands and stop (scripts, tests, notebooks)
    %mpi_debug                   the lowest rank that has a traceback

The visual debugger (JupyterLab's, speaking the Debug Adapter Protocol over the control
channel's debug_request) is `RankDebugger`: every rank runs debugpy (started on `initialize`),
the kernel holds one DAP connection per rank and presents each rank as one thread ("rank 2",
thread id rank + 1). Breakpoints set in a cell are set on every rank, continue and step apply to
every stopped rank, and frame / variable references carry their rank (a table of ours maps each
to (rank, debugpy's reference)), so selecting rank 2's thread shows rank 2's variables. Pause on
exceptions is set on every rank (the rank that raises stops; `exceptionInfo` names its exception).
Outside a breakpoint the panel's variables, rich views and modules are asked of the ranks and
merged (mpikernel/front/debug_inspect.py). Cells have the same file name on
every rank up to the per-process directory (ipykernel names a cell by a hash of its text, in
/tmp/ipykernel_<pid>/), so paths are translated between the kernel's directory and each rank's.
"""

from __future__ import annotations

import io
import json
import os
import pdb
import queue
import shlex
import socket
import sys
import threading
import time

from mpikernel.front import debug_inspect as inspect_ranks

_SESSION = None  # this rank's PostMortem while one is open


class PostMortem:
    """pdb on one traceback, one command at a time, its output captured."""

    def __init__(self, tb):
        self.out = io.StringIO()
        self.pdb = pdb.Pdb(stdin=io.StringIO(), stdout=self.out, nosigint=True)
        self.pdb.reset()
        self.pdb.setup(None, tb)
        self.pdb.print_stack_entry(self.pdb.stack[self.pdb.curindex])

    def take_output(self) -> str:
        text = self.out.getvalue()
        self.out.seek(0)
        self.out.truncate()
        return text

    def command(self, line: str) -> bool:
        """Run one pdb command; True when the session is over."""
        line = self.pdb.precmd(line)
        return bool(self.pdb.onecmd(line))


def has_traceback() -> bool:
    """Runs on a rank: did a cell fail here (is there something to debug)?"""
    return getattr(sys, "last_traceback", None) is not None


def postmortem(command: str | None) -> tuple[str, bool]:
    """Runs on a rank: None opens a session on the last traceback, a string is a pdb command.

    Returns (what pdb printed, whether the session is over).
    """
    global _SESSION
    if command is None:
        tb = getattr(sys, "last_traceback", None)
        if tb is None:
            return "no cell has failed on this rank: nothing to debug", True
        _SESSION = PostMortem(tb)
        return _SESSION.take_output(), False
    if _SESSION is None:
        return "no debugging session is open on this rank", True
    try:
        done = _SESSION.command(command)
    except Exception as exc:  # pdb reports most errors itself; anything else ends the session
        done = True
        _SESSION.out.write(f"*** {type(exc).__name__}: {exc}\n")
    text = _SESSION.take_output()
    if done:
        _SESSION = None
    return text, done


def parse_debug_line(line: str, size: int) -> tuple[int | None, list[str] | None]:
    """'%mpi_debug 1 -c "p x" -c w' -> (1, ['p x', 'w']); ValueError with a sentence when wrong."""
    words = shlex.split(line or "")
    rank, commands = None, None
    i = 0
    while i < len(words):
        w = words[i]
        if w in ("-c", "--command"):
            if i + 1 >= len(words):
                raise ValueError(f"{w} needs a pdb command after it, like -c \"p x\"")
            commands = (commands or []) + [words[i + 1]]
            i += 2
            continue
        if rank is not None or not w.isdigit():
            raise ValueError(f"unexpected {w!r}: write %mpi_debug RANK [-c COMMAND ...]")
        rank = int(w)
        if rank >= size:
            raise ValueError(f"rank {rank} does not exist: this world has {size} ranks (0-{size - 1})")
        i += 1
    return rank, commands


def debug_rank(world, line: str, ask=input, show=print) -> None:
    """%mpi_debug: pick the rank, open pdb there, relay commands until the session ends."""
    rank, commands = parse_debug_line(line, world.n)
    if rank is None:
        has = world.view().apply_sync(has_traceback)
        failed = [r for r, yes in enumerate(has) if yes]
        if not failed:
            raise ValueError("no cell has failed on any rank: nothing to debug")
        rank = failed[0]
    view = world.view([rank])
    text, done = view.apply_sync(postmortem, None)[0]
    show(f"[rank {rank}] post-mortem debugger; pdb commands, q to quit")
    show(text.rstrip("\n"))
    script = list(commands) if commands is not None else None
    while not done:
        if script is not None:
            cmd = script.pop(0) if script else "q"
        else:
            try:
                cmd = ask(f"(Pdb rank {rank}) ")
            except (EOFError, KeyboardInterrupt):
                cmd = "q"
        text, done = view.apply_sync(postmortem, cmd)[0]
        if script is not None:
            show(f"(Pdb rank {rank}) {cmd}")
        if text.strip():
            show(text.rstrip("\n"))


# ------------------------------------------------------------------ the visual debugger: rank side

_DEBUGPY = None  # (host, port) of this rank's debugpy adapter once started


def start_rank_debugpy() -> dict:
    """Runs on a rank: start debugpy (once), keep our service threads out of its reach, and keep
    leading empty lines of cells so line numbers match the frontend's. Returns where to connect."""
    global _DEBUGPY
    import debugpy
    from ipykernel.compiler import get_tmp_directory

    if _DEBUGPY is None:
        for t in threading.enumerate():  # a stop at a breakpoint must not freeze status/interrupt
            if t.name.startswith("mpikernel-"):
                t.pydev_do_not_trace = True
                t.is_pydev_daemon_thread = True
        _DEBUGPY = debugpy.listen(("127.0.0.1", 0))
        from IPython import get_ipython

        shell = get_ipython()
        transforms = shell.input_transformer_manager.cleanup_transforms
        from IPython.core.inputtransformer2 import leading_empty_lines

        if leading_empty_lines in transforms:
            transforms.remove(leading_empty_lines)
    host, port = _DEBUGPY
    os.makedirs(get_tmp_directory(), exist_ok=True)
    return {"host": host, "port": int(port), "prefix": get_tmp_directory() + os.sep}


def write_cell_file(path: str, code: str) -> None:
    """The cell's source where a rank's debugpy looks for it (its /tmp/ipykernel_<pid>)."""
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        f.write(code)


# ------------------------------------------------------------------ the visual debugger: kernel side


class DapConnection:
    """One Debug Adapter Protocol connection (to one rank's debugpy), answers matched by seq."""

    def __init__(self, host, port, on_event, timeout=30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.sock.settimeout(None)
        self.on_event = on_event
        self.timeout = timeout
        self._seq = 0
        self._lock = threading.Lock()
        self._pending: dict[int, queue.Queue] = {}
        self.events: dict[str, threading.Event] = {"initialized": threading.Event()}
        self._reader = threading.Thread(target=self._read, name="mpikernel-dap", daemon=True)
        self._reader.start()

    def send(self, command, arguments=None) -> int:
        """Send a request; its seq (wait for the answer with `answer(seq)`)."""
        with self._lock:
            self._seq += 1
            seq = self._seq
            self._pending[seq] = queue.Queue(1)
            body = json.dumps({"seq": seq, "type": "request", "command": command,
                               "arguments": arguments or {}}).encode()
            self.sock.sendall(b"Content-Length: %d\r\n\r\n" % len(body) + body)
        return seq

    def answer(self, seq, timeout=None) -> dict:
        try:
            return self._pending[seq].get(timeout=timeout or self.timeout)
        except queue.Empty:
            return {"success": False, "message": "the rank's debugger did not answer", "body": {}}
        finally:
            self._pending.pop(seq, None)

    def request(self, command, arguments=None, timeout=None) -> dict:
        return self.answer(self.send(command, arguments), timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _read(self):
        buf = b""
        while True:
            try:
                chunk = self.sock.recv(65536)
            except OSError:
                return
            if not chunk:
                return
            buf += chunk
            while True:
                head, sep, rest = buf.partition(b"\r\n\r\n")
                if not sep:
                    break
                length = int(head.split(b"Content-Length:")[1].strip().split()[0])
                if len(rest) < length:
                    break
                msg, buf = json.loads(rest[:length]), rest[length:]
                if msg.get("type") == "response":
                    q = self._pending.get(msg.get("request_seq"))
                    if q is not None:
                        q.put(msg)
                elif msg.get("type") == "event":
                    ev = self.events.get(msg.get("event"))
                    if ev is not None:
                        ev.set()
                    self.on_event(msg)


def _service_paths() -> list[str]:
    """Where the code that runs a cell on a rank lives (mpikernel, ipyparallel, IPython, ipykernel):
    not the person's code, so steps and pause on exceptions do not stop in it (an editable
    mpikernel is outside site-packages, where justMyCode alone would count it as user code)."""
    import importlib.util

    paths = []
    for name in ("mpikernel", "ipyparallel", "IPython", "ipykernel", "zmq", "tornado"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            paths.extend(spec.submodule_search_locations)
    return paths


class RankDebugger:
    """The kernel's side of the visual debugger: one DAP session per rank, shown as threads."""

    STEPS = ("continue", "next", "stepIn", "stepOut", "pause")
    START_WAIT = 120.0  # seconds `initialize` waits for ranks that are still starting

    def __init__(self, session, publish_event, log):
        self.session = session  # the kernel's Session: whose world the ranks are
        self.publish = publish_event
        self.log = log
        self.world = None
        self.conns: dict[int, DapConnection] = {}
        self.prefixes: dict[int, str] = {}
        self.main_thread: dict[int, int] = {}
        self.stopped: set[int] = set()  # ranks stopped now
        self.breakpoints: dict[str, list] = {}
        self.started = False
        self.explorer = inspect_ranks.RankVariables()  # inspectVariables' rows and their children
        self._refs: list[tuple[int, int]] = []  # our reference - 1 -> (rank, debugpy's reference)
        self._ref_of: dict[tuple[int, int], int] = {}

    # ids: debugpy's frame and variables references are id()s (near 2**47), so a reference of
    # rank r is a small number of ours, looked up in a table (arithmetic would pass 2**53, where
    # the frontend's JavaScript numbers stop being exact, from 64 ranks on)
    def _enc(self, local, rank):
        if not local:
            return 0
        key = (rank, local)
        if key not in self._ref_of:
            self._refs.append(key)
            self._ref_of[key] = len(self._refs)
        return self._ref_of[key]

    def _dec(self, ref):
        if not 0 < ref <= len(self._refs):
            raise DebugError(f"unknown frame or variables reference {ref} (the ranks moved on?)")
        return self._refs[ref - 1]

    @staticmethod
    def kernel_prefix():
        from ipykernel.compiler import get_tmp_directory

        return get_tmp_directory() + os.sep

    def _to_rank(self, path, rank):
        kp = self.kernel_prefix()
        return self.prefixes[rank] + path[len(kp):] if path and path.startswith(kp) else path

    def _from_rank(self, path, rank):
        rp = self.prefixes.get(rank, "")
        return self.kernel_prefix() + path[len(rp):] if rp and path and path.startswith(rp) else path

    # ------------------------------------------------------------------ requests
    async def process(self, msg) -> dict:
        cmd = msg.get("command")
        try:
            handler = getattr(self, "dap_" + cmd, None)
            if cmd in self.STEPS:
                body = self._step(msg)
            elif handler is not None:
                body = handler(msg)
            elif self.started:
                body = self._forward_by_thread(msg)
            else:
                return self._reply(msg, success=False, message="the debugger has not started")
        except DebugError as e:
            return self._reply(msg, success=False, message=str(e))
        if isinstance(body, tuple):  # (success, message)
            return self._reply(msg, success=body[0], message=body[1])
        return self._reply(msg, body=body)

    @staticmethod
    def _reply(msg, body=None, success=True, message=None):
        rep = {"type": "response", "request_seq": msg.get("seq"), "seq": msg.get("seq", 0) + 1,
               "command": msg.get("command"), "success": success, "body": body or {}}
        if message:
            rep["message"] = message
        return rep

    def dap_initialize(self, msg):
        world = self.session.world
        if world is None:
            raise DebugError("the MPI ranks are not running")
        if self.started and world is self.world:
            return self.capabilities
        for c in self.conns.values():  # a restarted world: its ranks are new processes
            c.close()
        self.conns.clear()
        self.stopped.clear()
        self.world = world
        try:
            infos = self.world.view().apply_async(start_rank_debugpy).get(timeout=60)
        except Exception as e:
            raise DebugError(f"debugpy did not start on the ranks (are they busy?): {e}") from None
        for rank, info in enumerate(infos):
            self.prefixes[rank] = info["prefix"]
            conn = DapConnection(info["host"], info["port"], lambda ev, r=rank: self._on_event(r, ev))
            self.conns[rank] = conn
        answers = {r: c.request("initialize", msg.get("arguments")) for r, c in self.conns.items()}
        bad = [r for r, a in answers.items() if not a.get("success")]
        if bad:
            raise DebugError(f"debugpy did not start on rank {bad[0]}")
        self.capabilities = answers[0].get("body") or {}
        self.started = True
        return self.capabilities

    def dap_attach(self, msg):
        seqs = {}
        for r, c in self.conns.items():
            args = dict(msg.get("arguments") or {})
            args["connect"] = {"host": "127.0.0.1", "port": c.sock.getpeername()[1]}
            args["justMyCode"] = True
            args["rules"] = [{"path": p, "include": False} for p in _service_paths()]
            seqs[r] = c.send("attach", args)
        for r, c in self.conns.items():
            if not c.events["initialized"].wait(c.timeout):
                raise DebugError(f"the debugger on rank {r} did not initialise")
            c.request("configurationDone")
            c.answer(seqs[r])
            threads = c.request("threads").get("body", {}).get("threads", [])
            main = [t["id"] for t in threads if t.get("name") == "MainThread"]
            self.main_thread[r] = main[0] if main else (threads[0]["id"] if threads else 1)
        return {}

    def dap_configurationDone(self, msg):
        return {}

    def dap_debugInfo(self, msg):
        from ipykernel.compiler import get_tmp_hash_seed

        return {
            "isStarted": self.started, "hashMethod": "Murmur2", "hashSeed": get_tmp_hash_seed(),
            "tmpFilePrefix": self.kernel_prefix(), "tmpFileSuffix": ".py",
            "breakpoints": [{"source": k, "breakpoints": v} for k, v in self.breakpoints.items()],
            "stoppedThreads": sorted(r + 1 for r in self.stopped), "richRendering": True,
            "exceptionPaths": ["Python Exceptions"], "copyToGlobals": False,
        }

    def dap_dumpCell(self, msg):
        from ipykernel.compiler import get_file_name

        code = msg["arguments"]["code"]
        path = get_file_name(code)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w", encoding="utf-8") as f:
            f.write(code)
        if self.started:  # debugpy on each rank reads its own copy (ranks run on this host)
            for r in self.conns:
                write_cell_file(self._to_rank(path, r), code)
        return {"sourcePath": path}

    def dap_source(self, msg):
        path = msg["arguments"]["source"]["path"]
        try:
            with open(path, encoding="utf-8") as f:
                return {"content": f.read()}
        except OSError:
            return (False, "source unavailable")

    def dap_setBreakpoints(self, msg):
        args = msg["arguments"]
        path = args["source"]["path"]
        answers = {}
        for r, c in self.conns.items():
            a = dict(args, source=dict(args["source"], path=self._to_rank(path, r)))
            answers[r] = c.request("setBreakpoints", a)
        first = answers[0].get("body", {}).get("breakpoints", [])
        for bp in first:
            if "source" in bp and "path" in bp["source"]:
                bp["source"]["path"] = self._from_rank(bp["source"]["path"], 0)
        self.breakpoints[path] = [{"line": bp["line"]} for bp in first if "line" in bp]
        return {"breakpoints": first}

    def dap_threads(self, msg):
        n = self.world.n if self.world else 0
        return {"threads": [{"id": r + 1, "name": f"rank {r}"} for r in range(n)]}

    def dap_stackTrace(self, msg):
        args = dict(msg["arguments"])
        rank = args["threadId"] - 1
        args["threadId"] = self.main_thread[rank]
        body = self._checked(self.conns[rank].request("stackTrace", args), rank)
        for fr in body.get("stackFrames", []):
            fr["id"] = self._enc(fr["id"], rank)
            if fr.get("source", {}).get("path"):
                fr["source"]["path"] = self._from_rank(fr["source"]["path"], rank)
        return body

    def dap_scopes(self, msg):
        rank, local = self._dec(msg["arguments"]["frameId"])
        body = self._checked(self.conns[rank].request("scopes", {"frameId": local}), rank)
        for sc in body.get("scopes", []):
            sc["variablesReference"] = self._enc(sc.get("variablesReference", 0), rank)
        body.setdefault("scopes", []).append(self._all_ranks_scope())
        return body

    def _all_ranks_scope(self) -> dict:
        """A scope of every stopped rank's top-frame locals, merged: JupyterLab shows the frames
        of one thread only (the first rank that stopped), this shows the others' values beside it."""
        stopped = sorted(r for r in self.stopped if r in self.conns)
        answers = {r: None for r in range(self.world.n)}
        answers.update({r: self._top_frame_locals(r) for r in stopped})
        rows = self.explorer.build(answers, busy_text=inspect_ranks.NOT_STOPPED)
        return {"name": inspect_ranks.ALL_RANKS_SCOPE, "variablesReference": self.explorer.keep(rows),
                "expensive": False}

    def dap_variables(self, msg):
        args = dict(msg["arguments"])
        if self.explorer.owns(args["variablesReference"]):  # a row of inspectVariables' answer
            return {"variables": self.explorer.children(args["variablesReference"])}
        if not self.stopped:
            return {"variables": []}
        rank, args["variablesReference"] = self._dec(args["variablesReference"])
        body = self._checked(self.conns[rank].request("variables", args), rank)
        body["variables"] = [v for v in body.get("variables", [])
                             if inspect_ranks.accept_variable(v.get("name", ""))]
        for v in body["variables"]:
            v["variablesReference"] = self._enc(v.get("variablesReference", 0), rank)
        return body

    def dap_evaluate(self, msg):
        args = dict(msg["arguments"])
        if "frameId" not in args:
            return (False, "select a rank's frame to evaluate in")
        rank, args["frameId"] = self._dec(args["frameId"])
        body = self._checked(self.conns[rank].request("evaluate", args), rank)
        body["variablesReference"] = self._enc(body.get("variablesReference", 0), rank)
        return body

    def dap_inspectVariables(self, msg):
        """The variables panel outside a breakpoint: every rank's namespace, merged."""
        return {"variables": self.explorer.build(self._ask_ranks("rank_variables"))}

    def dap_richInspectVariables(self, msg):
        """The rich viewer: NAME's mime bundle in the selected rank's frame, or merged over the ranks."""
        args = msg.get("arguments") or {}
        name = args.get("variableName", "")
        if not name.isidentifier():  # ipykernel's answer for the panel's group rows
            if name in inspect_ranks.GROUP_ROWS:
                return {"data": {}, "metadata": {}}
            return (False, f"{name!r} is not a variable name")
        if "frameId" in args and self.stopped:
            rank, local = self._dec(args["frameId"])
            code = ("__import__('json').dumps(dict(zip(('data', 'metadata'), "
                    f"get_ipython().display_formatter.format({name}))), default=str)")
            return self._evaluated(rank, code, local) or {"data": {}, "metadata": {}}
        return inspect_ranks.merge_rich(self._ask_ranks("rank_rich", (name,)))

    def dap_modules(self, msg):
        args = msg.get("arguments") or {}
        return inspect_ranks.merge_modules(self._ask_ranks("rank_modules"), args.get("startModule", 0),
                                           args.get("moduleCount"))

    def dap_setExceptionBreakpoints(self, msg):
        """Pause on exceptions: on every rank, so the rank that raises is the one that stops."""
        if not self.started:
            return (False, "the debugger has not started")
        answers = {r: c.request(msg["command"], msg.get("arguments")) for r, c in self.conns.items()}
        return self._checked(answers[0], 0)

    ASK_TIMEOUT = 3.0  # seconds a busy rank has to answer the panel before it is shown as busy

    def _ask_ranks(self, function, args=()) -> dict:
        """{rank: debug_inspect.FUNCTION(*ARGS) run there, or None if it is busy}: stopped ranks
        through their debugpy, the others over ipyparallel (all asked at once)."""
        world = self.session.world
        if world is None:
            raise DebugError("the MPI ranks are not running")
        stopped = [r for r in range(world.n) if r in self.stopped and r in self.conns]
        pending = {r: world.view([r]).apply_async(getattr(inspect_ranks, function), *args)
                   for r in range(world.n) if r not in stopped}
        out = {r: self._evaluated(r, inspect_ranks.evaluate_expression(function, args)) for r in stopped}
        deadline = time.monotonic() + self.ASK_TIMEOUT
        for r, ar in pending.items():
            try:
                out[r] = ar.get(timeout=max(0.05, deadline - time.monotonic()))[0]
            except Exception as exc:  # busy (a cell runs there) or failed: shown as busy
                self.log.debug("rank %d did not answer %s: %s", r, function, exc)
                out[r] = None
        return dict(sorted(out.items()))

    def _top_frame_locals(self, rank) -> list[dict] | None:
        """[{name, type, value}] of the first scope (Locals) of a stopped rank's top frame, as its
        debugpy lists them; None when it does not answer."""
        conn = self.conns[rank]
        try:
            trace = self._checked(conn.request("stackTrace", {"threadId": self.main_thread[rank],
                                                              "startFrame": 0, "levels": 1}), rank)
            scopes = self._checked(conn.request("scopes", {"frameId": trace["stackFrames"][0]["id"]}), rank)
            ref = scopes["scopes"][0]["variablesReference"]
            rows = self._checked(conn.request("variables", {"variablesReference": ref}), rank)["variables"]
        except (DebugError, KeyError, IndexError) as exc:
            self.log.warning("rank %d did not list its frame's variables: %s", rank, exc)
            return None
        return [{"name": v["name"], "type": v.get("type"),
                 "value": inspect_ranks.without_addresses(v.get("value", ""))} for v in rows
                if inspect_ranks.accept_variable(v["name"]) and v.get("type") != "module"
                and v["name"] not in inspect_ranks.GROUP_ROWS]

    def _evaluated(self, rank, expression, frame=None):
        """json.loads of EXPRESSION (a JSON string) evaluated in a stopped rank's FRAME (its top one
        by default), or None when the rank's debugpy cannot evaluate it. The rank sends the JSON as
        hex digits, so debugpy's repr of it (quoted or not) is read without evaluating anything."""
        conn = self.conns[rank]
        try:
            if frame is None:
                trace = self._checked(conn.request("stackTrace", {"threadId": self.main_thread[rank],
                                                                  "startFrame": 0, "levels": 1}), rank)
                frame = trace["stackFrames"][0]["id"]
            hexed = f"({expression}).encode().hex()"
            body = self._checked(conn.request("evaluate", {"expression": hexed, "frameId": frame,
                                                           "context": "clipboard"}), rank)
            return json.loads(bytes.fromhex(body["result"].strip("'\"")).decode())
        except (DebugError, KeyError, IndexError, ValueError, SyntaxError) as exc:
            self.log.warning("rank %d could not evaluate for the debugger panel: %s", rank, exc)
            return None

    def _step(self, msg):
        """continue / next / stepIn / stepOut / pause: on every rank (stopped ones, or all for pause)."""
        cmd = msg["command"]
        ranks = sorted(self.conns) if cmd == "pause" else sorted(self.stopped)
        for r in ranks:
            if cmd != "pause":  # before the request: the rank's next "stopped" may come at once
                self.stopped.discard(r)
            self.conns[r].request(cmd, {"threadId": self.main_thread[r]})
        return {"allThreadsContinued": True} if cmd == "continue" else {}

    def dap_disconnect(self, msg):
        for r, c in self.conns.items():
            try:
                c.request("disconnect", {"restart": False, "terminateDebuggee": False}, timeout=5)
            finally:
                c.close()
        self.conns.clear()
        self.stopped.clear()
        self.breakpoints.clear()
        self._refs.clear()
        self._ref_of.clear()
        self.started = False  # debugpy stays listening on the ranks; initialize reconnects
        return {}

    def _forward_by_thread(self, msg):
        args = dict(msg.get("arguments") or {})
        rank = args.get("threadId", 1) - 1
        if "threadId" in args:
            args["threadId"] = self.main_thread[rank]
        return self._checked(self.conns[rank].request(msg["command"], args), rank)

    @staticmethod
    def _checked(answer, rank):
        if not answer.get("success", False):
            raise DebugError(f"rank {rank}: {answer.get('message') or 'request failed'}")
        return answer.get("body") or {}

    # ------------------------------------------------------------------ events
    def _on_event(self, rank, ev):
        name = ev.get("event")
        body = dict(ev.get("body") or {})
        if name in ("initialized", "thread", "process", "module", "loadedSource", "debugpyWaitingForServer"):
            return  # the kernel's own business, or per-process noise
        if name == "stopped":
            self.stopped.add(rank)
            body.update(threadId=rank + 1, allThreadsStopped=False)
        elif name == "continued":
            self.stopped.discard(rank)
            body.update(threadId=rank + 1, allThreadsContinued=False)
        elif name == "output":
            body["output"] = f"[rank {rank}] {body.get('output', '')}"
        self.publish({"type": "event", "event": name, "seq": ev.get("seq", 0), "body": body})


class DebugError(Exception):
    """A debug request that cannot be served, in a sentence for the frontend."""
