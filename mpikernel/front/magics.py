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

The magics are thin: the world lives in `mpikernel.cluster.world.World`, running a cell in
`mpikernel.cells.runner.run_cell`, merging outputs in `mpikernel.cells.merge`. One World per process,
reachable as `world()`; the MPI kernel runs every cell through `run_cell_on_ranks`.
"""

from __future__ import annotations

import contextlib
import os
import re
import sys
import time
from pathlib import Path

from IPython.core.error import UsageError
from IPython.core.magic import Magics, line_cell_magic, line_magic, magics_class
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from mpikernel.cluster import limits
from mpikernel.cluster.world import World, WorldError
from mpikernel.cluster.launcher import LauncherError
from mpikernel.notation import parse_ranks
from mpikernel.cluster.slurm import SlurmError, SlurmOptions
from mpikernel.cells.runner import CellOptions, CellResult, RanksError, RanksInterrupted, run_cell

__all__ = [
    "MPIMagics", "world", "current_world", "start_world", "stop_world", "run_cell_on_ranks",
    "cell_options", "CellOptions", "CellResult", "RanksError", "RanksInterrupted",
]

_WORLD: World | None = None
NOT_RUNNING = "no MPI world is running: start one first with %mpi_start (for example %mpi_start -n 4)"
_IDLE = None  # the idle.IdleWatch of the running world (--idle-timeout), if any
_IDLE_NOTE = None  # why the last world was released for idleness
_STARTING = {"text": None}  # the last progress line of a start under way (a Slurm queue wait, ...)


def start_status() -> str | None:
    """What a start under way last reported ("queued as job 12 (reason: Resources)…"), else None.

    For a kernel that starts its world in the background: a cell that waits can say why.
    """
    return _STARTING["text"]


def _not_running() -> str:
    return f"{_IDLE_NOTE}; {NOT_RUNNING}" if _IDLE_NOTE else NOT_RUNNING


# ------------------------------------------------------------------------------ Python API


def current_world() -> World | None:
    """The running World of this process, or None."""
    return _WORLD if _WORLD is not None and _WORLD.running else None


def world() -> World:
    """The running World (push/pull/scatter/gather, status, interrupt); UsageError if none runs."""
    w = current_world()
    if w is None:
        raise UsageError(_not_running())
    return w


def start_world(n=4, launcher="mpiexec", hostfile=None, env=None, progress=None, ip=None, slurm=None,
                idle_timeout=None) -> World:
    """Start this process's world (UsageError if one runs already or the request is impossible).

    idle_timeout: '30m', '90s', '2h' or seconds; default $MPIKERNEL_IDLE_TIMEOUT, else none.
    """
    global _WORLD, _IDLE, _IDLE_NOTE
    from mpikernel.front import idle

    try:
        limit = idle.parse_duration(idle_timeout if idle_timeout is not None else os.environ.get(idle.ENV_VAR))
    except ValueError as e:
        raise UsageError(str(e)) from None
    if current_world() is not None and current_world().lost():
        stop_world()  # its MPI job ended (a rank died): clean up and start afresh
    if current_world() is not None:
        raise UsageError(
            f"an MPI world with {_WORLD.n} ranks is already running; use %mpi_restart, "
            "or %mpi_stop before starting another"
        )
    n = _check_ranks_count(n, local=launcher != "slurm")
    if launcher not in ("mpiexec", "slurm"):
        raise UsageError(f"unknown launcher {launcher!r}: use mpiexec or slurm")
    if slurm is not None and launcher != "slurm":
        raise UsageError("--partition, --time, --account, --nodes and --extra are Slurm options: add --launcher slurm")
    if hostfile is not None:
        others = [h for h in read_hostfile(hostfile) if not _is_this_machine(h)]
        if others:
            raise UsageError(
                f"the hostfile {hostfile} names other machines ({', '.join(others)}); ranks on other "
                "machines are not supported yet (the controller listens on this machine only)"
            )
        slots = hostfile_slots(hostfile)
        if n > slots:
            raise UsageError(f"the hostfile {hostfile} allows {slots} rank{'s' if slots != 1 else ''}, not {n}; "
                             f"ask for fewer ranks (-n {slots}) or add slots to the hostfile")
    w = World(n=n, hostfile=hostfile, env=dict(env or {}), launcher=launcher, ip=ip or "127.0.0.1", slurm=slurm)

    def report(text):
        _STARTING["text"] = text
        if progress is not None:
            progress(text)

    try:
        w.start(progress=report)
    except (WorldError, LauncherError, SlurmError) as e:
        raise UsageError(f"the MPI world did not start: {e}") from None
    finally:
        _STARTING["text"] = None
    _WORLD, _IDLE_NOTE = w, None
    if limit is not None:
        _IDLE = idle.IdleWatch(limit, stop=stop_world)
    return w


def stop_world() -> bool:
    """Stop the world if one runs; True if there was one."""
    global _WORLD, _IDLE, _IDLE_NOTE
    w, _WORLD = _WORLD, None
    if _IDLE is not None:
        _IDLE.cancel()
        _IDLE_NOTE, _IDLE = _IDLE.released, None
    if w is None:
        return False
    w.stop()
    return True


def cell_options(line: str = "", **overrides) -> CellOptions:
    """CellOptions from an option line like '--ranks 0,2 --timeout 5' (UsageError when wrong)."""
    args = parse_argstring(MPIMagics.px_mpi, line or "")
    if args.code:
        raise UsageError(f"unexpected text after the options: {' '.join(args.code)!r}")
    return _options_from_args(args, **overrides)


def run_cell_on_ranks(code: str, options: CellOptions | str | None = None, shell=None) -> CellResult:
    """Run `code` on the ranks as `%%px_mpi` does (the MPI kernel calls this for every cell).

    options: CellOptions, an option line ('--ranks 0,2'), or None for the defaults.
    Output is shown in the current IPython shell (live, then merged). Errors on ranks raise
    RanksError / RanksInterrupted, whose `_render_traceback_` IPython and ipykernel show as one
    labelled error.
    """
    with _IDLE.in_use() if _IDLE is not None else contextlib.nullcontext():
        return _run_cell_on_ranks(code, options, shell)


def _run_cell_on_ranks(code, options, shell) -> CellResult:
    w = current_world()
    if w is None:
        raise UsageError(_not_running())
    if options is None:
        options = CellOptions()
    elif isinstance(options, str):
        options = cell_options(options)
    if options.ranks is not None:
        bad = [r for r in options.ranks if not 0 <= r < w.n]
        if bad:
            raise UsageError(f"rank {bad[0]} does not exist: this world has {w.n} ranks (0-{w.n - 1})")
    if options.cell_label is None and shell is not None:
        options.cell_label = _cell_number(shell)
    try:
        return run_cell(w, code, options)
    except WorldError as e:
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


# ------------------------------------------------------------------------------- parsing


def _output_limit(text) -> int:
    try:
        return limits.parse_size(text)
    except ValueError as e:
        raise UsageError(f"--output-limit: {e}") from None


MAX_RANKS = 4096  # more is surely a typo for an interactive world


def local_rank_limit() -> int:
    """Most ranks one machine may run: 8 per core, at least 64 (more would only thrash it)."""
    import os

    return max(64, 8 * (os.cpu_count() or 1))


def _check_ranks_count(n, local=True) -> int:
    """-n as a whole number of ranks, 1..local_rank_limit() (MAX_RANKS with a scheduler)."""
    text = str(n).strip()
    if isinstance(n, bool) or not re.fullmatch(r"\+?[0-9]+", text):
        if re.fullmatch(r"-[0-9]+", text):
            raise UsageError(f"an MPI world needs at least 1 rank (got -n {text})")
        raise UsageError(f"-n needs a whole number of ranks, like -n 4 (got {n!r})")
    if len(text) > 12:
        raise UsageError(f"-n {text} is far more ranks than any world can have (at most {MAX_RANKS})")
    n = int(text)
    if n < 1:
        raise UsageError(f"an MPI world needs at least 1 rank (got -n {n})")
    limit = local_rank_limit() if local else MAX_RANKS
    if n > limit:
        where = (f"this machine runs at most {limit} (8 per core)" if local
                 else f"a world has at most {MAX_RANKS}")
        raise UsageError(f"-n {n} is too many ranks: {where}; ask for fewer")
    return n


_ENV = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)=(.*)", re.S)


def parse_env(items) -> dict:
    """['K=V', ...] -> {K: V}; a name must be a valid environment variable name, given once."""
    env = {}
    for item in items or ():
        m = _ENV.fullmatch(item)
        if not m:
            raise UsageError(f"--env needs NAME=VALUE with a name made of letters, digits and _ "
                             f"that does not start with a digit (got {item!r})")
        name, value = m.groups()
        if "\0" in value:
            raise UsageError(f"--env {name}: a value cannot contain a NUL character")
        if name in env:
            raise UsageError(f"--env {name} is given twice")
        env[name] = value
    return env


_HOST = re.compile(r"[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?")
_HOSTFILE_KEYS = ("slots", "max_slots", "max-slots")  # Open MPI's; MPICH writes host:n


def _hostfile_count(text, path, lineno, what):
    if not re.fullmatch(r"[0-9]{1,6}", text) or int(text) < 1:
        raise UsageError(f"the hostfile {path}, line {lineno}: {what} must be a whole number, "
                         f"1 or more (got {text!r})")
    return int(text)


def read_hostfile(path) -> dict[str, int]:
    """{host: slots} of a hostfile, strictly: MPICH `host[:n]` or Open MPI `host [slots=n]
    [max_slots=n]` lines, # comments; any other word is an error naming its line."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise UsageError(f"the hostfile {path} does not exist")
    try:
        text = p.read_text()
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"the hostfile {path} cannot be read ({e})") from None
    hosts: dict[str, int] = {}
    for lineno, raw in enumerate(text.splitlines(), 1):
        words = raw.split("#", 1)[0].split()
        if not words:
            continue
        host, colon, count = words[0].partition(":")
        if not _HOST.fullmatch(host):
            raise UsageError(f"the hostfile {path}, line {lineno}: {words[0]!r} is not a host name")
        slots = _hostfile_count(count, path, lineno, "the count after ':'") if colon else None
        for word in words[1:]:
            key, eq, value = word.partition("=")
            if not eq or key not in _HOSTFILE_KEYS:
                raise UsageError(f"the hostfile {path}, line {lineno}: unknown {word!r} (a line is "
                                 "host, host:n, or host slots=n [max_slots=n])")
            n = _hostfile_count(value, path, lineno, key)
            if key == "slots":
                if slots is not None:
                    raise UsageError(f"the hostfile {path}, line {lineno}: slots given twice")
                slots = n
        hosts[host] = hosts.get(host, 0) + (1 if slots is None else slots)
    if not hosts:
        raise UsageError(f"the hostfile {path} names no hosts (it is empty or only comments)")
    return hosts


