"""The MPI magics, and the Python entry points the MPI kernel and users call.

`%load_ext mpikernel` registers:

    %mpi_start [-n 4] [--launcher mpiexec|slurm] [--hostfile F] [--env K=V ...] [--ip ADDR]
               [--partition P] [--time T] [--account A] [--nodes N] [--extra "..."]   (Slurm)
               [--idle-timeout 30m]                         (stop the ranks after 30 idle minutes)
    %mpi_stop   %mpi_restart   %mpi_status
    %%px_mpi [--ranks 0,2-3] [--timeout S] [--no-collapse] [--grace S]     (cell on the ranks)
             [--trace[=FILE.json|.png|.svg]] [--trace-capacity N]          (draw its MPI calls)
    %px_mpi [options] statement                                           (one line on the ranks)
    %mpi_push name ...   %mpi_pull name [--ranks R]                       (copy variables)
    %mpi_debug [RANK] [-c CMD ...]                                        (pdb on a failed rank)
    %px_diff NAME   %px_where   %mpi_rank_view [off|on|SECONDS]            (seeing the ranks)

The magics are thin adapters over their shell's `mpikernel.front.session.Session` (the world, its
idle watch, `Session.run` for every cell, the MPI kernel's cells included); options are parsed in
`mpikernel.front.options`. The module functions below (`world()`, `start_world()`, ...) act on the
session of the running IPython shell, for scripts, tests and notebooks.
"""

from __future__ import annotations

import sys
import time

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class

from mpikernel.cells.types import CellOptions, CellResult, RanksError, RanksInterrupted
from mpikernel.cluster.world import World, WorldError
from mpikernel.front import options as opt
from mpikernel.front.session import Session
from mpikernel.notation import format_bytes

__all__ = [
    "MPIMagics", "session", "world", "current_world", "start_world", "stop_world", "run_cell_on_ranks",
    "cell_options", "CellOptions", "CellResult", "RanksError", "RanksInterrupted",
]


# --------------------------------------------- Python API: the session of the current shell


def session(shell=None) -> Session:
    """The Session of `shell`, or of the running IPython shell (the process's outside IPython)."""
    return Session.of(shell) if shell is not None else Session.current()


def current_world() -> World | None:
    """The running World of this shell, or None."""
    return session().world


def world() -> World:
    """The running World (push/pull/scatter/gather, status, interrupt); UsageError if none runs."""
    return session().require_world()


def start_world(n=4, launcher="mpiexec", hostfile=None, env=None, progress=None, ip=None, slurm=None,
                idle_timeout=None) -> World:
    """Start this shell's world (UsageError if one runs already or the request is impossible).

    idle_timeout: '30m', '90s', '2h' or seconds; default $MPIKERNEL_IDLE_TIMEOUT, else none.
    """
    options = opt.start_options(n, launcher, hostfile, env, ip, slurm, idle_timeout)
    return session().start(options, progress=progress)


def stop_world() -> bool:
    """Stop this shell's world if one runs; True if there was one."""
    return session().stop()


def cell_options(line: str = "", **overrides) -> CellOptions:
    """CellOptions from an option line like '--ranks 0,2 --timeout 5' (UsageError when wrong)."""
    return session().cell_options(line, **overrides)


def run_cell_on_ranks(code: str, options: CellOptions | str | None = None, shell=None) -> CellResult:
    """Run `code` on the ranks as `%%px_mpi` does (Session.run; options: CellOptions, an option
    line like '--ranks 0,2', or None). The cell is labelled In[n] of `shell` when given."""
    s = session(shell)
    if not isinstance(options, CellOptions):
        options = s.cell_options(options or "")
    if shell is not None and options.cell_label is None:
        options.cell_label = _cell_number(shell)
    try:
        return s.run(code, options)
    except WorldError as e:  # lost or stuck: one sentence that says what to do, no Python traceback
        raise UsageError(str(e)) from None


def _cell_number(shell) -> str | None:
    """The In[n] number of the cell running now (shell.execution_count is ahead by one in ipykernel 7)."""
    try:
        n = len(shell.history_manager.input_hist_raw) - 1
    except AttributeError:
        n = 0
    if n < 1:
        n = getattr(shell, "execution_count", 0) or 0
    return str(n) if n else None


