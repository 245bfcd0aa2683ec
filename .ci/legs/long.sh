#!/usr/bin/env bash
# Leg: the long reliability runs (pytest marker `long`): 50 interrupt cycles, 2,000 cells,
# 100 MB of output per rank, 1 GiB push/pull. Budget: 5 minutes. Called by .ci/run (ROOT set).
set -uo pipefail
: "${ROOT:?}"
cd "$ROOT" && timeout 330 python -m pytest -m long -p no:cacheprovider tests/test_long_session.py
