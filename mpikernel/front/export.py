"""`python -m mpikernel export NOTEBOOK.ipynb`: a notebook as a batch job.

    python -m mpikernel export NOTEBOOK.ipynb [-o DIR] [--ranks N]
                                              [--launcher slurm --partition P --time T --nodes K]

writes DIR/NOTEBOOK.py, which `mpiexec -n N python NOTEBOOK.py` runs as the notebook ran, and
DIR/NOTEBOOK.sh (an mpiexec line) or, with `--launcher slurm`, DIR/NOTEBOOK.sbatch.

How cells become the script (the notebook's kernel decides where a plain cell ran: on the ranks
in "MPI (N ranks)", in the kernel process in a Python notebook with `%load_ext mpikernel`):

- a cell that ran on the ranks is copied as it is, in order; its last expression, which the
  notebook showed as the cell's result, is printed (`_show`); `%%px_mpi --ranks 0,2` becomes
  `if rank in (0, 2):`; `%%trace` and `%%px_mpi`'s other options (timeouts, collapsing) have no
  meaning in a batch job and are dropped;
- a cell that ran in the kernel process (`%%local`, a cell of mpikernel magics, a plain cell of
  a Python notebook) runs on rank 0 alone after a barrier, in a namespace of its own as the
  kernel's was (`_local`); `%mpi_pull [--ranks R] x` in it becomes a gather of x to rank 0,
  `%mpi_push x` a broadcast of x from rank 0, `%px_mpi stmt` the statement on every rank;
- magics that only look (`%mpi_status`, `%px_where`, `%px_diff`, `%mpi_debug`,
  `%mpi_rank_view`) and those that start or stop the ranks (`%mpi_start`, `%mpi_stop`,
  `%load_ext mpikernel`: mpiexec starts them) are left out with a comment;
- cells tagged `raises-exception` (they fail on purpose) or `skip-export` are left out;
- anything else (`%mpi_restart`, `%timeit`, `!ls`, `%%bash`) is refused: ExportError, one
  sentence naming the cell.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shlex
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

from mpikernel.front import options as opt

SKIP_TAGS = ("raises-exception", "skip-export")
LOOKING = {"mpi_status", "px_where", "px_diff", "mpi_debug", "mpi_rank_view", "matplotlib"}
LIFECYCLE = {"mpi_start", "mpi_stop", "load_ext"}
#: mpikernel's line magics: a cell of only these ran in the MPI kernel's own process
OURS = (LOOKING | LIFECYCLE | {"mpi_pull", "mpi_push", "px_mpi", "mpi_restart"}) - {"matplotlib", "load_ext"}
_LEFT_OUT = "pass  # "  # how a left-out magic line stays valid Python inside a block
_LINE_MAGIC = re.compile(r"^(\s*)(?:([A-Za-z_]\w*)\s*=\s*)?%([A-Za-z_]\w*)\b(.*)$")


class ExportError(ValueError):
    """The notebook holds something a batch job cannot do; the message names the cell."""


@dataclass
class Cell:
    number: int  # 1-based position among the notebook's code cells (what a person counts)
    source: str
    tags: set = field(default_factory=set)

    def refuse(self, what: str) -> ExportError:
        first = self.source.strip().splitlines()[0][:60] if self.source.strip() else ""
        return ExportError(f"code cell {self.number} ({first!r}): {what}")


def read_notebook(path: Path) -> tuple[bool, list[Cell]]:
    """(plain cells ran on the ranks, the code cells) of an .ipynb file (ExportError when unreadable)."""
    try:
        nb = json.loads(Path(path).read_text())
    except (OSError, ValueError) as e:
        raise ExportError(f"cannot read {path}: {e}") from None
    kernel = str(nb.get("metadata", {}).get("kernelspec", {}).get("name", ""))
    cells, number = [], 0
    for c in nb.get("cells", []):
        if c.get("cell_type") != "code":
            continue
        number += 1
        source = c.get("source", "")
        source = "".join(source) if isinstance(source, list) else source
        cells.append(Cell(number, source, set(c.get("metadata", {}).get("tags", []))))
    return kernel.startswith("mpikernel"), cells


# --------------------------------------------------------------------------- one cell's code


def _show_last(code: str) -> str:
    """The code with its last top-level expression printed, as the notebook showed it (not after ';')."""
    try:
        tree = ast.parse(code)
    except SyntaxError:
        return code
    if not tree.body or not isinstance(tree.body[-1], ast.Expr) or code.rstrip().endswith(";"):
        return code
    last = tree.body[-1]
    if isinstance(last.value, ast.Call) and isinstance(last.value.func, ast.Name) and last.value.func.id == "print":
        return code  # print(...) shows nothing more
    lines = code.splitlines(keepends=True)
    head = "".join(lines[: last.lineno - 1]) + lines[last.lineno - 1][: last.col_offset]
    expr = ast.get_source_segment(code, last)
    return head + f"_show({expr})\n"


def _check_python(cell: Cell, code: str) -> None:
    try:
        ast.parse(code)
    except SyntaxError as e:
        what = "an IPython magic or shell escape" if re.search(r"^\s*[%!]", code, re.M) else "a syntax error"
        raise cell.refuse(f"line {e.lineno} is {what}, which a Python script cannot run; "
                          "rewrite it in Python or tag the cell skip-export") from None


def _on_ranks(cell: Cell, code: str, ranks) -> str:
    """A cell that ran on the ranks (`ranks`: None for all)."""
    _check_python(cell, code)
    code = _show_last(code).rstrip() + "\n"
    if ranks is None:
        return code
    body = textwrap.indent(code, "    ")
    guarded = f"if rank in {tuple(ranks)!r}:\n{body}"
    if [ast.dump(n) for n in ast.parse(guarded).body[0].body] == [ast.dump(n) for n in ast.parse(code).body]:
        return guarded
    # indenting changed it (a multi-line string): run the text as it was, in the ranks' globals
    return f"if rank in {tuple(ranks)!r}:\n    exec(compile({_literal(code)}, '<cell {cell.number}>', 'exec'), globals())\n"


def _literal(text: str) -> str:
    """A string literal of `text` that reads like the cell: r\'\'\'...\'\'\' when that is exact."""
    if "'''" not in text and not text.endswith("\\") and "\r" not in text:
        return "r'''\n" + text + "'''"
    return repr(text)


