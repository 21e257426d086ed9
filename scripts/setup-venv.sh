#!/usr/bin/env bash
# Creates .venv/ in the project root and installs the pinned dependencies from pyproject.toml
# (exact versions; constraints.txt pins the transitive ones). Idempotent: a second run only checks.
# CXR_GPU=1 installs the CUDA build of TensorFlow (Linux) instead of tensorflow-cpu.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3.11}
command -v "$PYTHON" >/dev/null || { echo "setup: Python 3.11 is required (set PYTHON=...)" >&2; exit 1; }
extra=cpu
[ "${CXR_GPU:-0}" = "1" ] && extra=gpu
stamp=".venv/.installed-$extra-$(cat pyproject.toml constraints.txt | sha256sum | cut -c1-16)"
if [ ! -f "$stamp" ]; then
  [ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
  .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip >/dev/null
  .venv/bin/python -m pip install --quiet --disable-pip-version-check -c constraints.txt -e ".[$extra,dev]"
  rm -f .venv/.installed-*
  touch "$stamp"
fi
