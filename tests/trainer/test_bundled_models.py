"""Each shipped bundle matches its metadata and carries its evaluation.

The network itself is checked against ``network_data_format`` (input shape and channels, output
channels and their names), the layers the engine relies on exist, and the held-out test figures,
calibration, limitations and report are recorded. The issue's targets are asserted too, on the
bundle's own patient-disjoint test split.
"""

from __future__ import annotations

import numpy as np
import pytest

from cxr_desktop.core.preprocessing import preprocess
from cxr_desktop.core.radiograph import load_radiograph
from trainer.report import FIGURES, PREDICTIONS_FILE, REPORT_DIR


@pytest.fixture(params=["bundle_3class", "bundle_binary"])
def bundle(request):
    return request.getfixturevalue(request.param)


def test_network_matches_its_metadata(bundle, sample_images):
    import keras

    from cxr_desktop.engine.engine import Engine

    model = keras.saving.load_model(bundle.model_path, safe_mode=True, compile=False)
    declared = bundle.metadata["network_data_format"]
    image, pred = declared["inputs"]["image"], declared["outputs"]["pred"]
    assert tuple(model.inputs[0].shape[1:]) == (*image["spatial_shape"], image["num_channels"])
    assert image["spatial_shape"] == [bundle.preprocessing.size] * 2
    assert image["num_channels"] == bundle.preprocessing.channels
    assert int(model.outputs[0].shape[-1]) == pred["num_channels"] == len(bundle.classes)
    assert pred["channel_def"] == {str(i): c for i, c in enumerate(bundle.classes)}
    meta = bundle.metadata
    assert int(model.get_layer(meta["logits_layer"]).output.shape[-1]) == len(bundle.classes)
    assert len(model.get_layer(meta["gradcam_layer"]).output.shape) == 4
    assert len(model.get_layer(meta["feature_layer"]).output.shape) == 2

    engine = Engine(bundle)
    batch = np.stack([preprocess(load_radiograph(p).pixels, engine.spec) for p in sample_images])
    scores = engine.explain(batch)
    assert scores.probabilities.shape == (len(sample_images), len(bundle.classes))
    np.testing.assert_allclose(scores.probabilities.sum(axis=1), 1.0, atol=1e-4)
    assert scores.cams.shape[:2] == (len(sample_images), len(bundle.classes))


def test_test_split_metrics_are_recorded(bundle):
    meta = bundle.metadata
    test = meta["metrics"]["test"]
    assert test["n"] == meta["training"]["split"]["test"]["images"] >= 100
    assert set(test["per_class"]) == set(bundle.classes)
    for name, entry in test["per_class"].items():
        assert 0.5 < entry["auc"] <= 1.0, name
        assert entry["threshold"] == pytest.approx(bundle.thresholds[name])
    assert np.array(test["confusion_matrix"]).sum() == test["n"]
    calibration = meta["calibration"]
    assert calibration["temperature"] > 0
    assert {"ece_test_before", "ece_test_after"} <= set(calibration)
    assert meta["metrics"]["per_source"] and meta["metrics"]["per_age_group"]
    assert meta["limitations"]


def test_evaluation_report_and_model_card_ship_with_the_bundle(bundle):
    meta = bundle.metadata
    robustness = meta["metrics"]["robustness"]
    assert robustness["perturbations"] and robustness["images"] > 100
    report = bundle.folder / REPORT_DIR
    for name in (*FIGURES.values(), "summary.md", PREDICTIONS_FILE):
        assert (report / name).is_file(), name
    assert (bundle.folder / "split.csv").is_file()
    card = (bundle.folder / "README.md").read_text(encoding="utf-8")
    assert f"# {bundle.name} v{bundle.version}" in card
    gate = meta["ood"]["evaluation"]
    assert "## 'Not a chest X-ray' gate" in card
    assert f"{gate['cxr_wrongly_flagged_share']:.2%} of {gate['cxr_images']} test radiographs wrongly flagged" in card


def test_three_class_model_meets_its_targets(bundle_3class):
    test = bundle_3class.metadata["metrics"]["test"]
    assert test["macro_auc"] >= 0.97
    assert test["per_class"]["covid"]["sensitivity"] >= 0.95


def test_binary_model_meets_its_target_and_records_its_operating_point(bundle_binary):
    meta = bundle_binary.metadata
    assert meta["metrics"]["test"]["per_class"]["pneumonia"]["auc"] >= 0.97
    point = meta["metrics"]["binary_operating_point"]
    assert point["validation_sensitivity"] >= point["target_sensitivity"] == 0.95
    # the shipped threshold adds a confidence margin on top of the plain 0.95 point
    assert bundle_binary.thresholds["pneumonia"] <= point["threshold"]
    assert {"test_sensitivity", "test_specificity"} <= set(point)


def test_binary_model_was_not_tested_on_patients_the_three_class_model_trained_on(bundle_binary):
    overlap = bundle_binary.metadata["training"]["init_bundle_test_overlap"]
    assert overlap is not None, "the binary model is expected to start from densenet121-3class"
    assert overlap["test_patients_in_init_train"] == 0
    assert overlap["test_images_in_init_train"] == 0
