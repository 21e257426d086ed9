"""Dask is optional: without it --backend dask says what to install; without --backend dask it is not imported."""

from __future__ import annotations

import subprocess
import sys

from tests.distributed.helpers import ROOT, SAMPLES_DIR_ARG


def test_missing_dask_names_the_extra(tmp_path):
    code = (
        "import sys; sys.modules['distributed'] = None; sys.modules['dask'] = None\n"
        "from cxr_desktop.cli import main\n"
        f"sys.exit(main(['screen', {SAMPLES_DIR_ARG!r}, '--csv', {str(tmp_path / 'out.csv')!r}, '--backend', 'dask']))"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 2
    assert "pip install .[distributed]" in result.stderr
    assert "Traceback" not in result.stderr


def test_the_default_screen_path_imports_no_dask():
    code = "import sys, cxr_desktop.cli, cxr_desktop.distributed.run\nprint(sorted(sys.modules))"
    result = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    assert "'dask'" not in result.stdout and "'distributed'" not in result.stdout
