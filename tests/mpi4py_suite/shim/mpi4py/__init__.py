"""A package named `mpi4py` whose `MPI` is `mpikernel.MPI`: how run.py runs mpi4py's own test
suite, unedited, against our binding. Only on PYTHONPATH for that run; never installed.

It provides what mpikernel provides and nothing more, so that every test of a part of mpi4py we
lack fails on ours instead of passing against a stand-in:
- `mpi4py.MPI` is `mpikernel.MPI`;
- `mpi4py.<name>` for a name in ALIASED is `mpikernel.<name>` when mpikernel has that module
  (mpi4py.util -> mpikernel.util once issue 18 adds `mpikernel.util.pkl5`), else ImportError;
- `__version__` is mpikernel's (mpi4py's runner prints it in its banner).
mpi4py's pure-Python extras (rc, profile, get_include, get_config, run, futures, bench, typing,
_mpiabi) are absent: their tests error, and run.py counts those modules apart ("outside the MPI
module") as well as in the totals.
"""

import importlib
import importlib.abc
import importlib.util
import sys

import mpikernel
from mpikernel import MPI

__version__ = mpikernel.__version__
__all__ = ["MPI"]

ALIASED = ("util",)
sys.modules[__name__ + ".MPI"] = MPI


class _Alias(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """mpi4py.util[.x] -> mpikernel.util[.x], the same module object under both names."""

    def find_spec(self, fullname, path=None, target=None):
        parts = fullname.split(".")
        if parts[0] != __name__ or len(parts) < 2 or parts[1] not in ALIASED:
            return None
        real = "mpikernel." + ".".join(parts[1:])
        if importlib.util.find_spec(real) is None:
            return None
        return importlib.util.spec_from_loader(fullname, self, is_package=True)

    def create_module(self, spec):
        return importlib.import_module("mpikernel." + spec.name.split(".", 1)[1])

    def exec_module(self, module):
        pass


sys.meta_path.insert(0, _Alias())