def _ranks_of(cell: Cell, line: str, size: int):
    try:
        return opt.cell_options(line, size=size).ranks
    except opt.OptionError as e:
        raise cell.refuse(str(e)) from None


class _Local:
    """A cell that ran in the kernel process, turned into calls every rank makes (see `_local`)."""

    def __init__(self, cell: Cell, size: int):
        self.cell, self.size = cell, size
        self.parts: list[str] = []
        self.lines: list[str] = []
        self.pulls: list[str] = []

    def flush(self):
        text = "".join(self.lines)
        if any(ln.strip() and not ln.lstrip().startswith(("#", _LEFT_OUT)) for ln in self.lines):
            _check_python(self.cell, text)
            src = _show_last(textwrap.dedent(text))
            self.parts.append(f"_local({self.cell.number}, {self.pulls!r}, {_literal(src)})\n")
        elif text.strip():  # nothing to run: the comments (and what was left out) stay as comments
            self.parts.append(textwrap.dedent(text).replace(_LEFT_OUT, "# "))
        self.lines, self.pulls = [], []

    def add(self, line: str):
        m = _LINE_MAGIC.match(line)
        if m is None:
            self.lines.append(line)
            return
        indent, target, name, rest = m.groups()
        if name == "mpi_pull":
            self.pull(indent, target, rest)
        elif name == "mpi_push" and not target:
            self.flush()
            self.parts.append(f"_push({rest.split()!r})\n")
        elif name == "px_mpi" and not target:
            self.flush()
            options, stmt = opt.split_line_options(rest)
            self.parts.append(_on_ranks(self.cell, stmt + "\n", _ranks_of(self.cell, options, self.size)))
        elif name in LOOKING | LIFECYCLE and not target:
            self.lines.append(f"{indent}{_LEFT_OUT}%{name}{rest}: only meaningful in a notebook, left out\n")
        else:
            raise self.cell.refuse(f"%{name} has no batch-job form; remove it or tag the cell skip-export")

    def pull(self, indent, target, rest):
        options, names = opt.split_line_options(rest)
        if len(names.split()) != 1:
            raise self.cell.refuse("%mpi_pull names one variable")
        ranks = _ranks_of(self.cell, options, self.size)
        name = names.split()[0]
        self.pulls.append(name)
        call = f"_mpi_pull({name!r}, {ranks!r})"
        self.lines.append(f"{indent}{target} = {call}\n" if target else f"{indent}{call}\n")

    def code(self) -> str:
        for line in self.cell.source.splitlines(keepends=True):
            self.add(line if line.endswith("\n") else line + "\n")
        self.flush()
        return "".join(self.parts)


