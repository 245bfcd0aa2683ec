"""Benchmarks of mpikernel against its anchors (C, mpi4py, ipyparallel), as ratios from one run.

    python -m benchmarks binding [--quick]     # the binding against C and mpi4py
    python -m benchmarks notebook [--quick]    # the magics against ipyparallel's own MPI cluster

See docs/benchmarks.md for the numbers and how they were taken.
"""
