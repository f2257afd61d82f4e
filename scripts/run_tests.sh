#!/usr/bin/env bash
# Runs the whole test suite in the project's own environment (bootstrapped on first use).
# Extra arguments go to pytest, e.g. scripts/run_tests.sh -k t2 -x
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$(bash "$repo/scripts/bootstrap_env.sh")"
cd "$repo"
set +e
"$venv/bin/python" -m pytest "$@"
status=$?
set -e
# pytest exits 5 when nothing was collected: that is a failure of the suite, not a pass.
exit $status