def hostfile_slots(path) -> int:
    """Ranks a hostfile allows (the sum of its slots)."""
    return sum(read_hostfile(path).values())


def _is_this_machine(host: str) -> bool:
    import socket

    names = {"localhost", "127.0.0.1", "::1", socket.gethostname(), socket.getfqdn(),
             socket.gethostname().split(".")[0]}
    return host in names


def _options_from_args(args, **overrides) -> CellOptions:
    ranks = None
    if args.ranks is not None:
        w = current_world()
        try:
            ranks = parse_ranks(args.ranks, size=w.n if w is not None else None)
        except ValueError as e:
            raise UsageError(f"--ranks: {e}") from None
    for name in ("timeout", "grace"):
        value = getattr(args, name)
        if value is not None and not (value >= 0 and value != float("inf")):
            raise UsageError(f"--{name} must be a number of seconds, 0 or more (got {value:g})")
    opts = CellOptions(ranks=ranks, timeout=args.timeout, collapse=not args.no_collapse)
    if args.grace is not None:
        opts.grace = args.grace
    if args.trace:
        from mpikernel.trace.run import parse_trace_option

        try:
            parse_trace_option(args.trace)
        except ValueError as e:
            raise UsageError(str(e)) from None
        if args.trace_capacity is not None and args.trace_capacity < 1:
            raise UsageError(f"--trace-capacity must be 1 or more events (got {args.trace_capacity})")
        opts.trace = args.trace
    if args.trace_capacity is not None:
        opts.trace_capacity = args.trace_capacity
    for k, v in overrides.items():
        setattr(opts, k, v)
    return opts


