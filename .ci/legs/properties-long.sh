#!/usr/bin/env bash
# Leg: the long property-based run of the binding (pytest marker `long`): 800 hypothesis cases
# on each of 2, 3 and 4 ranks, one mpiexec job each. Budget: 4 minutes (173 s measured at
# load 15-25 on 2 cores). Called by .ci/run (ROOT set).
set -uo pipefail
: "${ROOT:?}"
cd "$ROOT" && timeout 400 python -m pytest -m long -p no:cacheprovider tests/binding/test_binding_properties.py
