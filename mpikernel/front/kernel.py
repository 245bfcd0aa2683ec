"""MPIKernel: the Jupyter kernel "MPI (N ranks)", where every cell runs on all ranks.

It is an ordinary IPython kernel with the mpikernel extension loaded, plus one rule about cells:

- a cell whose first line is ``%%local`` runs here, in the kernel process, without that line;
- a cell made only of mpikernel's own magics (``%mpi_status``, ``%%px_mpi ...``) runs here too;
- a cell whose first line is ``%%trace [FILE] [options]`` runs on the ranks traced (as
  ``%%px_mpi --trace``; see docs/tracing.md);
- every other cell runs as ``%%px_mpi`` does, through the kernel's ``Session.run``
  (mpikernel/front/session.py: the idle watch, the rank checks, tracing), so the
  ranks' outputs are merged and labelled in one place (mpikernel/cells/merge.py) and a failure on the
  ranks is one exception whose ``_render_traceback_()`` is the merged traceback (ipykernel turns it
  into exactly one ``error`` message and an error reply).

The rule is an IPython input transformer, not a rewrite of the request: the history and
``is_complete`` see what the person typed. Completion and inspection are answered by rank 0's
IPython (``comm.<Tab>`` lists the Comm's methods); while the ranks are not up, or busy, the
kernel's own namespace answers instead of leaving the frontend waiting.

The engines start in a background thread when the kernel starts, so the person reads the banner
and types while they come up; a cell that arrives earlier waits for them and says so.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import re
import sys
import threading
import time

from ipykernel.ipkernel import IPythonKernel
from traitlets import Bool, Enum, Float, Integer, Unicode

from mpikernel.front import stub_complete
from mpikernel._version import __version__
from mpikernel.front import options as opt
from mpikernel.front.kernelspec import DEFAULT_RANKS
from mpikernel.front.screens import KernelScreen, SilentScreen
from mpikernel.front.session import Session

LOCAL_CELL_MAGIC = "%%local"
_MAGIC_NAME = re.compile(r"^\s*(%{1,2})([A-Za-z_][\w]*)")
_HELP = re.compile(r"^\s*(?:(\?{1,2})\s*([A-Za-z_][\w.]*)|([A-Za-z_][\w.]*)\s*(\?{1,2}))\s*$")


def mpi_library() -> str:
    """'MPICH 5.0.2': the MPI we were built with, read without initialising MPI in this process."""
    from mpikernel._libmpi import build_config

    cfg = build_config()
    text = " ".join(x for x in (cfg.get("vendor"), cfg.get("version")) if x)
    if text:
        return text
    try:  # no recorded build (some editable installs): name the launcher's MPI at least
        from mpikernel.cluster.launcher import find_mpiexec, mpiexec_vendor

        return mpiexec_vendor(find_mpiexec())
    except Exception:
        return "an unknown MPI"


def route_cell(code: str, local_line_magics: set[str], local_cell_magics: set[str]) -> tuple[str, str]:
    """('local' | 'magics' | 'ranks' | 'help', what to run) for a cell as typed.

    Pure, so the rule is tested without a kernel. Blank cells and %%local cells (without that
    line) are 'local'; cells made only of mpikernel's magics are 'magics' (they run here too).
    A one-line help request (``comm.bcast?``, ``??x``) gives ('help', 'comm.bcast?'): the kernel
    answers it from rank 0's namespace, where the names live.
    """
    lines = code.splitlines(keepends=True)
    body = [ln for ln in lines if ln.strip() and not ln.lstrip().startswith("#")]
    if not body:
        return "local", code
    if len(body) == 1 and (h := _HELP.match(body[0])):
        name, marks = (h.group(2), h.group(1)) if h.group(2) else (h.group(3), h.group(4))
        return "help", name + marks
    first = body[0].split()
    if first[0] == LOCAL_CELL_MAGIC:
        index = lines.index(body[0])
        return "local", "".join(lines[index + 1 :])
    m = _MAGIC_NAME.match(body[0])
    if m and m.group(1) == "%%" and m.group(2) in local_cell_magics:
        return "magics", code
    if all(
        (mm := _MAGIC_NAME.match(ln)) and mm.group(1) == "%" and mm.group(2) in local_line_magics
        for ln in body
    ):
        return "magics", code
    return "ranks", code


def call_with_one_retry(start, log):
    """start(); an unexpected failure is tried once more, a UsageError (the request itself is
    impossible: no such launcher, too few slots) is not. One transient hiccup while starting
    the ranks must not leave a notebook without them."""
    from IPython.core.error import UsageError

    try:
        return start()
    except UsageError:
        raise
    except Exception as exc:
        log.warning("starting the MPI ranks failed (%r); trying once more", exc)
        return start()


def _rank_complete(code: str, cursor_pos: int) -> dict:
    """Runs on rank 0: what its kernel would answer to a complete_request."""
    from IPython import get_ipython

    return get_ipython().kernel.do_complete(code, cursor_pos)


def _rank_user_expressions(expressions: dict) -> dict:
    """Runs on rank 0: an execute_reply's user_expressions, evaluated in rank 0's namespace."""
    from IPython import get_ipython

    return get_ipython().user_expressions(expressions)


def _rank_inspect(code: str, cursor_pos: int, detail_level: int, omit_sections) -> dict:
    """Runs on rank 0: what its kernel would answer to an inspect_request."""
    from IPython import get_ipython

    return get_ipython().kernel.do_inspect(code, cursor_pos, detail_level, omit_sections)


def _as_calls(code: str) -> list[str]:
    """Lines of a magics-only cell, its cell magic (if any) spelled as the call IPython would make.

    Needed because a line is put in front of the cell, and a cell magic only works on line one.
    """
    lines = code.splitlines(keepends=True)
    for i, line in enumerate(lines):
        if line.strip() and not line.lstrip().startswith("#"):
            if line.lstrip().startswith("%%"):
                name, _, args = line.strip()[2:].partition(" ")
                body = "".join(lines[i + 1 :])
                return [f"get_ipython().run_cell_magic({name!r}, {args.strip()!r}, {body!r})\n"]
            break
    return lines


class _CellRouter:
    """The IPython cleanup transformer that applies MPIKernel.route to executed cells."""

    # IPython skips transformers with side effects in check_complete: is_complete judges the
    # cell as typed, never our rewrite of it.
    has_side_effects = True

    def __init__(self, kernel: "MPIKernel"):
        self.kernel = kernel

    def __call__(self, lines: list[str]) -> list[str]:
        return self.kernel.route(lines)


class MPIKernel(IPythonKernel):
    """An IPython kernel whose cells run on every rank of an MPI world it owns."""

    implementation = "mpikernel"
    implementation_version = __version__

    ranks = Integer(DEFAULT_RANKS, help="number of MPI ranks (engines)").tag(config=True)
    launcher = Enum(opt.LAUNCHERS, default_value="mpiexec", help="how ranks start").tag(config=True)
    hostfile = Unicode("", help="hostfile for the launcher (empty: this host)").tag(config=True)
    autostart = Bool(True, help="start the ranks with the kernel, in the background").tag(config=True)
    ask_rank0_timeout = Float(
        5.0, help="seconds to wait for rank 0 to answer completion/inspection before answering locally"
    ).tag(config=True)
    complete_first_answer = Float(
        0.7, help="seconds after which `comm.`/`MPI.` completion is answered from the type stub if "
        "rank 0 has not answered yet (JupyterLab drops replies slower than 1 s)"
    ).tag(config=True)

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        # the kernel owns its world: after an idle release the next cell starts it again
        self.mpi = Session(revive=self._start_again).attach(self.shell)
        self.shell.extension_manager.load_extension("mpikernel")  # the magics, over self.mpi
        self._routing = False  # True while an execute_request of ours is being run
        self._silent = False  # that request's silent flag
        self.shell.input_transformers_cleanup.insert(0, _CellRouter(self))
        self.shell.register_magic_function(self.local_magic, "cell", "local")
        self._start_lock = threading.Lock()
        self._start_future: concurrent.futures.Future | None = None
        self._start_seconds: float | None = None
        if self.autostart:
            self.start_ranks()

    # ------------------------------------------------------------------ the world (its Session)

    @property
    def world(self):
        """The World of this kernel's Session (the magics in its shell use the same), or None."""
        return self.mpi.world

    def start_ranks(self) -> concurrent.futures.Future:
        """Start the ranks in a background thread (once); the future ends when they are up."""
        with self._start_lock:
            if self._start_future is None:
                self._start_future = concurrent.futures.Future()
                threading.Thread(
                    target=self._start_in_background, name="mpikernel-start", daemon=True
                ).start()
            return self._start_future

    def _start_in_background(self) -> None:
        fut = self._start_future
        t0 = time.perf_counter()
        try:
            options = opt.start_options(self.ranks, launcher=self.launcher, hostfile_path=self.hostfile or None)
            call_with_one_retry(lambda: self.mpi.start(options), self.log)
        except BaseException as exc:  # reported to the first cell that needs the ranks
            self.log.error("starting the MPI ranks failed: %s", exc)
            fut.set_exception(exc)
        else:
            self._start_seconds = time.perf_counter() - t0
            self.log.info("%d MPI ranks up in %.1f s", self.ranks, self._start_seconds)
            fut.set_result(True)

    def wait_for_ranks(self, quiet_failure: bool = False, announce: bool = True) -> None:
        """Block until the background start is over; say so if the person has to wait.

        A failed start is raised once (after that, %mpi_start is the way to try again);
        quiet_failure leaves it to the mpikernel magic that is about to run; announce=False when
        the caller has said it already (one line, not two).
        """
        fut = self._start_future
        if fut is None:
            return
        if not fut.done() and announce:
            print(f"Starting {self.ranks} MPI ranks ...", file=sys.stderr, flush=True)
        try:
            # short waits: a SIGINT may be delivered to another thread, and only the main
            # thread's return to Python code runs the handler (an untimed wait would sleep on)
            while not fut.done():
                concurrent.futures.wait([fut], timeout=0.05)
            fut.result()
        except KeyboardInterrupt:
            raise  # the start goes on; the next cell waits for it again
        except BaseException:
            with self._start_lock:
                self._start_future = None
            if not quiet_failure:
                raise

    def _start_again(self, why: str) -> None:
        """Session.revive: the first cell after an idle release starts the ranks again, saying so."""
        print(f"{why}; starting it again", file=sys.stderr, flush=True)
        with self._start_lock:
            self._start_future = None
        self.start_ranks()
        self.wait_for_ranks(announce=False)

    def run_cell_on_ranks(self, cell: str) -> None:
        """What a routed cell executes: wait for the ranks, then the Session's one road (as %%px_mpi).

        A silent request runs silent on the ranks and shows nothing; rank 0's execute_reply
        payloads (`%load`'s set_next_input, a pager) become this cell's payloads."""
        self.wait_for_ranks()
        label = str(self.cell_number)
        traced = opt.split_trace_cell(cell)
        if traced is None:
            options = self.mpi.cell_options(cell_label=label, silent=self._silent)
        else:  # a "%%trace [FILE] [options]" first line: see docs/tracing.md
            line, header, cell = traced
            options = self.mpi.cell_options(line, cell_label=label, header=header, silent=self._silent)
        screen = SilentScreen() if self._silent else KernelScreen(self.publish_result)
        result = self.mpi.run(cell, options, screen=screen)
        first = min(result.outputs, key=lambda o: o.rank, default=None)
        for payload in first.payload if first is not None else []:
            self.shell.payload_manager.write_payload(payload, single=False)

    @property
    def cell_number(self) -> int:
        """The running cell's n in In[n] (IPython 9 counts the next cell while one runs)."""
        return self.shell.displayhook.prompt_count

    def publish_result(self, content: dict) -> None:
        """One execute_result for the current cell (data and metadata as the ranks produced them)."""
        sys.stdout.flush()
        sys.stderr.flush()
        self.session.send(
            self.iopub_socket,
            "execute_result",
            {"data": content.get("data", {}), "metadata": content.get("metadata") or {},
             "execution_count": self.cell_number},
            parent=self.get_parent(),
            ident=self._topic("execute_result"),
        )

    def local_magic(self, line: str, cell: str) -> None:
        """%%local: run this cell in the kernel process only, not on the MPI ranks.

        For plotting results gathered from the ranks, reading local files, and so on. The kernel
        recognises the line before the cell runs; called any other way, the body runs here too.
        """
        routing, self._routing = self._routing, False  # the body is not to be sent to the ranks
        try:
            self.shell.run_cell(cell, store_history=False)
        finally:
            self._routing = routing

    def page_help(self, request: str) -> None:
        """`name?` / `name??`: rank 0's documentation of name in the pager (locally if rank 0 can't)."""
        name = request.rstrip("?")
        detail = len(request) - len(name) - 1
        reply = None
        if self._rank0_ready():
            try:
                ar = self.world.view([0]).apply_async(_rank_inspect, name, len(name), detail, ())
                (reply,) = ar.get(timeout=self.ask_rank0_timeout)
            except Exception as exc:
                self.log.debug("rank 0 did not answer help for %s: %s", name, exc)
        if reply and reply.get("found"):
            self.shell.payload_manager.write_payload({"source": "page", "data": reply["data"], "start": 0})
        else:
            self.shell.run_line_magic("pinfo2" if detail else "pinfo", name)

    # --------------------------------------------------------------------------------- routing

    def _our_magics(self) -> tuple[set[str], set[str]]:
        """Names of the line and cell magics the mpikernel extension registered in this shell."""
        table = self.shell.magics_manager.lsmagic()
        mine = lambda fn: type(getattr(fn, "__self__", None)).__module__.startswith("mpikernel")  # noqa: E731
        return (
            {n for n, fn in table["line"].items() if mine(fn)},
            {n for n, fn in table["cell"].items() if mine(fn)},
        )

    def route(self, lines: list[str]) -> list[str]:
        """Rewrite a cell as typed into what runs here (see route_cell)."""
        if not self._routing:
            return lines
        magic_names = self._our_magics()
        where, code = route_cell("".join(lines), *magic_names)
        if where == "local":
            return code.splitlines(keepends=True)
        if where == "magics":
            # let a background start finish first (no second world, no "not running")
            return ["get_ipython().kernel.wait_for_ranks(quiet_failure=True)\n"] + _as_calls(code)
        if where == "help":
            return [f"get_ipython().kernel.page_help({code!r})\n"]
        return [f"get_ipython().kernel.run_cell_on_ranks({code!r})\n"]

    async def do_execute(self, code, silent, store_history=True, user_expressions=None,
                         allow_stdin=False, **kwargs):
        """ipykernel's execute, with the cell routed (see route) and the user_expressions
        evaluated where the cell's names live: on rank 0 (here only while the ranks are not up)."""
        self._routing, self._silent = True, bool(silent)
        try:
            reply = await super().do_execute(code, silent, store_history, None, allow_stdin, **kwargs)
        finally:
            self._routing, self._silent = False, False
        if user_expressions and reply.get("status") == "ok":
            answer = await self._ask_rank0(_rank_user_expressions, user_expressions)
            reply["user_expressions"] = answer if answer is not None else self.shell.user_expressions(user_expressions)
        return reply

    # ------------------------------------------------------------- completion and inspection

    def _rank0_ready(self) -> bool:
        return self.world is not None

    async def _ask_rank0(self, func, *args, early=None) -> dict | None:
        """func(*args) on rank 0, or None when rank 0 is not up, busy, or fails to answer in time;
        `early` instead if rank 0 has not answered within complete_first_answer seconds."""
        if not self._rank0_ready():
            return None
        try:
            ar = self.world.view([0]).apply_async(func, *args)
            pending = asyncio.wrap_future(ar)
            if early is not None:
                done, _ = await asyncio.wait({pending}, timeout=self.complete_first_answer)
                if not done:
                    return early
            (answer,) = await asyncio.wait_for(pending, self.ask_rank0_timeout)
            return answer
        except Exception as exc:  # a late or failed answer must not break the frontend
            self.log.debug("rank 0 did not answer %s: %s", func.__name__, exc)
            return None

    @staticmethod
    def _answered_here(code: str, cursor_pos: int) -> bool:
        """Completion/inspection that belongs to the kernel: %%local cells and magic names."""
        if code.lstrip().startswith(LOCAL_CELL_MAGIC):
            return True
        line = code[:cursor_pos].rsplit("\n", 1)[-1].lstrip()
        return line.startswith("%") and " " not in line

    async def do_complete(self, code, cursor_pos):
        if cursor_pos is None:
            cursor_pos = len(code)
        remote = None
        if not self._answered_here(code, cursor_pos):
            # `comm.`/`MPI.` from the stub when rank 0 is not up yet or slow (mpikernel/front/stub_complete.py)
            stub = stub_complete.complete(code, cursor_pos)
            remote = await self._ask_rank0(_rank_complete, code, cursor_pos, early=stub)
            if remote is None and stub is not None:
                return stub
        return remote if remote is not None else super().do_complete(code, cursor_pos)

    async def do_inspect(self, code, cursor_pos, detail_level=0, omit_sections=()):
        if cursor_pos is None:
            cursor_pos = len(code)
        if not self._answered_here(code, cursor_pos):
            remote = await self._ask_rank0(_rank_inspect, code, cursor_pos, detail_level, omit_sections)
            if remote is not None and remote.get("found"):
                return remote
        return super().do_inspect(code, cursor_pos, detail_level, omit_sections)

    def do_history(self, hist_access_type, output, raw, session=0, start=0, stop=None, n=None,
                   pattern=None, unique=False):
        """ipykernel's history (the cells as typed, kept here), except that a range over this
        session names the session by its number, as tail and search do (IPython says 0)."""
        reply = super().do_history(hist_access_type, output, raw, session=session, start=start, stop=stop,
                                   n=n, pattern=pattern, unique=unique)
        if hist_access_type == "range":
            number = self.shell.history_manager.session_number
            reply["history"] = [(s or number, *rest) for s, *rest in reply["history"]]
        return reply

    # --------------------------------------------------------------------------- lifecycle

    @property
    def banner(self) -> str:
        return (
            f"mpikernel {__version__}: every cell runs on {self.ranks} MPI ranks "
            f"({self.world.library if self.world and self.world.library else mpi_library()}, "
            f"launcher {self.launcher}).\n"
            "%%local runs a cell in the kernel process only; %mpi_status shows the ranks.\n"
            + (self.shell.banner if self.shell else "")
        )

    async def do_debug_request(self, msg):
        """The visual debugger runs on the ranks (one thread per rank): mpikernel.front.debugger."""
        if getattr(self, "_rank_debugger", None) is None:
            from mpikernel.front.debugger import RankDebugger

            self._rank_debugger = RankDebugger(self.mpi, self._publish_debug_event, self.log)
        fut = self._start_future  # JupyterLab initializes at once after a restart: wait for the ranks
        if msg.get("command") == "initialize" and fut is not None and not fut.done():
            await asyncio.wait([asyncio.wrap_future(fut)], timeout=self._rank_debugger.START_WAIT)
        return await self._rank_debugger.process(msg)

    async def do_shutdown(self, restart):
        """Stop the engines before the kernel goes (a restart then starts fresh ones)."""
        try:
            self.mpi.stop()
        except Exception as exc:
            self.log.error("stopping the MPI ranks failed: %s", exc)
        return super().do_shutdown(restart)
