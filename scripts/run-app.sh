#!/usr/bin/env bash
# Quick start 1: set up (first time only) and open CXR Desktop on the bundled three-class model.
# With no screen it says so and runs the headless screen on resources/samples instead.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-venv.sh app
# Qt aborts (SIGABRT) when its X11 plugin's system libraries are missing: find them first and
# install them with apt when allowed (root or passwordless sudo), else print the exact command.
if [ "${1:-}" != "screen" ]; then
  .venv/bin/python -m cxr_desktop.ui.qt_platform --install || exit 1
fi
exec .venv/bin/cxr-desktop "$@"
