#!/usr/bin/env bash
# Leg: JupyterLab in Debian's chromium, driven by playwright (tests/course/test_browser.py, marker `browser`).
# Called by .ci/run with ROOT and WORK set, the main venv active, apt_install exported; exits
# non-zero on failure. playwright's own browser download does not work here: Debian's chromium is
# used instead (tests/support/browser_helpers.py passes executable_path=$(which chromium)).
set -uo pipefail
: "${ROOT:?}" "${WORK:?}"
command -v chromium >/dev/null || apt_install chromium || { echo "could not install chromium"; exit 1; }
(cd "$ROOT" && python -m pip install -q -e ".[lab]" "playwright>=1.40") || { echo "could not install the lab extra/playwright"; exit 1; }
# MPIKERNEL_REQUIRE_BROWSER: a missing chromium/playwright fails here instead of skipping.
# Screenshots of every state, light and dark, land in $WORK/screenshots (docs/screenshots/ has copies).
cd "$ROOT" && MPIKERNEL_REQUIRE_BROWSER=1 MPIKERNEL_SCREENSHOTS="$WORK/screenshots" timeout 600 python -m pytest -p no:cacheprovider \
    -m browser tests/course/test_browser.py
