#!/usr/bin/env bash
# Leg: mpi4py 4.1.2's own test suite (its sdist's test/, unedited) on 2 ranks, against mpi4py and
# against our binding through tests/mpi4py_suite/shim, side by side (issue 18's measuring stick).
# Fails if ours passes fewer tests than tests/mpi4py_suite/floor.json records, or if mpi4py itself
# does not run the suite to the end. The sdist is cached outside the checkout (run.py --cache).
# Took 48-75 s here, by load (mpi4py 46-74 s, ours 1 s: most modules stop at import on MPI.get_vendor); every
# hang costs --stall seconds, and --timeout bounds each implementation.
# Called by .ci/run (ROOT and WORK set, the main venv active).
set -uo pipefail
: "${ROOT:?}" "${WORK:?}"
cd "$WORK" && timeout 900 python "$ROOT/tests/mpi4py_suite/run.py" --impl both --ranks 2 --stall 15 \
    --timeout 300 --floor "$ROOT/tests/mpi4py_suite/floor.json" --json "$WORK/logs/mpi4py-suite.json"
