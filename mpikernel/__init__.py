"""mpikernel: interactive MPI in Jupyter and IPython.

``from mpikernel import MPI`` gives the compiled, mpi4py-compatible binding; ``%load_ext mpikernel``
registers the MPI magics in any IPython session.
"""

from mpikernel._version import __version__
from mpikernel import _libmpi

# The extension's libmpi must be loaded before the extension (see _libmpi). A missing library is
# reported when someone imports mpikernel.MPI, so the kernel and the magics still import.
_libmpi.install_preload_hook(__name__ + ".MPI")

__all__ = ["__version__", "world", "load_ipython_extension", "unload_ipython_extension"]


def world():
    """The MPI world of this shell's session (started by %mpi_start or the kernel): push/pull/scatter/gather."""
    from mpikernel.front.magics import world as current

    return current()


def load_ipython_extension(ipython):
    from mpikernel.front.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython):
    from mpikernel.front.magics import unload_ipython_extension as unload

    unload(ipython)
