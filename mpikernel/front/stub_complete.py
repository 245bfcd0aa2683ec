"""Completion of `comm.` and `MPI.` without the ranks, from the type stub (mpikernel/MPI.pyi).

The MPI kernel asks rank 0, whose IPython knows the user's variables. While the ranks start, or
when rank 0 is slow to answer (a busy machine), JupyterLab would show nothing: it drops a reply
that takes more than 1 s. For the names every rank has from the start (`comm`, `MPI`,
`MPI.COMM_WORLD`, ...) the stub lists the same members, with no MPI in this process.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

STUB = Path(__file__).resolve().parent.parent / "MPI.pyi"  # beside the binding, one package up

# `comm` and MPI.COMM_WORLD/COMM_SELF are Intracomms (mpikernel.cluster.engine.make_namespace)
_ATTRIBUTE = re.compile(r"(?<![\w.])(comm|MPI\.COMM_WORLD|MPI\.COMM_SELF|MPI)\.(\w*)$")


@lru_cache(maxsize=1)
def _stub() -> tuple[dict[str, tuple[set[str], list[str]]], set[str]]:
    """({class: (public members, base names)}, public module names) of the stub."""
    classes: dict[str, tuple[set[str], list[str]]] = {}
    module: set[str] = set()
    for node in ast.parse(STUB.read_text()).body:
        if isinstance(node, ast.ClassDef):
            members = {_name(n) for n in node.body} - {None}
            classes[node.name] = ({m for m in members if not m.startswith("_")},
                                  [b.id for b in node.bases if isinstance(b, ast.Name)])
        name = _name(node)
        if name and not name.startswith("_"):
            module.add(name)
    return classes, module


def _name(node) -> str | None:
    if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
        return node.name
    if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
        return node.target.id
    return None


def _members(cls: str, classes) -> set[str]:
    own, bases = classes.get(cls, (set(), []))
    return own.union(*(_members(b, classes) for b in bases))


def complete(code: str, cursor_pos: int) -> dict | None:
    """A complete_reply for `comm.allr`, `MPI.SU`, `MPI.COMM_WORLD.Get_` (else None)."""
    line = code[:cursor_pos].rsplit("\n", 1)[-1]
    m = _ATTRIBUTE.search(line)
    if m is None:
        return None
    obj, prefix = m.groups()
    classes, module = _stub()
    names = module if obj == "MPI" else _members("Intracomm", classes)
    matches = sorted(n for n in names if n.startswith(prefix))
    if not matches:
        return None
    return {"status": "ok", "matches": matches, "cursor_start": cursor_pos - len(prefix),
            "cursor_end": cursor_pos, "metadata": {"mpikernel_source": "MPI.pyi"}}
