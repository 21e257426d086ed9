#!/usr/bin/env bash
# Creates .venv/ in the project root and installs the pinned dependencies from pyproject.toml
# (exact versions; constraints.txt pins the transitive ones). Idempotent: a second run only checks.
# CXR_GPU=1 installs the CUDA build of TensorFlow (Linux) instead of tensorflow-cpu.
# Installs every extra (trainer, PACS, Dask) and the dev tools: what the test suite needs.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || { echo "setup: Python 3.11 is required (set PYTHON=...)" >&2; exit 1; }
extra=trainer
[ "${CXR_GPU:-0}" = "1" ] && extra=gpu
stamp=".venv/.installed-$extra-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  echo "setup: installing pinned dependencies into .venv/ (first run only)..." >&2
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  log=.venv/setup.log
  if ! .venv/bin/python -m pip install --disable-pip-version-check -c constraints.txt -e ".[$extra,pacs,distributed,dev]" >"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "setup: pip install failed; full log in $log" >&2
    exit 1
  fi
  rm -f .venv/.installed-*
  touch "$stamp"
fi