def translate(cell: Cell, plain_on_ranks: bool, size: int) -> str:
    """The script's text for one code cell."""
    lines = cell.source.splitlines(keepends=True)
    body = [i for i, ln in enumerate(lines) if ln.strip() and not ln.lstrip().startswith("#")]
    if not body:
        return cell.source.rstrip() + "\n" if cell.source.strip() else ""
    first = lines[body[0]].strip()
    rest = "".join(lines[body[0] + 1 :])
    if first.startswith("%%"):
        name, _, args = first[2:].partition(" ")
        if name == "local":
            return _Local(Cell(cell.number, rest, cell.tags), size).code()
        if name in ("px_mpi", "trace"):
            ranks = _ranks_of(cell, _without_trace_file(args) if name == "trace" else args, size)
            return _on_ranks(cell, rest, ranks)
        raise cell.refuse(f"%%{name} has no batch-job form; remove it or tag the cell skip-export")
    magics_only = all((m := _LINE_MAGIC.match(lines[i])) and not m.group(1) and m.group(3) in OURS for i in body)
    if plain_on_ranks and not magics_only:
        return _on_ranks(cell, cell.source, None)
    return _Local(cell, size).code()


def _without_trace_file(args: str) -> str:
    """%%trace's option line without its leading FILE (which only names where a drawing goes)."""
    words = shlex.split(args)
    return " ".join(words[1:] if words and not words[0].startswith("-") else words)


# ------------------------------------------------------------------------------- the files

PRELUDE = """\
\"\"\"{name}.ipynb as a batch job, written by `python -m mpikernel export` (mpikernel {version}).

Run it as the notebook ran, on {ranks} ranks:  mpiexec -n {ranks} python {name}.py
Every rank runs this file from the top, as every rank ran the notebook's cells. The cells that
ran in the notebook's kernel process (%%local) run on rank 0 alone, after a barrier, in a
namespace of their own (`_local`); %mpi_pull is a gather to rank 0, %mpi_push a broadcast.
\"\"\"

import os
import sys

os.environ.setdefault("MPLBACKEND", "Agg")  # plots of %%local cells: a batch job has no screen
for _stream in (sys.stdout, sys.stderr):  # one write per line (even under PYTHONUNBUFFERED), so
    _stream.reconfigure(line_buffering=True, write_through=False)  # two ranks' lines never mix

import numpy as np  # noqa: F401  (predefined in the notebook's cells, as MPI, comm, rank, size)

from mpikernel import MPI

comm = MPI.COMM_WORLD
rank, size = comm.Get_rank(), comm.Get_size()


def _show(value):
    \"\"\"A cell's last expression, which the notebook showed as the cell's result.\"\"\"
    if value is not None:
        print(repr(value))


def _gathered(names):
    \"\"\"Every rank hands rank 0 its values of `names` (what %mpi_pull fetches).\"\"\"
    return {{n: comm.gather((n in globals(), globals().get(n)), root=0) for n in names}}


def _mpi_pull(name, ranks=None):
    \"\"\"%mpi_pull inside a %%local cell: [value on each rank], gathered before the cell ran.\"\"\"
    pulled = _LOCAL["_pulled"][name]
    chosen = range(len(pulled)) if ranks is None else ranks
    for r in chosen:
        if not pulled[r][0]:
            raise NameError(f"{{name!r}} is not defined on rank {{r}}")
    return [pulled[r][1] for r in chosen]


def _local(cell, pulls, source):
    \"\"\"A %%local cell: rank 0 runs it alone, in the kernel's namespace, once every rank got here.\"\"\"
    pulled = _gathered(pulls)
    comm.Barrier()
    if rank == 0:
        _LOCAL["_pulled"] = pulled
        exec(compile(source, f"<cell {{cell}}>", "exec"), _LOCAL)


def _push(names):
    \"\"\"%mpi_push: rank 0's values (the kernel's) to every rank.\"\"\"
    for n in names:
        globals()[n] = comm.bcast(_LOCAL.get(n) if rank == 0 else None, root=0)


_LOCAL = {{"__name__": "__main__", "_show": _show, "_mpi_pull": _mpi_pull}}  # the kernel process's names
"""


def script(name: str, cells: list[Cell], plain_on_ranks: bool, ranks: int) -> str:
    """The whole NOTEBOOK.py (ExportError, naming the cell, for what a batch job cannot do)."""
    from mpikernel._version import __version__

    parts = [PRELUDE.format(name=name, version=__version__, ranks=ranks)]
    for cell in cells:
        head = f"\n\n# ---- code cell {cell.number}"
        skip = sorted(cell.tags & set(SKIP_TAGS))
        if skip:
            parts.append(f"{head}: tagged {skip[0]}, left out\n")
            continue
        text = translate(cell, plain_on_ranks, ranks)
        if text.strip():
            parts.append(f"{head}\n{text}")
    return "".join(parts)


