#!/usr/bin/env bash
# Leg: `pip install` on a machine without MPI - the mpich wheel from PyPI - when the main leg was
# built against a system MPI instead (an mpicc on PATH wins there, as in mpi4py's install guide):
# a second venv built with MPIKERNEL_MPI=mpich from a clean copy, then the binding, real-MPI,
# world, magics and kernel tests against it.
# The launcher mix-up tests (tests/install/test_real_mpis.py) need the other family's mpiexec:
# Debian's mpiexec.openmpi, installed here when missing, and MPIKERNEL_REQUIRE_OTHER_MPI=1 makes
# their "no other MPI" skip a failure.
# Called by .ci/run with ROOT, WORK and apt_install; exits non-zero on failure.
set -uo pipefail
: "${ROOT:?}" "${WORK:?}"
# shellcheck source=lib.sh
source "$ROOT/.ci/legs/lib.sh"
command -v mpiexec.openmpi >/dev/null || apt_install openmpi-bin \
    || { echo "FAILED: Debian's openmpi-bin (the other MPI of the mix-up tests) could not be installed"; exit 1; }
export MPIKERNEL_REQUIRE_OTHER_MPI=1
copy_source "$WORK/src-mpich" || exit 1
python3 -m venv "$WORK/mpich" || exit 1
(cd "$WORK/src-mpich" && MPIKERNEL_MPI=mpich "$WORK/mpich/bin/python" -m pip install -q ".[test]") \
    || { echo "build against the mpich wheel failed"; exit 1; }
(cd "$WORK" && "$WORK/mpich/bin/python" -m mpikernel info) || exit 1
(cd "$WORK" && "$WORK/mpich/bin/python" -c '
from mpikernel._libmpi import build_config
c = build_config()
assert c.get("vendor") == "MPICH" and c.get("in_python_prefix"), c
') || { echo "the mpich-wheel venv was not built against the mpich wheel"; exit 1; }
installed_pytest "$WORK/mpich" tests/install/test_build.py tests/install/test_real_mpis.py tests/binding/test_binding_*.py \
    tests/cluster/test_cluster.py tests/front/test_magics.py tests/front/test_kernel_mpi.py
