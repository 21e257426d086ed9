"""The architecture as checked contracts.

The layering (core imports no Qt, TensorFlow, Keras or engine; the engine no Qt; nothing but the
app's entry point imports the Qt package) is written as import-linter contracts in
``pyproject.toml``; ``.ci/run`` and the pre-commit hook run them, and this test runs them too so a
plain ``pytest`` catches a broken layer. What import-linter cannot see, that TensorFlow is imported
only when an Engine is made (start-up time), is checked by importing the modules.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
HEAVY = ("PyQt5", "tensorflow", "keras")


def _modules_loaded_by(statement: str) -> set[str]:
    code = f"import sys\n{statement}\nprint('\\n'.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True)
    return {name.split(".")[0] for name in out.stdout.split()}


def test_the_import_contracts_are_kept():
    lint = Path(sys.executable).with_name("lint-imports")
    result = subprocess.run([str(lint), "--no-cache"], cwd=ROOT, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "broken" in result.stdout and " 0 broken" in result.stdout


def test_engine_and_cli_import_tensorflow_lazily():
    loaded = _modules_loaded_by(
        "import cxr_desktop.engine.tensorflow_engine, cxr_desktop.cli, cxr_desktop.core.scoring"
    )
    assert not loaded & set(HEAVY)


def test_one_implementation_of_each_job():
    """The copies this project once had must not come back: one scorer, one rule, one record, one table."""
    sources = {
        path: path.read_text(encoding="utf-8")
        for top in ("cxr_desktop", "trainer")
        for path in (ROOT / top).rglob("*.py")
    }

    def defining(pattern: str) -> list[str]:
        return sorted(str(path.relative_to(ROOT)) for path, text in sources.items() if pattern in text)

    assert defining("def score_prepared(") == ["cxr_desktop/core/scoring.py"]
    assert defining("def decide(") == ["cxr_desktop/core/decision.py"]
    assert defining("def record_scored(") == ["cxr_desktop/core/audit.py"]
    assert defining("def is_image(") == ["cxr_desktop/core/radiograph.py"]
    assert defining("predict_on_batch") == []
    assert defining(".get(name, 0.5)") == [] and defining(".get(c, 0.5)") == []