_VALUE_OPTIONS = {"--ranks", "--timeout", "--grace", "--trace-capacity"}
_FLAG_OPTIONS = {"--no-collapse", "--trace"}  # --trace also takes =FILE


def split_line_options(line: str) -> tuple[str, str]:
    """'--ranks 0 print(rank)' -> ('--ranks 0', 'print(rank)'): leading known options, then the statement."""
    rest = line.lstrip()
    taken = []
    while rest.startswith("--"):
        m = re.match(r"(--[\w-]+)(=\S+)?\s*", rest)
        if m is None:
            raise UsageError(f"{rest.split()[0]!r} is not an option (options are --ranks, "
                             "--timeout, --grace, --no-collapse)")
        name = m.group(1)
        if name in _FLAG_OPTIONS and (not m.group(2) or name == "--trace"):
            taken.append(name + (m.group(2) or ""))
            rest = rest[m.end():]
        elif name in _VALUE_OPTIONS:
            if m.group(2):
                taken.append(name + m.group(2))
                rest = rest[m.end():]
            else:
                v = re.match(r"(\S+)\s*", rest[m.end():])
                if not v:
                    raise UsageError(f"{name} needs a value")
                taken.append(f"{name} {v.group(1)}")
                rest = rest[m.end() + v.end():]
        else:
            raise UsageError(f"unknown option {name} (options are --ranks, --timeout, --grace, --no-collapse, "
                             "--trace, --trace-capacity)")
    return " ".join(taken), rest


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