# --------------------------------------------------------------------------------- progress


class _Progress:
    """One updating line: a display area in a notebook, a carriage-return line in a terminal."""

    def __init__(self, shell):
        self.notebook = shell is not None and getattr(shell, "kernel", None) is not None
        self.handle = None
        self.width = 0

    def __call__(self, text):
        if self.notebook:
            from IPython.display import display

            if self.handle is None:
                self.handle = display({"text/plain": text}, raw=True, display_id=True)
            else:
                self.handle.update({"text/plain": text}, raw=True)
        else:
            sys.stdout.write("\r" + text.ljust(self.width))
            sys.stdout.flush()
            self.width = len(text)

    def done(self, text):
        if self.notebook:
            if self.handle is not None:
                self.handle.update({"text/plain": text}, raw=True)
            else:
                print(text)
        else:
            sys.stdout.write("\r" + text.ljust(self.width) + "\n")
            sys.stdout.flush()


def status_table(rows) -> str:
    """The text %mpi_status prints: one line per rank."""
    from mpikernel.cells.merge import describe_where

    lines = [f"{'rank':>4}  {'state':<5}  {'host':<12} {'pid':>7}  {'memory':>9}  where"]
    for row in rows:
        st = row["status"]
        if not row["alive"]:
            state = "dead"
            st = {"death": row.get("death")} if row.get("death") else None
        elif st is None:
            state = "busy"  # alive but not answering: holding the interpreter in a long call
        else:
            state = "busy" if row["busy"] else "idle"
        where = describe_where(st) if row["alive"] and (st is None or row["busy"]) else ""
        where = (st or {}).get("death") or where
        lines.append(f"{row['rank']:>4}  {state:<5}  {row['host'][:12]:<12} {row['pid']:>7}  "
                     f"{'?' if row['rss'] is None else format_bytes(row['rss']):>9}  {where}".rstrip())
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- magics


