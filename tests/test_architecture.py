"""The tree keeps the shape docs/architecture.md draws: imports flow one way, without cycles.

Read from the sources with `ast` (every import, also those inside functions, which Python runs
later but which tie the modules together all the same), so the rule holds without importing
anything.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "mpikernel"

# Who may import whom: a module may import its own layer and the layers below it.
LAYERS = {
    "entry": 5,  # mpikernel/__init__.py and __main__.py: the doors, they may delegate anywhere
    "front": 4,  # the Session, magics, kernel, kernel specs, CLI parts
    "trace": 3,  # traced cells, built on cells
    "cells": 2,  # running a cell and merging what the ranks said
    "cluster": 1,  # the processes of a world
    "util": 0,  # mpi4py.util's modules, on the binding only
    "base": 0,  # notation, _libmpi, _version, the binding (MPI): usable from everywhere
}
LONG_FUNCTION = 60  # lines; a longer one says why in its docstring ("Long because ...")


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def layer(module: str) -> int:
    parts = module.split(".")
    if module == "mpikernel" or module == "mpikernel.__main__":
        return LAYERS["entry"]
    if len(parts) > 1 and parts[1] in LAYERS:
        return LAYERS[parts[1]]
    return LAYERS["base"]


def resolve(name: str, known: dict) -> str | None:
    """The mpikernel module an import names (a package's __init__ when no module of that name)."""
    while name and name not in known:
        name = name.rpartition(".")[0]
    return name or None


def imports_of(module: str, path: Path, known: dict) -> set[str]:
    """Every mpikernel module that `module` imports, wherever in the file the import stands."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(up + ([base] if base else []))
            names = [f"{base}.{a.name}" for a in node.names]  # a name resolves to its module
        else:
            continue
        for name in names:
            if name.split(".")[0] == "mpikernel":
                target = resolve(name, known)
                if target and target != module:
                    found.add(target)
    return found


def graph() -> dict[str, set[str]]:
    known = modules()
    known.setdefault("mpikernel.MPI", None)  # the compiled binding
    return {m: imports_of(m, p, known) for m, p in modules().items()}


def find_cycle(edges: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a path [a, b, ..., a], or None (depth-first search, three colours)."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m):
        state[m] = 1
        stack.append(m)
        for n in sorted(edges.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(edges):
        if m not in state and (found := visit(m)):
            return found
    return None


def test_the_import_graph_has_no_cycle():
    cycle = find_cycle(graph())
    assert cycle is None, "import cycle: " + " -> ".join(cycle)


def test_imports_flow_from_the_front_down_to_the_processes():
    upward = sorted(f"{m} imports {n}" for m, targets in graph().items() for n in targets
                    if layer(n) > layer(m))
    assert upward == [], "imports against the layers (front -> trace -> cells -> cluster -> base):\n" + \
        "\n".join(upward)


def test_the_checks_themselves_can_fail():
    """A cycle and an upward import made up here are caught (so the two tests above mean something)."""
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set()}) is None
    assert layer("mpikernel.cells.runner") < layer("mpikernel.front.session")
    assert layer("mpikernel.notation") < layer("mpikernel.cluster.world")


def long_functions(path: Path):
    tree = ast.parse(path.read_text(), str(path))
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            doc = ast.get_docstring(node) or ""
            if length > LONG_FUNCTION and "long because" not in doc.lower():
                yield f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({length} lines)"


def test_no_function_is_long_without_saying_why():
    long = [f for p in sorted(PACKAGE.rglob("*.py")) for f in long_functions(p)]
    assert long == [], f"functions over {LONG_FUNCTION} lines without 'Long because' in the docstring:\n" + \
        "\n".join(long)


@pytest.mark.parametrize("package", ["cluster", "cells", "trace", "front"])
def test_each_package_says_what_it_may_import(package):
    doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text())) or ""
    assert "import" in doc.lower(), f"mpikernel/{package}/__init__.py should say what the package may import"
