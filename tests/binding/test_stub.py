"""The type stub mpikernel/MPI.pyi and the compiled module list the same public names."""

import ast
from pathlib import Path

from mpikernel import MPI

STUB = Path(MPI.__file__).with_name("MPI.pyi")
INTERNAL = {"MPIException", "cython"}


def stub_names():
    tree = ast.parse(STUB.read_text())
    names = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            names.add(node.name)
        elif isinstance(node, ast.AnnAssign):
            names.add(node.target.id)
    return names


def test_every_public_name_is_in_the_stub():
    public = {n for n in dir(MPI) if not n.startswith("_")} - INTERNAL
    missing = sorted(public - stub_names())
    assert not missing, f"add to MPI.pyi: {missing}"


def test_the_stub_names_only_what_exists():
    stale = sorted(n for n in stub_names() if not hasattr(MPI, n) and n not in ("Buffer", "BufSpec"))
    assert not stale, f"remove from MPI.pyi: {stale}"
