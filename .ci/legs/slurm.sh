#!/usr/bin/env bash
# Leg: a single-node Slurm from Debian's packages (.ci/slurm-up), then the Slurm tests through it:
# %mpi_start --launcher slurm (batch job and allocation step), queue waits, %mpi_stop and SIGKILL
# of the owner cancelling the job, and a kernel spec installed with --launcher slurm.
# Called by .ci/run with ROOT and WORK set (the main venv active); stops the daemons it started.
# Whether Slurm answers is asked with the tests' own probe (tests/support/slurm_helpers.py), and
# MPIKERNEL_REQUIRE_SLURM=1 turns the tests' "no Slurm here" skip into a failure: this leg exists
# for those tests, it cannot pass by skipping them.
set -uo pipefail
: "${ROOT:?}" "${WORK:?}"
probe() { python "$ROOT/tests/support/slurm_helpers.py"; }
if probe; then
    echo "a Slurm answers already; using it (and leaving it running)"
else
    trap '"$ROOT/.ci/slurm-up" --down' EXIT
    "$ROOT/.ci/slurm-up" || { echo "could not bring up Slurm"; exit 1; }
    probe || { echo "Slurm came up but the tests' probe says it does not answer"; exit 1; }
fi
cd "$ROOT" && MPIKERNEL_REQUIRE_SLURM=1 python -m pytest -p no:cacheprovider -m slurm -rs tests/cluster/test_slurm.py || exit 1
left=$(squeue -h -o '%i %j %T' 2>/dev/null)
if [ -n "$left" ]; then
    echo "jobs left in the Slurm queue after the tests:"; echo "$left"; exit 1
fi
exit 0
