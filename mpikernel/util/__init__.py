"""Pure-Python helpers on top of the binding, named as mpi4py's ``mpi4py.util`` names them, so
code that imports ``from mpi4py.util import pkl5`` runs with the import changed to
``from mpikernel.util import pkl5``."""