@magics_class
class MPIMagics(Magics):
    """%mpi_start, %mpi_stop, %mpi_restart, %mpi_status, %%px_mpi / %px_mpi, %mpi_push, %mpi_pull,
    %mpi_debug, %px_diff, %px_where, %mpi_rank_view: each one a few lines over its shell's Session."""

    def __init__(self, shell=None, session: Session | None = None, **kwargs):
        super().__init__(shell=shell, **kwargs)
        self.session = session if session is not None else Session.of(shell)

    @opt.start_arguments
    @line_magic
    def mpi_start(self, line=""):
        """Start N MPI ranks (one mpiexec job, or one Slurm job/step) with MPI, comm, rank, size and np predefined."""
        options = opt.parse_start_line(line)
        progress = _Progress(self.shell)
        t0 = time.monotonic()
        w = self.session.start(options, progress=progress)
        progress.done(_ready_line(w, time.monotonic() - t0))

    @line_magic
    def mpi_stop(self, line=""):
        """Stop the MPI world (controller, mpiexec and every rank)."""
        if line.strip():
            raise UsageError("%mpi_stop takes no arguments")
        print("MPI world stopped" if self.session.stop() else "no MPI world was running")

    @line_magic
    def mpi_restart(self, line=""):
        """Stop the world and start it again with the same ranks and settings."""
        if line.strip():
            raise UsageError("%mpi_restart takes no arguments (use %mpi_stop and %mpi_start to change them)")
        progress = _Progress(self.shell)
        t0 = time.monotonic()
        w = self.session.restart(progress=progress)
        progress.done(_ready_line(w, time.monotonic() - t0, verb="restarted"))

    @line_magic
    def mpi_status(self, line=""):
        """Ranks alive, busy or idle, host, pid and memory."""
        w = self.session.world
        if w is None:
            print(self.session.not_running("no MPI world is running (start one with %mpi_start)"))
            return
        if w.lost():
            print(f"MPI world: {w.n} ranks, all gone: {w.lost()}")
            print(status_table(w.status()))
            return
        try:
            rows = w.status()
        except WorldError as e:
            raise UsageError(str(e)) from None
        print(f"MPI world: {w.n} ranks, {w.library or 'MPI'}")
        print(status_table(rows))

    @opt.cell_arguments
    @line_cell_magic
    def px_mpi(self, line="", cell=None):
        """Run the cell (or the statement after the options) on the MPI ranks; output merged by rank."""
        if cell is None:
            opts_line, code = opt.split_line_options(line)
            if not code.strip():
                raise UsageError("%px_mpi needs a statement to run, like %px_mpi print(rank)")
            options = self.session.cell_options(opts_line)
        else:
            options = self.session.cell_options(line, header=f"%%px_mpi {line}".rstrip())
            code = cell
        self.run_cell_on_ranks(code, options)

    def run_cell_on_ranks(self, code, options=None):
        """Run `code` like %%px_mpi, labelled with this shell's cell number (see run_cell_on_ranks)."""
        return run_cell_on_ranks(code, options, shell=self.shell)

    @line_magic
    def mpi_push(self, line=""):
        """Copy variables of this session to every rank: %mpi_push x y."""
        names = line.split()
        if not names:
            raise UsageError("name the variables to copy to the ranks, like %mpi_push x y")
        ns = self.shell.user_ns
        missing = [n for n in names if n not in ns]
        if missing:
            raise UsageError(f"{missing[0]!r} is not defined here, so it cannot be copied to the ranks")
        self.session.require_world().push({n: ns[n] for n in names})

    @line_magic
    def mpi_pull(self, line=""):
        """Fetch a variable from the ranks: %mpi_pull x -> [x on rank 0, x on rank 1, ...]."""
        opts, rest = opt.split_line_options(line)
        names = rest.split()
        if len(names) != 1:
            raise UsageError("name one variable to fetch from the ranks, like %mpi_pull x")
        ranks = self.session.cell_options(opts).ranks if opts else None
        try:
            return self.session.require_world().pull(names[0], ranks=ranks)
        except Exception as e:  # NameError on a rank arrives as a RemoteError
            if type(e).__name__ in ("RemoteError", "CompositeError") and "NameError" in str(e):
                raise UsageError(f"{names[0]!r} is not defined on every rank") from None
            raise

    # ---------------------------------------------------- seeing the ranks (docs/magics.md)

    @line_magic
    def px_diff(self, line=""):
        """Where a variable differs across the ranks: %px_diff u (arrays: the indices; dicts: the keys)."""
        from mpikernel.front.divergence import px_diff

        name = line.strip()
        if not name or len(name.split()) != 1:
            raise UsageError("name one variable to compare across the ranks, like %px_diff u")
        try:
            return px_diff(self.session.require_world(), name)
        except (ValueError, WorldError) as e:
            raise UsageError(str(e)) from None

    @line_magic
    def px_where(self, line=""):
        """Every rank's current line and MPI call, asked without interrupting anything."""
        from mpikernel.front.rankview import where_now

        if line.strip():
            raise UsageError("%px_where takes no arguments")
        try:
            return where_now(self.session.require_world())
        except WorldError as e:
            raise UsageError(str(e)) from None

    @line_magic
    def mpi_rank_view(self, line=""):
        """The live rank view of cells that run over 1 s: %mpi_rank_view off | on | SECONDS."""
        import os

        from mpikernel.front.rankview import ENV, view_after

        value = line.strip()
        if value:
            try:
                view_after({ENV: value})
            except ValueError as e:
                raise UsageError(str(e)) from None
            os.environ[ENV] = value
        after = view_after()
        print("rank view off" if after is None else f"rank view on: shown once a cell runs {after:g} s")

    @line_magic
    def mpi_debug(self, line=""):
        """Post-mortem pdb on a rank whose cell failed: %mpi_debug 1 [-c "p x" ...] (q quits)."""
        from mpikernel.front.debugger import debug_rank

        try:
            debug_rank(self.session.require_world(), line)
        except ValueError as e:
            raise UsageError(str(e)) from None


def _ready_line(w, seconds, verb="ready"):
    lib = f" ({w.library})" if w.library else ""
    where = w.launch_note()
    where = f", {where}" if where else ""
    return f"MPI world {verb}: {w.n} rank{'s' if w.n != 1 else ''}{lib} in {seconds:.1f} s{where}"


def load_ipython_extension(ipython):
    """Register the magics over the shell's Session (loading twice keeps the same session)."""
    ipython.register_magics(MPIMagics(ipython, session=Session.of(ipython)))


def unload_ipython_extension(ipython):
    Session.of(ipython).stop()
