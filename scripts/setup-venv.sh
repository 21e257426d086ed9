#!/usr/bin/env bash
# Creates .venv/ in the project root and installs the pinned dependencies from pyproject.toml
# (exact versions; constraints.txt pins the transitive ones). Idempotent: a second run only checks.
#   scripts/setup-venv.sh app   the app alone (no TensorFlow): what scripts/run-app.sh needs
#   scripts/setup-venv.sh       everything the test suite needs: the app, every extra (trainer with
#                               TensorFlow, PACS, Dask) and the dev tools
# CXR_GPU=1 adds the CUDA build of TensorFlow (Linux), which the app then uses on an NVIDIA GPU.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || { echo "setup: Python 3.11 is required (set PYTHON=...)" >&2; exit 1; }
extra=trainer
[ "${CXR_GPU:-0}" = "1" ] && extra=gpu
hash=$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)
full=".venv/.installed-$extra-$hash"
if [ "${1:-}" = "app" ]; then
  stamp=".venv/.installed-app-$hash"
  target="."
  [ "$extra" = "gpu" ] && target=".[gpu]"
  [ -f "$full" ] && exit 0
else
  stamp="$full"
  target=".[$extra,pacs,distributed,dev]"
fi
if [ ! -f "$stamp" ]; then
  echo "setup: installing pinned dependencies into .venv/ (first run only)..." >&2
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  log=.venv/setup.log
  if ! .venv/bin/python -m pip install --disable-pip-version-check -c constraints.txt -e "$target" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "setup: pip install failed; full log in $log" >&2
    exit 1
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi
