"""Every option a person types, parsed and checked in one place, into typed values.

`%mpi_start`'s line -> StartOptions; `%%px_mpi`'s line (and `%px_mpi`'s leading options, the
kernel's `%%trace` line) -> `CellOptions`; the `--env K=V` items and the number of ranks of
`%mpi_start`, `python -m mpikernel` and `install` -> the same checks with the same sentences,
so a mistake reads alike wherever it is typed.

Mistakes raise `OptionError`: a UsageError (IPython shows only the sentence) and a ValueError
(the CLI and the kernel spec code turn it into a usage line).
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

from IPython.core.error import UsageError
from IPython.core.magic_arguments import argument, magic_arguments, parse_argstring

from mpikernel.cells.types import CellOptions
from mpikernel.cluster import launch, limits
from mpikernel.cluster.slurm import SlurmError, SlurmOptions
from mpikernel.front import hostfile, idle
from mpikernel.notation import parse_ranks
from mpikernel.trace import draw

LAUNCHERS = tuple(launch.LAUNCHERS)  # the launchers cluster/launch.py knows, in its order
MAX_RANKS = 4096  # more is surely a typo for an interactive world


class OptionError(UsageError, ValueError):
    """An option that cannot be honoured, explained in one sentence a student understands."""


# ------------------------------------------------------------------------- ranks and --env


def local_rank_limit() -> int:
    """Most ranks one machine may run: 8 per core, at least 64 (more would only thrash it)."""
    return max(64, 8 * (os.cpu_count() or 1))


def check_ranks_count(n, local: bool = True, option: str = "-n") -> int:
    """n as a whole number of ranks, 1..local_rank_limit() (MAX_RANKS with a scheduler, or for a
    kernel spec written now and started elsewhere). `option` is how the person typed it."""
    text = str(n).strip()
    if isinstance(n, bool) or not re.fullmatch(r"\+?[0-9]+", text):
        if re.fullmatch(r"-[0-9]+", text):
            raise OptionError(f"an MPI world needs at least 1 rank (got {option} {text})")
        raise OptionError(f"{option} needs a whole number of ranks, like {option} 4 (got {n!r})")
    if len(text) > 12:
        raise OptionError(f"{option} {text} is far more ranks than any world can have (at most {MAX_RANKS})")
    n = int(text)
    if n < 1:
        raise OptionError(f"an MPI world needs at least 1 rank (got {option} {n})")
    limit = local_rank_limit() if local else MAX_RANKS
    if n > limit:
        where = (f"this machine runs at most {limit} (8 per core)" if local
                 else f"a world has at most {MAX_RANKS}")
        raise OptionError(f"{option} {n} is too many ranks: {where}; ask for fewer")
    return n


ENV_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_ENV_RULE = "--env needs NAME=VALUE with a name made of letters, digits and _ that does not start with a digit"


def parse_env(items) -> dict[str, str]:
    """['K=V', ...] -> {K: V}; each name a valid environment variable name, given once."""
    env: dict[str, str] = {}
    for item in items or ():
        name, eq, value = item.partition("=")
        if not eq:
            raise OptionError(f"{_ENV_RULE} (got {item!r}: no '=')")
        if not ENV_NAME.fullmatch(name):
            raise OptionError(f"{_ENV_RULE} (got {item!r}: {name!r} is not a valid environment variable name)")
        if "\0" in value:
            raise OptionError(f"--env {name}: a value cannot contain a NUL character")
        if name in env:
            raise OptionError(f"--env {name} is given twice")
        env[name] = value
    return env


def output_limit(text) -> int:
    """--output-limit SIZE in bytes (0: no limit)."""
    try:
        return limits.parse_size(text)
    except ValueError as e:
        raise OptionError(f"--output-limit: {e}") from None


def _unquote(value):
    """IPython's option splitting keeps the quotes of '--extra "--qos=a --exclusive"': drop one pair."""
    if value and len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
        return value[1:-1]
    return value


def slurm_options(args) -> SlurmOptions | None:
    """SlurmOptions from the Slurm options of %mpi_start or `install` (None when none was given)."""
    given = {k: _unquote(getattr(args, k, None)) for k in SlurmOptions.FIELDS}
    given = {k: v for k, v in given.items() if v is not None}
    if not given:
        return None  # a Slurm world then takes the kernel spec's defaults (slurm.ENV_VAR), if any
    try:
        return SlurmOptions(**given)
    except SlurmError as e:
        raise OptionError(str(e)) from None


# ------------------------------------------------------------------------------ %mpi_start


@dataclass
class StartOptions:
    """What a world is started with (checked); kept by the Session so %mpi_restart can repeat it."""

    n: int = 4
    launcher: str = "mpiexec"
    hostfile: str | None = None
    env: dict = field(default_factory=dict)
    ip: str = "127.0.0.1"
    slurm: SlurmOptions | None = None
    idle_timeout: float | None = None  # seconds without a cell before the world is released
    hints: bool | None = None  # deadlock reports with the fix (False: --no-hints; None: $MPIKERNEL_HINTS)


def start_options(n=4, launcher="mpiexec", hostfile_path=None, env=None, ip=None, slurm=None,
                  idle_timeout=None, hints=None) -> StartOptions:
    """Checked StartOptions. idle_timeout: '30m', '90s', '2h' or seconds; default
    $MPIKERNEL_IDLE_TIMEOUT, else none. hints=False: deadlock reports without the suggested fix."""
    try:
        limit = idle.parse_duration(idle_timeout if idle_timeout is not None else os.environ.get(idle.ENV_VAR))
    except ValueError as e:
        raise OptionError(str(e)) from None
    n = check_ranks_count(n, local=launcher != "slurm")
    if launcher not in LAUNCHERS:
        raise OptionError(f"unknown launcher {launcher!r}: use mpiexec or slurm")
    if slurm is not None and launcher != "slurm":
        raise OptionError("--partition, --time, --account, --nodes and --extra are Slurm options: add --launcher slurm")
    if hostfile_path is not None:
        hostfile.check_hostfile(hostfile_path, n)
    return StartOptions(n=n, launcher=launcher, hostfile=hostfile_path, env=dict(env or {}),
                        ip=ip or "127.0.0.1", slurm=slurm, idle_timeout=limit,
                        hints=None if hints is None else bool(hints))


def _with_arguments(*arguments):
    """A decorator giving a magic these arguments: IPython builds its parser and its help text."""

    def decorate(func):
        for a in reversed(arguments):
            func = a(func)
        return magic_arguments()(func)

    return decorate


start_arguments = _with_arguments(
    argument("-n", "--np", dest="n", default="4", help="number of MPI ranks (default 4)"),
    argument("--launcher", default="mpiexec", help="mpiexec (default) or slurm"),
    argument("--hostfile", default=None, help="hostfile passed to mpiexec"),
    argument("--env", action="append", default=[], metavar="K=V",
             help="environment variable for the ranks (repeatable)"),
    argument("--ip", default=None, help="address to listen on (default 127.0.0.1: this machine only); others warn"),
    argument("--partition", default=None, help="Slurm partition"),
    argument("--time", default=None, help="Slurm time limit of the job, like 01:00:00"),
    argument("--account", default=None, help="Slurm account charged for the job"),
    argument("--nodes", default=None, help="Slurm node count, like 2 or 2-4"),
    argument("--extra", default=None, help='more sbatch/srun options, quoted: --extra "--qos=debug --exclusive"'),
    argument("--idle-timeout", default=None, help="stop the ranks after this long without a cell: 30m, 90s, 2h"),
    argument("--output-limit", default=None, metavar="SIZE",
             help="output kept per rank and stream in one cell, like 10MB (default 1MB; 0: no limit)"),
    argument("--no-hints", action="store_true",
             help="deadlock reports say what each rank does but not how to fix it (for exercises)"),
)


@start_arguments
def mpi_start(line=""):
    """Start N MPI ranks (one mpiexec job, or one Slurm job/step) with MPI, comm, rank, size and np predefined."""


def parse_start_line(line: str) -> StartOptions:
    """%mpi_start's option line -> checked StartOptions."""
    args = parse_argstring(mpi_start, line or "")
    env = parse_env(args.env)
    slurm = slurm_options(args)
    if args.output_limit is not None:
        env[limits.ENV] = str(output_limit(args.output_limit))
    return start_options(args.n, launcher=args.launcher, hostfile_path=args.hostfile, env=env, ip=args.ip,
                         slurm=slurm, idle_timeout=args.idle_timeout,
                         hints=False if args.no_hints else None)


# -------------------------------------------------------------------------------- %%px_mpi


cell_arguments = _with_arguments(
    argument("--ranks", default=None, help="ranks to run on, like 0,2-3 (default: all)"),
    argument("--timeout", type=float, default=None, help="interrupt all ranks after S seconds"),
    argument("--no-collapse", action="store_true", help="show every rank's output separately"),
    argument("--grace", type=float, default=None,
             help="seconds ranks blocked in MPI may wait after another rank failed (default 2)"),
    argument("--trace", nargs="?", const=True, default=False, metavar="FILE",
             help="record the cell's MPI calls and draw them; --trace=out.json also saves a Chrome "
                  "trace (Perfetto), .png/.svg the diagram"),
    argument("--trace-capacity", type=int, default=None, metavar="N",
             help="events kept per rank while tracing (default 65536; older ones are dropped)"),
    argument("code", nargs="*", help="(line form) the statement to run"),
)


