"""Shared fixtures: real data paths, the bundled models, and a tiny bundle for plumbing tests.

The tiny bundle (a 4-layer CNN at 64 px, random weights) goes through the real bundle writer and
the real engine; it proves plumbing only. Claims about the product use the bundled models.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.bundles import make_tiny_bundle

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


@pytest.fixture(scope="session", autouse=True)
def isolated_user_files(tmp_path_factory):
    """Keep the log, audit trail and pseudonym key of test runs out of the user's own folders."""
    home = tmp_path_factory.mktemp("cxr-home")
    saved = {key: os.environ.get(key) for key in ("CXR_HOME", "CXR_AUDIT_DIR")}
    os.environ["CXR_HOME"] = str(home)
    os.environ["CXR_AUDIT_DIR"] = str(home / "audit")
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


ROOT = Path(__file__).resolve().parents[1]
SAMPLES = ROOT / "resources" / "samples"


def data_dir() -> Path:
    from trainer.data import default_data_dir

    return default_data_dir()


@pytest.fixture(scope="session")
def cxr3() -> Path:
    """The shared real data set; tests that need it fail loudly if it is missing."""
    path = data_dir()
    assert (path / "manifest.csv").is_file(), f"real data not found at {path}; set CXR_DATA_DIR"
    return path


@pytest.fixture(scope="session")
def sample_images() -> list[Path]:
    return sorted(SAMPLES.glob("*.jpg"))


@pytest.fixture(scope="session")
def tiny_bundle(tmp_path_factory):
    return make_tiny_bundle(tmp_path_factory.mktemp("bundles") / "tiny")


@pytest.fixture(scope="session")
def tiny_engine(tiny_bundle):
    from cxr_desktop.engine.tensorflow_engine import Engine

    return Engine(tiny_bundle)


@pytest.fixture(scope="session")
def bundle_3class():
    from cxr_desktop.core.bundle import load_bundle

    return load_bundle("densenet121-3class")


@pytest.fixture(scope="session")
def bundle_binary():
    from cxr_desktop.core.bundle import load_bundle

    return load_bundle("densenet121-binary")


@pytest.fixture(scope="session")
def engine_3class(bundle_3class):
    """The bundled model on the engine the app picks here (the exported graph, no TensorFlow)."""
    from cxr_desktop.engine import load_engine

    return load_engine(bundle_3class)
