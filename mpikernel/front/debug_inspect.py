"""What JupyterLab's debugger panel shows of the ranks' state: variables, rich views, modules.

ipykernel answers `inspectVariables`, `richInspectVariables` and `modules` from its own process.
The MPI kernel's user namespace lives on the ranks, so these answers are asked of every rank
(`rank_variables`, `rank_rich`, `rank_modules` below run there) and merged here, in the project's
one rule: what all ranks agree on is shown once, what differs is shown per rank. A variable whose
value differs has the value "[rank 0] 0 | [ranks 1-3] 1" and opens into one child per group of
ranks ("rank 0", "ranks 1-3"), served from `RankVariables`.

A rank is asked over ipyparallel when it is idle, and through its debugpy's `evaluate` in its
top frame when it is stopped at a breakpoint (its main thread cannot run an ipyparallel request
then); a rank that is busy running a cell does not answer in time and is listed as busy.
"""

from __future__ import annotations

import html
import json
import re
import sys
import types

from mpikernel.cells.merge import group_identical
from mpikernel.notation import rank_header, rank_label

# ipykernel's list of names the variables panel hides (IPython's own and the debugger's)
HIDDEN = frozenset([
    "__name__", "__doc__", "__package__", "__loader__", "__spec__", "__annotations__",
    "__builtins__", "__builtin__", "__display__", "get_ipython", "debugpy", "exit", "quit",
    "In", "Out", "_oh", "_dh", "_", "__", "___",
])
VALUE_CHARS = 200  # a value's repr is cut here: the panel is one line per variable
BUSY = "busy running a cell: its variables show when it stops at a breakpoint or the cell ends"
NOT_STOPPED = "not stopped: running on, or waiting for a stopped rank"
ALL_RANKS_SCOPE = "Locals, all ranks"
GROUP_ROWS = ("special variables", "function variables")  # debugpy's folders, not variables
KERNEL_REF_BASE = 1 << 32  # references minted here; debugpy's (times the rank count) stay below


def accept_variable(name: str) -> bool:
    """ipykernel's rule: not IPython's bookkeeping (_i3, _5, In, Out ...)."""
    return name not in HIDDEN and not re.match(r"^_\d", name) and not name.startswith("_i")


_ADDRESS = re.compile(r" (?:at|object at) 0x[0-9a-fA-F]+")


def without_addresses(text: str) -> str:
    """'<function f at 0x7f..>' -> '<function f>': an address differs on every rank and says nothing."""
    return _ADDRESS.sub("", text)


def _short_repr(value) -> str:
    try:
        text = without_addresses(repr(value))
    except Exception as exc:  # a broken __repr__ must not hide the other variables
        text = f"<repr failed: {type(exc).__name__}>"
    return text if len(text) <= VALUE_CHARS else text[: VALUE_CHARS - 3] + "..."


# ------------------------------------------------------------------ run on a rank


def rank_variables() -> list[dict]:
    """Runs on a rank: [{name, type, value}] of the user's namespace (modules left to `modules`)."""
    from IPython import get_ipython

    out = []
    for name, value in list(get_ipython().user_ns.items()):  # rank, size, comm included: they differ
        if not accept_variable(name) or isinstance(value, types.ModuleType):
            continue
        out.append({"name": name, "type": type(value).__name__, "value": _short_repr(value)})
    return out


def rank_rich(name: str) -> dict:
    """Runs on a rank: the mime bundle of NAME ({"data", "metadata"}), empty if it is not defined."""
    from IPython import get_ipython

    result = get_ipython().user_expressions({name: name})[name]
    if result.get("status") != "ok":
        return {"data": {}, "metadata": {}}
    return {"data": result.get("data", {}), "metadata": result.get("metadata", {})}


def rank_modules() -> list[list[str]]:
    """Runs on a rank: [name, path] of the imported modules that have Python source."""
    out = []
    for name, module in list(sys.modules.items()):
        origin = getattr(getattr(module, "__spec__", None), "origin", None)
        if origin and origin.endswith(".py"):
            out.append([name, origin])
    return out


def as_json(function: str, *args) -> str:
    """Runs on a stopped rank through debugpy's evaluate: one of the functions above, as JSON
    (debugpy's repr of a string is whole in the clipboard context; of a list it is cut)."""
    return json.dumps(RANK_FUNCTIONS[function](*args))


RANK_FUNCTIONS = {f.__name__: f for f in (rank_variables, rank_rich, rank_modules)}


_MODULE = "__import__('mpikernel.front.debug_inspect', fromlist=['as_json'])"


