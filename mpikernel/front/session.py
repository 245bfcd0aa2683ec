"""One Session per IPython shell or MPI kernel: the world its cells run on, and what goes with it.

The magics (%mpi_start, %%px_mpi, ...) and the MPI kernel are two doors into the same room: both
call `Session.run`, so the checks, the idle watch and tracing apply to every cell whichever door it
came through. The state lives here, not in module globals, so two shells in one process (or
`%load_ext mpikernel` twice) each keep their own world; `Session.of(shell)` finds a shell's.
"""

from __future__ import annotations

import contextlib
import threading
import weakref

from IPython.core.error import UsageError

from mpikernel.cells import diagnose
from mpikernel.cells.runner import run_cell
from mpikernel.cells.types import CellOptions, CellResult, RanksError, RanksInterrupted
from mpikernel.cluster.launcher import LauncherError
from mpikernel.cluster.slurm import SlurmError
from mpikernel.cluster.world import World, WorldError
from mpikernel.front import idle, options as opt
from mpikernel.front.rankview import with_rank_view_checked
from mpikernel.front.screens import default_screen
from mpikernel.trace.run import run_traced

NOT_RUNNING = "no MPI world is running: start one first with %mpi_start (for example %mpi_start -n 4)"


class _Released(Exception):
    """The idle watch released the world just as a cell arrived."""


