#!/usr/bin/env bash
# Leg: mpi4py 4.1.2's own test suite (its sdist's test/, unedited) against our binding through
# tests/mpi4py_suite/shim: on 2 ranks side by side with mpi4py, then ours alone on 1 rank.
# Fails if ours passes fewer tests than tests/mpi4py_suite/floor.json records for that rank
# count, or if mpi4py itself does not run the suite to the end. The sdist is cached outside the
# checkout (run.py --cache).
# Measured (issue 18, a loaded 2-core machine): the whole leg 233 s (2 ranks mpi4py 155 s, ours
# 67 s with 3 hangs; 1 rank ours 11-17 s); 4 ranks ours alone took 185 s (4 hangs of --stall
# each), left out so the worst case stays under 10 minutes. Every hang costs --stall seconds; --timeout bounds each implementation, so the
# leg cannot take longer than 2 x 240 + 90 s.
# Called by .ci/run (ROOT and WORK set, the main venv active).
set -uo pipefail
: "${ROOT:?}" "${WORK:?}"
cd "$WORK" || exit 1
rc=0
timeout 600 python "$ROOT/tests/mpi4py_suite/run.py" --impl both --ranks 2 --stall 15 \
    --timeout 240 --floor "$ROOT/tests/mpi4py_suite/floor.json" \
    --json "$WORK/logs/mpi4py-suite.json" || rc=1
timeout 120 python "$ROOT/tests/mpi4py_suite/run.py" --impl mpikernel --ranks 1 --stall 15 \
    --timeout 90 --floor "$ROOT/tests/mpi4py_suite/floor.json" \
    --json "$WORK/logs/mpi4py-suite-1.json" || rc=1
exit $rc
