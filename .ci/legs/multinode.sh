#!/usr/bin/env bash
# Leg: the 3-node Slurm cluster of .ci/cluster-up (network namespaces on this machine), then the
# multi-node tests on its login node: a 6-rank world over 3 nodes, Ctrl-C across nodes, SIGKILL of
# the kernel (nothing left on any node, job cancelled), a node lost mid-cell, a forged connection.
# Called by .ci/run with ROOT and WORK set (the main venv active). MPIKERNEL_REQUIRE_CLUSTER=1
# turns the tests' "no cluster here" skip into a failure: this leg cannot pass by skipping them.
set -uo pipefail
: "${ROOT:?}" "${WORK:?}"
trap '"$ROOT/.ci/cluster-up" down' EXIT
"$ROOT/.ci/cluster-up" || { echo "could not bring up the cluster"; exit 1; }
cd "$ROOT" && MPIKERNEL_REQUIRE_CLUSTER=1 timeout 600 "$ROOT/.ci/cluster-up" exec \
    python -m pytest -p no:cacheprovider -rs tests/cluster/test_multinode.py || exit 1
left=$("$ROOT/.ci/cluster-up" exec squeue -h -o '%i %j %T' 2>/dev/null)
if [ -n "$left" ]; then
    echo "jobs left in the cluster's queue after the tests:"; echo "$left"; exit 1
fi
exit 0
