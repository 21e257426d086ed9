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

    from cxr_desktop.engine.tensorflow_engine import Engine

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
    per_class = meta["training"]["split"]["test"]["per_class"]
    assert test["n"] == sum(per_class[c] for c in bundle.classes) >= 100
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


def test_population_figures_probes_and_ablations_are_recorded(bundle):
    """Version 2 is judged by population, not in aggregate: the card must carry the figures."""
    metrics = bundle.metadata["metrics"]
    figures = metrics["population"]["figures"]
    for key in ("auc_pneumonia_vs_normal_within_rsna", "auc_pneumonia_vs_normal_children", "auc_normal_ap_vs_pa_score"):
        assert figures[key]["auc"] is not None and figures[key]["n_pos"] >= 5, key
    if "covid" in bundle.classes:
        for key in ("auc_covid_vs_adult_pneumonia", "auc_covid_vs_other_abnormal"):
            assert figures[key]["auc"] is not None, key
        assert figures["other_abnormal_read_as_covid"]["n"] >= 20
    rows = metrics["population"]["table"]
    assert {r["age_group"] for r in rows} >= {"adult", "pediatric"}
    probes = metrics["probes"]
    assert probes["source_probe"]["all_films"]["accuracy"] > probes["source_probe"]["all_films"]["chance"]
    assert set(probes["lungs_hidden"]) <= set(bundle.classes)
    assert 0 < probes["gradcam_mass_in_lungs"]["all"]["cam_mass_in_lungs"] <= 1
    assert len(metrics["ablation"]) >= 3
    card = (bundle.folder / "README.md").read_text(encoding="utf-8")
    for section in (
        "## Populations validated",
        "## Per-population figures against the targets",
        "## Known shortcuts and what the probes show",
        "## Where not to use it",
    ):
        assert section in card, section


def test_the_card_says_not_met_wherever_a_target_is_missed(bundle):
    from trainer.population_report import figure_rows

    figures = bundle.metadata["metrics"]["population"]["figures"]
    card = (bundle.folder / "README.md").read_text(encoding="utf-8")
    for what, value, _n, _target, verdict in figure_rows(figures, binary="covid" not in bundle.classes):
        if verdict == "**not met**":
            assert f"| {what} | {value} |" in card and "**not met**" in card


def test_children_and_adult_rsna_targets_of_the_binary_model(bundle_binary):
    figures = bundle_binary.metadata["metrics"]["population"]["figures"]
    assert figures["auc_pneumonia_vs_normal_children"]["auc"] >= 0.98
    assert figures["auc_pneumonia_vs_normal_within_rsna"]["auc"] >= 0.90
    assert figures["adult_normal_read_as_normal"]["rate"] >= 0.85


def test_every_shipped_sample_reads_as_its_true_class(bundle, sample_images):
    """The films a new user opens first must not contradict the model card (issue #12)."""
    from cxr_desktop.engine.tensorflow_engine import Engine

    engine = Engine(bundle)
    for path in sample_images:
        label = path.name.split("_", 1)[0]
        if label not in bundle.classes:
            continue
        scores = engine.score(preprocess(load_radiograph(path).pixels, engine.spec)[None])
        assert bundle.classes[int(np.argmax(scores.probabilities[0]))] == label, path.name


def test_bundles_use_the_shortcut_suppressing_preprocessing(bundle):
    from cxr_desktop.core.preprocessing import SHORTCUT_SUPPRESSING_ID

    assert bundle.preprocessing.id == SHORTCUT_SUPPRESSING_ID
    assert bundle.preprocessing.border > 0 and bundle.preprocessing.corner > 0 and bundle.preprocessing.smooth_sigma > 0


def test_binary_model_was_not_tested_on_patients_the_three_class_model_trained_on(bundle_binary):
    overlap = bundle_binary.metadata["training"]["init_bundle_test_overlap"]
    assert overlap is not None, "the binary model is expected to start from densenet121-3class"
    assert overlap["test_patients_in_init_train"] == 0
    assert overlap["test_images_in_init_train"] == 0