class Session:
    """The world of one shell or kernel, its idle watch, the progress of a start, the last trace.

    revive: for an owner that keeps its world up itself (the MPI kernel): called with the note of
    an idle release when a cell arrives after one, and expected to start the world again.
    """

    def __init__(self, revive=None):
        self._world: World | None = None
        self._idle: idle.IdleWatch | None = None
        self._released: str | None = None  # why the last world was released for idleness
        self._lock = threading.RLock()
        self.revive = revive
        self.starting: str | None = None  # the last progress line of a start under way
        self.started_with: opt.StartOptions | None = None  # what the last world was started with
        self.last_trace = None  # the Trace of the last traced cell

    # ------------------------------------------------------------------------ which session

    @classmethod
    def of(cls, shell) -> "Session":
        """The session of this IPython shell (made on first use); None: the process's own one."""
        with _REGISTRY_LOCK:
            if shell is None:
                return _NO_SHELL
            if shell not in _BY_SHELL:
                _BY_SHELL[shell] = cls()
            return _BY_SHELL[shell]

    @classmethod
    def current(cls) -> "Session":
        """The session of the running IPython shell (or the process's, outside IPython)."""
        from IPython import get_ipython

        return cls.of(get_ipython())

    def attach(self, shell) -> "Session":
        """Make this the session of `shell` (the MPI kernel's shell gets the kernel's)."""
        with _REGISTRY_LOCK:
            _BY_SHELL[shell] = self
        return self

    # ---------------------------------------------------------------------------- the world

    @property
    def world(self) -> World | None:
        """The running World, or None."""
        w = self._world
        return w if w is not None and w.running else None

    def require_world(self) -> World:
        """The running World; UsageError saying what to do if none runs."""
        w = self.world
        if w is None:
            raise UsageError(self.not_running())
        return w

    @property
    def released(self) -> str | None:
        """Why the last world was released for idleness (None if it was not)."""
        watch = self._idle
        return (watch.released if watch is not None else None) or self._released

    def not_running(self, hint: str = NOT_RUNNING) -> str:
        """What a cell (or %mpi_status, with its own hint) says when no world runs."""
        if self.released and self.revive is not None:
            return f"{self.released}; the next cell starts it again"
        return f"{self.released}; {hint}" if self.released else hint

    @property
    def idle_limit(self) -> float | None:
        return self._idle.limit if self._idle is not None else None

    def start(self, options: opt.StartOptions, progress=None) -> World:
        """Start this session's world (UsageError if one runs already or it cannot start)."""
        if self.world is not None and self.world.lost():
            self.stop()  # its MPI job ended (a rank died): clean up and start afresh
        if self.world is not None:
            raise UsageError(
                f"an MPI world with {self.world.n} ranks is already running; use %mpi_restart, "
                "or %mpi_stop before starting another"
            )
        w = World(n=options.n, hostfile=options.hostfile, env=dict(options.env), launcher=options.launcher,
                  ip=options.ip, slurm=options.slurm)

        def report(text):
            self.starting = text
            if progress is not None:
                progress(text)

        try:
            w.start(progress=report)
        except (WorldError, LauncherError, SlurmError) as e:
            raise UsageError(f"the MPI world did not start: {e}") from None
        finally:
            self.starting = None
        with self._lock:
            self._world, self._released, self.started_with = w, None, options
            if options.idle_timeout is not None:
                watch = idle.IdleWatch(options.idle_timeout, stop=lambda: self._release(watch))
                self._idle = watch
        return w

    def restart(self, progress=None) -> World:
        """Stop the world and start one with the same settings (UsageError if none was started)."""
        if self._world is None or self.started_with is None:
            raise UsageError(NOT_RUNNING)
        options = self.started_with
        self.stop()
        return self.start(options, progress=progress)

    def stop(self) -> bool:
        """Stop the world if one runs; True if there was one."""
        with self._lock:
            w, self._world = self._world, None
            watch, self._idle = self._idle, None
            if watch is not None:
                watch.cancel()
                self._released = watch.released
        if w is None:
            return False
        w.stop()
        return True

    def _release(self, watch) -> None:
        """The idle watch's stop: only its own world (a newer one has a newer watch)."""
        if self._idle is watch:
            self.stop()

    # ------------------------------------------------------------------------------ cells

    def cell_options(self, line: str = "", **overrides) -> CellOptions:
        """CellOptions from a %%px_mpi option line, --ranks checked against this world."""
        w = self.world
        return opt.cell_options(line, size=w.n if w is not None else None, **overrides)

    def run(self, code: str, options: CellOptions | str | None = None, screen=None) -> CellResult:
        """Run `code` on the ranks: the one road of %%px_mpi, %px_mpi and every kernel cell.

        Checks that the world runs and the ranks exist, holds the world in use for the whole cell
        (the idle watch waits), traces it when asked (remembering the trace), and raises
        RanksError / RanksInterrupted, which IPython and ipykernel show as one labelled error.
        A lost or stuck world raises WorldError: the kernel shows it as the cell's error, the
        magics as a UsageError (how each front end presents it is its own business).
        """
        if options is None or isinstance(options, str):
            options = self.cell_options(options or "")
        for attempt in (1, 2):
            if self.revive is not None and self.world is None and self.released:
                self.revive(self.released)
            try:
                with self._in_use() as w:
                    return self._run_on(w, code, options, with_rank_view_checked(screen or default_screen()))
            except _Released:
                if self.revive is None or attempt == 2:
                    raise UsageError(self.not_running()) from None

    @contextlib.contextmanager
    def _in_use(self):
        """The running world, held in use until the cell ends (the idle watch cannot release it)."""
        watch = self._idle
        with watch.in_use() if watch is not None else contextlib.nullcontext():
            if watch is not None and watch.released:  # released just now: its stop is under way
                self._release(watch)
                raise _Released()
            w = self.world
            if w is None:
                raise UsageError(self.not_running())
            yield w

    def _run_on(self, w: World, code: str, options: CellOptions, screen) -> CellResult:
        if options.ranks is not None:
            bad = [r for r in options.ranks if not 0 <= r < w.n]
            if bad:
                raise UsageError(f"rank {bad[0]} does not exist: this world has {w.n} ranks (0-{w.n - 1})")
        hints = self.started_with.hints if self.started_with is not None else None
        with diagnose.hints(hints) if hints is not None else contextlib.nullcontext():
            return self._run_traced_or_not(w, code, options, screen)

    def _run_traced_or_not(self, w: World, code: str, options: CellOptions, screen) -> CellResult:
        """run_cell, or run_traced when the options ask, remembering the trace either way."""
        if not options.trace:
            return run_cell(w, code, options, screen)
        try:
            result = run_traced(w, code, options, screen)
        except (RanksError, RanksInterrupted) as e:
            self.last_trace = e.result.trace
            raise
        self.last_trace = result.trace
        return result


_REGISTRY_LOCK = threading.Lock()
_BY_SHELL: "weakref.WeakKeyDictionary[object, Session]" = weakref.WeakKeyDictionary()
_NO_SHELL = Session()  # scripts and tests that start a world without an IPython shell
