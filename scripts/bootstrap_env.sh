#!/usr/bin/env bash
# Creates (or refreshes) the project's virtual environment and prints its path.
# Idempotent: re-installs only when pyproject.toml or this script changed.
# torch is pinned to a CPU build; override with KNEE_T2_TORCH_SPEC (e.g. "torch" for CUDA).
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
venv="${KNEE_T2_VENV:-$repo/.venv}"
python="${PYTHON:-python3}"
torch_spec="${KNEE_T2_TORCH_SPEC:-torch==2.13.0}"
stamp="$venv/.knee-t2-stamp"
want="$(cat "$repo/pyproject.toml" "$repo/scripts/bootstrap_env.sh" | sha256sum | cut -d' ' -f1) $torch_spec"
if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$venv/bin/python" ]; then
  echo "$venv"; exit 0
fi
{
  [ -x "$venv/bin/python" ] || "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install -q --upgrade pip
  "$venv/bin/python" -m pip install -q "$torch_spec"
  "$venv/bin/python" -m pip install -q -e "$repo[all,slicer,test]"
} 1>&2
echo "$want" > "$stamp"
echo "$venv"