@cell_arguments
def px_mpi(line="", cell=None):
    """Run the cell (or the statement after the options) on the MPI ranks; output merged by rank."""


def parse_trace_option(value) -> str | None:
    """--trace's value: True/'' (show only) -> None; else the file to save to, with a suffix the
    trace's `save` writes (trace.draw.SAVE_SUFFIXES: .json, .png, .svg)."""
    if value in (True, None, ""):
        return None
    path = str(value)
    if not path.lower().endswith(draw.SAVE_SUFFIXES):
        raise OptionError(f"--trace={path}: the file name must end in .json (Chrome trace for Perfetto), "
                          ".png or .svg (the diagram)")
    return path


def _seconds(args, name):
    value = getattr(args, name)
    if value is not None and not (value >= 0 and value != float("inf")):
        raise OptionError(f"--{name} must be a number of seconds, 0 or more (got {value:g})")
    return value


def _trace_fields(args) -> dict:
    fields = {}
    if args.trace:
        parse_trace_option(args.trace)
        if args.trace_capacity is not None and args.trace_capacity < 1:
            raise OptionError(f"--trace-capacity must be 1 or more events (got {args.trace_capacity})")
        fields["trace"] = args.trace
    if args.trace_capacity is not None:
        fields["trace_capacity"] = args.trace_capacity
    return fields


def cell_options(line: str = "", size: int | None = None, **overrides) -> CellOptions:
    """CellOptions from an option line like '--ranks 0,2 --timeout 5'; `size` (the world's ranks)
    lets --ranks say which rank does not exist. overrides set fields directly."""
    args = parse_argstring(px_mpi, line or "")
    if args.code:
        raise OptionError(f"unexpected text after the options: {' '.join(args.code)!r}")
    ranks = None
    if args.ranks is not None:
        try:
            ranks = parse_ranks(args.ranks, size=size)
        except ValueError as e:
            raise OptionError(f"--ranks: {e}") from None
    opts = CellOptions(ranks=ranks, timeout=_seconds(args, "timeout"), collapse=not args.no_collapse)
    if _seconds(args, "grace") is not None:
        opts.grace = args.grace
    for k, v in {**_trace_fields(args), **overrides}.items():
        setattr(opts, k, v)
    return opts


_VALUE_OPTIONS = {"--ranks", "--timeout", "--grace", "--trace-capacity"}
_FLAG_OPTIONS = {"--no-collapse", "--trace"}  # --trace also takes =FILE


def _take_option(rest: str) -> tuple[str, str]:
    """('--ranks 0', what follows) for the option at the start of `rest`."""
    m = re.match(r"(--[\w-]+)(=\S+)?\s*", rest)
    if m is None:
        raise OptionError(f"{rest.split()[0]!r} is not an option (options are --ranks, "
                          "--timeout, --grace, --no-collapse)")
    name, value = m.group(1), m.group(2)
    if name in _FLAG_OPTIONS and (not value or name == "--trace"):
        return name + (value or ""), rest[m.end():]
    if name in _VALUE_OPTIONS:
        if value:
            return name + value, rest[m.end():]
        v = re.match(r"(\S+)\s*", rest[m.end():])
        if not v:
            raise OptionError(f"{name} needs a value")
        return f"{name} {v.group(1)}", rest[m.end() + v.end():]
    raise OptionError(f"unknown option {name} (options are --ranks, --timeout, --grace, --no-collapse, "
                      "--trace, --trace-capacity)")


def split_line_options(line: str) -> tuple[str, str]:
    """'--ranks 0 print(rank)' -> ('--ranks 0', 'print(rank)'): leading known options, then the statement."""
    rest = line.lstrip()
    taken = []
    while rest.startswith("--"):
        option, rest = _take_option(rest)
        taken.append(option)
    return " ".join(taken), rest


TRACE_LINE = "%%trace"


def split_trace_cell(code: str):
    """For the MPI kernel: a cell whose first line is `%%trace [FILE] [options]` runs traced.

    Returns (option line for %%px_mpi, the typed header lines, the body), or None for other cells.
    `%%trace out.json --ranks 0-1` gives ('--trace=out.json --ranks 0-1', '%%trace out.json ...', body).
    """
    lines = code.splitlines(keepends=True)
    first = next((i for i, ln in enumerate(lines) if ln.strip()), None)
    if first is None:
        return None
    m = re.fullmatch(r"\s*%%trace(?:\s+(.*?))?\s*", lines[first].rstrip("\r\n"))
    if not m:
        return None
    rest = (m.group(1) or "").strip()
    if rest and not rest.startswith("-"):
        file, _, more = rest.partition(" ")
        option = f"--trace={file} {more.strip()}".strip()
    else:
        option = f"--trace {rest}".strip()
    header = "".join(lines[: first + 1]).rstrip("\r\n")
    return option, header, "".join(lines[first + 1 :])
