# cython: language_level=3
"""mpikernel.MPI: placeholder while the binding is written (replaced in the next commit)."""