def job_file(name: str, ranks: int, launcher: str, slurm=None, python: str | None = None) -> tuple[str, str]:
    """(file name, text) of the job that runs NAME.py: an sbatch script, or an mpiexec line."""
    python = python or sys.executable
    if launcher == "slurm":
        lines = ["#!/bin/bash", f"#SBATCH --job-name={name}", f"#SBATCH --ntasks={ranks}",
                 f"#SBATCH --output={name}-%j.out"]
        lines += [f"#SBATCH {a}" for a in slurm.args(allocation=False)] if slurm is not None else []
        lines += [f"# written by python -m mpikernel export from {name}.ipynb; submit with: sbatch {name}.sbatch",
                  'cd "${SLURM_SUBMIT_DIR:-.}"', f'srun "${{PYTHON:-{python}}}" {name}.py']
        return f"{name}.sbatch", "\n".join(lines) + "\n"
    exe, flags = _mpiexec(ranks)
    lines = ["#!/bin/sh", f"# written by python -m mpikernel export from {name}.ipynb", f"# mpiexec -n {ranks} python {name}.py",
             'cd "$(dirname "$0")"', f'exec "${{MPIEXEC:-{exe}}}" {flags} "${{PYTHON:-{python}}}" {name}.py']
    return f"{name}.sh", "\n".join(lines) + "\n"


def _mpiexec(ranks: int) -> tuple[str, str]:
    """(the mpiexec this mpikernel launches its ranks with, its flags for `ranks` ranks here: Open MPI
    as root needs --allow-run-as-root); plain `mpiexec -n N` when none is found."""
    from mpikernel.cluster.launcher import LauncherError, mpiexec_command

    try:
        cmd = mpiexec_command(ranks)
    except LauncherError:
        return "mpiexec", f"-n {ranks}"
    return cmd[0], " ".join(shlex.quote(a) for a in cmd[1:])


def export(notebook, out_dir=None, ranks: int = 4, launcher: str = "mpiexec", slurm=None) -> list[Path]:
    """Write NAME.py and its job file next to the notebook (or in out_dir); the paths written."""
    path = Path(notebook)
    plain_on_ranks, cells = read_notebook(path)
    name = path.stem
    text = script(name, cells, plain_on_ranks, ranks)
    dest = Path(out_dir) if out_dir is not None else path.parent
    dest.mkdir(parents=True, exist_ok=True)
    job_name, job_text = job_file(name, ranks, launcher, slurm)
    written = [dest / f"{name}.py", dest / job_name]
    written[0].write_text(text)
    written[1].write_text(job_text)
    written[1].chmod(0o755)
    return written


def main(argv: list[str]) -> int:
    """`python -m mpikernel export ...` (see the module docstring)."""
    from mpikernel.cluster.slurm import SlurmError, SlurmOptions

    parser = argparse.ArgumentParser(prog="python -m mpikernel export",
                                     description="Write a notebook as a script and a batch job that runs it on MPI ranks.")
    parser.add_argument("notebook", help="the .ipynb file")
    parser.add_argument("-o", "--output-dir", metavar="DIR", help="where to write (default: beside the notebook)")
    parser.add_argument("--ranks", type=int, default=4, metavar="N", help="MPI ranks of the job (default 4)")
    parser.add_argument("--launcher", choices=("mpiexec", "slurm"), default="mpiexec")
    for flag, text in (("--partition", "Slurm partition"), ("--time", "time limit, like 01:00:00"),
                       ("--nodes", "node count, like 2"), ("--account", "account charged")):
        parser.add_argument(flag, help=text)
    args = parser.parse_args(argv)
    if args.ranks < 1:
        parser.error(f"--ranks must be 1 or more, not {args.ranks}")
    asked = {k: getattr(args, k) for k in ("partition", "time", "nodes", "account") if getattr(args, k)}
    if asked and args.launcher != "slurm":
        parser.error(f"--{next(iter(asked))} is a Slurm option: add --launcher slurm")
    try:
        slurm = SlurmOptions(**asked) if args.launcher == "slurm" else None
        written = export(args.notebook, args.output_dir, args.ranks, args.launcher, slurm)
    except (ExportError, SlurmError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    for p in written:
        print(f"wrote {p}")
    return 0
