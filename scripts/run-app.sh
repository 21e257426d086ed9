#!/usr/bin/env bash
# Quick start 1: set up (first time only) and open CXR Desktop on the bundled three-class model.
# With no screen it says so and runs the headless screen on resources/samples instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh
exec .venv/bin/cxr-desktop "$@"
