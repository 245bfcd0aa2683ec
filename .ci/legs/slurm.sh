#!/usr/bin/env bash
# Leg: a single-node Slurm from Debian's packages (.ci/slurm-up), then the Slurm tests through it:
# %mpi_start --launcher slurm (batch job and allocation step), queue waits, %mpi_stop and SIGKILL
# of the owner cancelling the job, and a kernel spec installed with --launcher slurm.
# Called by .ci/run with ROOT and WORK set (the main venv active); stops the daemons it started.
set -uo pipefail
: "${ROOT:?}" "${WORK:?}"
if timeout 10 srun -N1 -n1 -t 1 true >/dev/null 2>&1; then
    echo "a Slurm answers already; using it (and leaving it running)"
else
    trap '"$ROOT/.ci/slurm-up" --down' EXIT
    "$ROOT/.ci/slurm-up" || { echo "could not bring up Slurm"; exit 1; }
fi
cd "$ROOT" && python -m pytest -p no:cacheprovider -m slurm -rs tests/cluster/test_slurm.py || exit 1
left=$(squeue -h -o '%i %j %T' 2>/dev/null)
if [ -n "$left" ]; then
    echo "jobs left in the Slurm queue after the tests:"; echo "$left"; exit 1
fi
exit 0