def evaluate_expression(function: str, args: tuple) -> str:
    """The expression a stopped rank's debugpy evaluates to run FUNCTION(*ARGS) there."""
    return f"{_MODULE}.as_json({function!r}, *{args!r})"


# ------------------------------------------------------------------ merged in the kernel


def _variable(name, value, type_=None, ref=0) -> dict:
    """One row. JupyterLab's tree shows a row's type instead of its value unless the type is
    int, float, bool, str or absent, so merged rows ("[rank 0] 0 | [rank 1] 10") have none."""
    return {"name": name, "value": value, "type": type_, "variablesReference": ref,
            "evaluateName": name}


class RankVariables:
    """The variables panel while no rank is stopped: one row per name, per-rank children when
    the ranks disagree (their references are minted here, from KERNEL_REF_BASE on)."""

    def __init__(self):
        self._children: list[list[dict]] = []

    def owns(self, ref: int) -> bool:
        return ref >= KERNEL_REF_BASE

    def children(self, ref: int) -> list[dict]:
        i = ref - KERNEL_REF_BASE
        return self._children[i] if 0 <= i < len(self._children) else []

    def keep(self, rows: list[dict]) -> int:
        """A reference whose children are ROWS (a scope of the panel made of merged rows)."""
        self._children.append(rows)
        return KERNEL_REF_BASE + len(self._children) - 1

    def build(self, answers: dict[int, list[dict] | None], busy_text: str = BUSY) -> list[dict]:
        """The panel's rows from {rank: rank_variables() or None (busy)}; earlier children go."""
        self._children = []
        answered = [r for r in sorted(answers) if answers[r] is not None]
        busy = [r for r in sorted(answers) if answers[r] is None]
        per_name: dict[str, dict[int, tuple[str, str]]] = {}
        for r in answered:
            for v in answers[r]:
                per_name.setdefault(v["name"], {})[r] = (v["type"], v["value"])
        rows = [_variable(rank_label(busy), busy_text)] if busy else []
        for name, seen in per_name.items():
            groups = group_identical({r: seen.get(r, (None, "(not defined)")) for r in answered})
            if len(groups) == 1:
                (type_, value) = groups[0][1]
                rows.append(_variable(name, value, type_))
                continue
            ref = self.keep([_variable(rank_label(rs), v, t) for rs, (t, v) in groups])
            rows.append(_variable(name, " | ".join(f"{rank_header(rs)} {v}" for rs, (_, v) in groups), None, ref))
        return rows


def _bundle_key(bundle: dict) -> str:
    return json.dumps(bundle, sort_keys=True, default=str)


def _html_of(data: dict) -> str:
    if "text/html" in data:
        return data["text/html"]
    for mime in ("image/png", "image/jpeg"):
        if mime in data:
            return f'<img src="data:{mime};base64,{data[mime]}"/>'
    return f"<pre>{html.escape(str(data.get('text/plain', '')))}</pre>"


def merge_rich(answers: dict[int, dict | None]) -> dict:
    """One mime bundle for the rich viewer: the ranks' own when they agree, else each group of
    ranks under its header, in text/plain and text/html."""
    got = {r: a for r, a in answers.items() if a is not None and a.get("data")}
    if not got:
        return {"data": {}, "metadata": {}}
    keyed = group_identical({r: _bundle_key(a) for r, a in got.items()})
    busy = sorted(r for r, a in answers.items() if a is None)
    if len(keyed) == 1 and not busy:
        return got[keyed[0][0][0]]
    plain, rich = [], []
    for ranks, _ in keyed:
        data = got[ranks[0]]["data"]
        plain.append(f"{rank_header(ranks)}\n{data.get('text/plain', '')}")
        rich.append(f"<h4>{rank_header(ranks)}</h4>{_html_of(data)}")
    if busy:
        plain.append(f"{rank_header(busy)}\n{BUSY}")
        rich.append(f"<h4>{rank_header(busy)}</h4><p>{BUSY}</p>")
    return {"data": {"text/plain": "\n".join(plain), "text/html": "\n".join(rich)}, "metadata": {}}


def merge_modules(answers: dict[int, list | None], start: int = 0, count: int | None = None) -> dict:
    """The modules panel: every module any rank imported (rank order), DAP's paging applied."""
    seen: dict[str, str] = {}
    for r in sorted(answers):
        for name, path in answers[r] or []:
            seen.setdefault(name, path)
    mods = [{"id": i, "name": name, "path": path} for i, (name, path) in enumerate(seen.items())]
    end = len(mods) if not count else start + count
    return {"modules": mods[start:end], "totalModules": len(mods)}
