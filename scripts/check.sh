#!/usr/bin/env bash
# The habits that keep one room per job, run before the tests by .ci/run (and, per hook, by
# .pre-commit-config.yaml): ruff lint and format, mypy strict on the core, the import-linter
# contracts of pyproject.toml (core imports no Qt/TensorFlow/Keras/engine; engine no Qt; nothing but
# the entry point imports the Qt package).
set -euo pipefail
cd "$(dirname "$0")/.."
.venv/bin/ruff check .
.venv/bin/ruff format --check .
.venv/bin/mypy
.venv/bin/lint-imports --no-cache
