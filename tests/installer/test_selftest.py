"""The self-test logic, from the source tree, on the real sample images.

A tiny stand-in bundle saved under the default model's name keeps this fast; it proves the
recording/comparison plumbing. The real models are checked by the frozen-app test.
"""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import pytest

from tests.bundles import make_tiny_bundle
from cxr_desktop.core.bundle import DEFAULT_MODEL
from cxr_desktop.core.errors import BundleError
from cxr_desktop.core.resources import sample_images
from cxr_desktop.selftest import SCHEMA, decoder_checks, record_expected, run_selftest


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("models")
    make_tiny_bundle(root / DEFAULT_MODEL)
    return root


@pytest.fixture(scope="module")
def recorded(tiny_models, tmp_path_factory) -> Path:
    target = tmp_path_factory.mktemp("expected") / "selftest_expected.json"
    record_expected(tiny_models, target)
    return target


def test_record_scores_every_sample_with_every_bundle(recorded, tiny_models):
    data = json.loads(recorded.read_text(encoding="utf-8"))
    assert data["schema"] == SCHEMA
    assert list(data["models"]) == [DEFAULT_MODEL]
    model = data["models"][DEFAULT_MODEL]
    assert sorted(model["samples"]) == [p.name for p in sample_images()]
    assert len(model["samples"]) == 6
    for result in model["samples"].values():
        assert result["status"] == "ok"
        assert result["prediction"] in model["classes"]
        assert sum(result["probabilities"].values()) == pytest.approx(1.0, abs=1e-4)


def test_selftest_passes_against_its_own_recording(recorded, tiny_models, monkeypatch):
    monkeypatch.setenv("CXR_MODELS_DIR", str(tiny_models))
    out = io.StringIO()
    assert run_selftest(recorded, out) == 0
    report = out.getvalue()
    assert "self-test passed" in report
    assert "FAIL" not in report
    for sample in sample_images():
        assert sample.name in report


def test_selftest_fails_when_a_probability_moved_or_weights_changed(recorded, tiny_models, monkeypatch, tmp_path):
    """A recording that no longer matches (as after swapping the model) fails the named rows."""
    data = json.loads(recorded.read_text(encoding="utf-8"))
    model = data["models"][DEFAULT_MODEL]
    first = sorted(model["samples"])[0]
    probabilities = model["samples"][first]["probabilities"]
    name = next(iter(probabilities))
    probabilities[name] = probabilities[name] + 0.01
    model["model_sha256"] = "0" * 64
    tampered = tmp_path / "expected.json"
    tampered.write_text(json.dumps(data), encoding="utf-8")
    monkeypatch.setenv("CXR_MODELS_DIR", str(tiny_models))
    out = io.StringIO()
    assert run_selftest(tampered, out) == 1
    failed = [line for line in out.getvalue().splitlines() if line.rstrip().endswith("FAIL")]
    assert len(failed) == 2
    assert any(first in line for line in failed)
    assert any("weights sha256" in line for line in failed)
    assert "self-test FAILED: 2 of" in out.getvalue()


def test_selftest_fails_when_a_bundled_model_is_missing(recorded, tmp_path, monkeypatch):
    monkeypatch.setenv("CXR_MODELS_DIR", str(tmp_path))
    out = io.StringIO()
    assert run_selftest(recorded, out) == 1
    assert "not found" in out.getvalue()


def test_selftest_without_recorded_results_says_how_to_get_them(tmp_path):
    out = io.StringIO()
    assert run_selftest(tmp_path / "absent.json", out) == 1
    assert "cxr-build" in out.getvalue()


def test_recording_refuses_a_model_folder_without_the_default_model(tiny_models, tmp_path):
    other = tmp_path / "models"
    shutil.copytree(tiny_models / DEFAULT_MODEL, other / "site-model")
    with pytest.raises(BundleError, match=DEFAULT_MODEL):
        record_expected(other, tmp_path / "expected.json")


def test_dicom_decoder_plugins_are_discovered():
    checks = decoder_checks()
    assert len(checks) == 3
    assert all(check.passed for check in checks), checks
