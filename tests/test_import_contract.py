"""The architecture as a checked contract: the core imports no Qt and no TensorFlow, the engine
imports TensorFlow only when an Engine is made, and the trainer never imports Qt."""

from __future__ import annotations

import pkgutil
import subprocess
import sys
from pathlib import Path

import cxr_desktop.core

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("PyQt5", "tensorflow", "keras")


def _modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_core_imports_neither_qt_nor_tensorflow():
    names = [m.name for m in pkgutil.iter_modules(cxr_desktop.core.__path__, "cxr_desktop.core.")]
    assert len(names) >= 10
    loaded = _modules_loaded_by("\n".join(f"import {name}" for name in names))
    assert not loaded & set(HEAVY), f"core pulled in {loaded & set(HEAVY)}"


def test_engine_and_cli_import_tensorflow_lazily():
    loaded = _modules_loaded_by("import cxr_desktop.engine.engine, cxr_desktop.cli")
    assert not loaded & set(HEAVY)


def test_trainer_never_imports_qt():
    loaded = _modules_loaded_by("import trainer.data, trainer.evaluation, trainer.export, trainer.__main__")
    assert "PyQt5" not in loaded
