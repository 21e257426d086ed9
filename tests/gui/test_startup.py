"""The window module must not pull TensorFlow in: the window has to appear before the model loads."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_ui_imports_no_tensorflow_and_no_pyplot():
    code = (
        "import sys, cxr_desktop.ui.app, cxr_desktop.exports.report_pdf\n"
        "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
        env={"QT_QPA_PLATFORM": "offscreen", "PATH": "/usr/bin:/bin"},
    ).stdout.split()
    assert "tensorflow" not in out and "keras" not in out
    assert "matplotlib" not in out, "matplotlib loads only when a PDF is written"
