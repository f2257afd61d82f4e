#!/usr/bin/env bash
# The main job on the embedded default: the real GE knee MESE exam (fetched into the
# cache on first use) or, when it cannot be had, a generated knee phantom.
# Output folder: first argument, default ./knee-t2-output
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="$(bash "$repo/scripts/bootstrap_env.sh")"
"$venv/bin/knee-t2" demo -o "${1:-knee-t2-output}"