def _format_bytes(n):
    if n is None:
        return "?"
    for unit in ("B", "KB", "MB", "GB"):
        if n < 1024 or unit == "GB":
            return f"{n:.0f} {unit}" if unit in ("B", "KB") else f"{n:.1f} {unit}"
        n /= 1024


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
                     f"{_format_bytes(row['rss']):>9}  {where}".rstrip())
    return "\n".join(lines)


# ----------------------------------------------------------------------------------- magics


@magics_class
class MPIMagics(Magics):
    """%mpi_start, %mpi_stop, %mpi_restart, %mpi_status, %%px_mpi / %px_mpi, %mpi_push, %mpi_pull."""

    @magic_arguments()
    @argument("-n", "--np", dest="n", default="4", help="number of MPI ranks (default 4)")
    @argument("--launcher", default="mpiexec", help="mpiexec (default) or slurm")
    @argument("--hostfile", default=None, help="hostfile passed to mpiexec")
    @argument("--env", action="append", default=[], metavar="K=V", help="environment variable for the ranks (repeatable)")
    @argument("--ip", default=None,
              help="address to listen on (default 127.0.0.1: this machine only); others warn")
    @argument("--partition", default=None, help="Slurm partition")
    @argument("--time", default=None, help="Slurm time limit of the job, like 01:00:00")
    @argument("--account", default=None, help="Slurm account charged for the job")
    @argument("--nodes", default=None, help="Slurm node count, like 2 or 2-4")
    @argument("--extra", default=None, help='more sbatch/srun options, quoted: --extra "--qos=debug --exclusive"')
    @argument("--idle-timeout", default=None, help="stop the ranks after this long without a cell: 30m, 90s, 2h")
    @argument("--output-limit", default=None, metavar="SIZE",
              help="output kept per rank and stream in one cell, like 10MB (default 1MB; 0: no limit)")
    @line_magic
    def mpi_start(self, line=""):
        """Start N MPI ranks (one mpiexec job, or one Slurm job/step) with MPI, comm, rank, size and np predefined."""
        args = parse_argstring(self.mpi_start, line)
        env = parse_env(args.env)
        slurm = slurm_options(args)
        if args.output_limit is not None:
            env[limits.ENV] = str(_output_limit(args.output_limit))
        progress = _Progress(self.shell)
        t0 = time.monotonic()
        w = start_world(args.n, launcher=args.launcher, hostfile=args.hostfile, env=env, progress=progress,
                        ip=args.ip, slurm=slurm, idle_timeout=args.idle_timeout)
        progress.done(_ready_line(w, time.monotonic() - t0))

    @line_magic
    def mpi_stop(self, line=""):
        """Stop the MPI world (controller, mpiexec and every rank)."""
        if line.strip():
            raise UsageError("%mpi_stop takes no arguments")
        if stop_world():
            print("MPI world stopped")
        else:
            print("no MPI world was running")

    @line_magic
    def mpi_restart(self, line=""):
        """Stop the world and start it again with the same ranks and settings."""
        if line.strip():
            raise UsageError("%mpi_restart takes no arguments (use %mpi_stop and %mpi_start to change them)")
        old = _WORLD
        if old is None:
            raise UsageError(NOT_RUNNING)
        n, hostfile, env, launcher, ip, slurm = old.n, old.hostfile, old.env, old.launcher, old.ip, old.slurm
        limit = _IDLE.limit if _IDLE is not None else None
        stop_world()
        progress = _Progress(self.shell)
        t0 = time.monotonic()
        w = start_world(n, launcher=launcher, hostfile=hostfile, env=env, progress=progress, ip=ip, slurm=slurm,
                        idle_timeout=limit)
        progress.done(_ready_line(w, time.monotonic() - t0, verb="restarted"))

    @line_magic
    def mpi_status(self, line=""):
        """Ranks alive, busy or idle, host, pid and memory."""
        w = current_world()
        if w is None:
            print(f"{_IDLE_NOTE}; " if _IDLE_NOTE else "", end="")
            print("no MPI world is running (start one with %mpi_start)")
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

    @magic_arguments()
    @argument("--ranks", default=None, help="ranks to run on, like 0,2-3 (default: all)")
    @argument("--timeout", type=float, default=None, help="interrupt all ranks after S seconds")
    @argument("--no-collapse", action="store_true", help="show every rank's output separately")
    @argument("--grace", type=float, default=None,
              help="seconds ranks blocked in MPI may wait after another rank failed (default 2)")
    @argument("--trace", nargs="?", const=True, default=False, metavar="FILE",
              help="record the cell's MPI calls and draw them; --trace=out.json also saves a Chrome "
                   "trace (Perfetto), .png/.svg the diagram")
    @argument("--trace-capacity", type=int, default=None, metavar="N",
              help="events kept per rank while tracing (default 65536; older ones are dropped)")
    @argument("code", nargs="*", help="(line form) the statement to run")
    @line_cell_magic
    def px_mpi(self, line="", cell=None):
        """Run the cell (or the statement after the options) on the MPI ranks; output merged by rank."""
        if cell is None:
            opts_line, code = split_line_options(line)
            if not code.strip():
                raise UsageError("%px_mpi needs a statement to run, like %px_mpi print(rank)")
            options = cell_options(opts_line)
        else:
            options = cell_options(line, header=f"%%px_mpi {line}".rstrip())
            code = cell
        self.run_cell_on_ranks(code, options)

    def run_cell_on_ranks(self, code, options=None):
        """Entry point for the MPI kernel: run `code` like %%px_mpi (see run_cell_on_ranks)."""
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
        world().push({n: ns[n] for n in names})

    @line_magic
    def mpi_pull(self, line=""):
        """Fetch a variable from the ranks: %mpi_pull x -> [x on rank 0, x on rank 1, ...]."""
        opts, rest = split_line_options(line)
        names = rest.split()
        if len(names) != 1:
            raise UsageError("name one variable to fetch from the ranks, like %mpi_pull x")
        ranks = cell_options(opts).ranks if opts else None
        try:
            return world().pull(names[0], ranks=ranks)
        except Exception as e:  # NameError on a rank arrives as a RemoteError
            if type(e).__name__ in ("RemoteError", "CompositeError") and "NameError" in str(e):
                raise UsageError(f"{names[0]!r} is not defined on every rank") from None
            raise


    @line_magic
    def mpi_debug(self, line=""):
        """Post-mortem pdb on a rank whose cell failed: %mpi_debug 1 [-c "p x" ...] (q quits)."""
        from mpikernel.front.debugger import debug_rank

        try:
            debug_rank(world(), line)
        except ValueError as e:
            raise UsageError(str(e)) from None


def _ready_line(w, seconds, verb="ready"):
    lib = f" ({w.library})" if w.library else ""
    where = w.launch_note()
    where = f", {where}" if where else ""
    return f"MPI world {verb}: {w.n} rank{'s' if w.n != 1 else ''}{lib} in {seconds:.1f} s{where}"


def _unquote(value):
    """IPython's option splitting keeps the quotes of '--extra "--qos=a --exclusive"': drop one pair."""
    if value and len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def slurm_options(args) -> SlurmOptions | None:
    """SlurmOptions from %mpi_start's Slurm options (None when none was given); UsageError if malformed."""
    given = {k: _unquote(getattr(args, k)) for k in ("partition", "time", "account", "nodes", "extra")}
    if all(v is None for v in given.values()):
        return None  # a Slurm world then takes the kernel spec's defaults (slurm.ENV_VAR), if any
    try:
        return SlurmOptions(**{k: v for k, v in given.items() if v is not None})
    except SlurmError as e:
        raise UsageError(str(e)) from None


def load_ipython_extension(ipython):
    ipython.register_magics(MPIMagics)


def unload_ipython_extension(ipython):
    stop_world()
