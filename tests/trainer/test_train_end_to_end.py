"""``cxr-train`` end to end on a handful of real cxr3 films: train, export, evaluate, compare.

A small CNN at 64 px for one epoch: the numbers it reaches mean nothing, but every stage runs for
real (decode, duplicate merge, patient split, tf.data, fit, calibration, thresholds, robustness,
report, bundle writer, engine). Three runs: a three-class model, a binary model initialised from
it (transfer from our own bundle), and a binary model from scratch to compare against.
"""

from __future__ import annotations

import csv
import json
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from cxr_desktop.core.bundle import REQUIRED_FIELDS, load_bundle
from trainer.__main__ import main
from trainer.evaluation import macro_auc
from trainer.report import FIGURES, read_predictions_csv
from trainer.robustness import PERTURBATIONS

COMMON = [
    "--backbone",
    "small_cnn",
    "--size",
    "64",
    "--epochs",
    "1",
    "--batch-size",
    "16",
    "--min-val-patients",
    "2",
    "--mixed-precision",
    "off",
]


def _train(tmp: Path, name: str, classes: str, cxr3: Path, *extra: str) -> Path:
    out = tmp / name
    code = main(
        [
            "train",
            "--data",
            str(cxr3),
            "--classes",
            classes,
            "--out",
            str(out),
            "--work-dir",
            str(tmp / f"work-{name}"),
            *COMMON,
            *extra,
        ]
    )
    assert code == 0
    return out


@pytest.fixture(scope="module")
def runs(tmp_path_factory, cxr3) -> dict[str, Path]:
    tmp = tmp_path_factory.mktemp("train")
    three = _train(tmp, "tiny-3class", "covid,pneumonia,normal", cxr3, "--max-images", "150")
    transfer = _train(tmp, "tiny-binary", "pneumonia,normal", cxr3, "--max-images", "160", "--init", str(three))
    scratch = _train(tmp, "tiny-binary-scratch", "pneumonia,normal", cxr3, "--max-images", "160")
    return {"three": three, "transfer": transfer, "scratch": scratch, "tmp": tmp}


def test_export_writes_a_complete_bundle_that_the_engine_loads(runs):
    from cxr_desktop.engine.tensorflow_engine import Engine

    bundle = load_bundle(runs["three"])
    meta = bundle.metadata
    assert all(key in meta for key in REQUIRED_FIELDS)
    assert Engine(bundle).classes == ["covid", "pneumonia", "normal"]
    assert bundle.onnx is not None and (bundle.folder / bundle.onnx.file).is_file()
    from cxr_desktop.engine import load_engine

    graph = load_engine(bundle, backend="onnxruntime", precision="float32")
    reference = Engine(bundle, precision="float32")
    batch = np.random.default_rng(0).random((2, 64, 64, bundle.preprocessing.channels), dtype=np.float32)
    np.testing.assert_allclose(graph.explain(batch).probabilities, reference.explain(batch).probabilities, atol=1e-5)
    assert meta["network_data_format"]["inputs"]["image"]["spatial_shape"] == [64, 64]
    metrics = meta["metrics"]
    for key in ("test", "validation", "per_source", "per_age_group", "robustness"):
        assert metrics[key], key
    assert set(metrics["robustness"]["perturbations"]) == {p.name for p in PERTURBATIONS}
    assert metrics["robustness"]["images"] == metrics["test"]["n"]
    assert "binary_operating_point" not in metrics
    assert {"ece_test_before", "ece_test_after", "temperature"} <= set(meta["calibration"])
    assert len(meta["limitations"]) >= 5 and any("Burned-in text" in item for item in meta["limitations"])
    assert meta["training"]["init_bundle_test_overlap"] is None
    assert meta["training"]["split"]["test"]["images"] == metrics["test"]["n"]
    for name in ("split.csv", "train_config.json", "README.md"):
        assert (bundle.folder / name).is_file(), name
    card = (bundle.folder / "README.md").read_text()
    for heading in (
        "## Intended use",
        "## Limitations",
        "## How the shortcut risks were mitigated",
        "## How to retrain",
        "cxr-train train",
    ):
        assert heading in card


def test_split_written_with_the_bundle_keeps_patients_apart(runs):
    with open(runs["three"] / "split.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    splits_of = defaultdict(set)
    for row in rows:
        splits_of[row["patient_id"]].add(row["split"])
    assert all(len(s) == 1 for s in splits_of.values())


def test_report_figures_can_be_rederived_from_the_saved_predictions(runs):
    meta = load_bundle(runs["three"]).metadata
    report = runs["three"] / "report"
    for name in (*FIGURES.values(), "summary.md"):
        assert (report / name).stat().st_size > 1000, name
    predictions = read_predictions_csv(report / "test_predictions.csv")
    assert len(predictions.paths) == meta["metrics"]["test"]["n"]
    assert macro_auc(predictions.labels, predictions.probs) == pytest.approx(
        meta["metrics"]["test"]["macro_auc"], abs=1e-4
    )
    summary = (report / "summary.md").read_text()
    for section in ("## Data split", "## Test metrics", "Calibration", "## Per source", "## Robustness"):
        assert section in summary


def test_binary_model_from_a_bundle_never_tests_on_its_training_patients(runs):
    meta = load_bundle(runs["transfer"]).metadata
    overlap = meta["training"]["init_bundle_test_overlap"]
    assert overlap["init_bundle"] == str(runs["three"])
    assert overlap["test_patients"] > 0
    assert overlap["test_patients_in_init_train"] == 0 and overlap["test_images_in_init_train"] == 0
    point = meta["metrics"]["binary_operating_point"]
    assert point["positive_class"] == "pneumonia"
    assert point["validation_sensitivity"] >= 0.95
    assert point["threshold"] == meta["thresholds"]["pneumonia"]
    assert not any("COVID-19" in item for item in meta["limitations"])


def test_evaluate_through_the_engine_reproduces_the_exported_test_figures(runs, cxr3, capsys):
    out = runs["tmp"] / "evaluate"
    assert main(["evaluate", "--model", str(runs["three"]), "--data", str(cxr3), "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "test split of tiny-3class" in printed and "macro AUC" in printed
    exported = load_bundle(runs["three"]).metadata["metrics"]["test"]
    evaluated = json.loads((out / "metrics.json").read_text())["metrics"]["test"]
    assert evaluated["n"] == exported["n"]
    # the application's path (loader, preprocess, Engine) gives the training-time figures
    assert evaluated["macro_auc"] == pytest.approx(exported["macro_auc"], abs=0.01)
    assert (out / "summary.md").is_file() and (out / "roc_curves.png").is_file()


def test_compare_two_binary_models_on_their_common_test_images(runs, cxr3, capsys):
    out = runs["tmp"] / "compare"
    code = main(["compare", str(runs["transfer"]), str(runs["scratch"]), "--data", str(cxr3), "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "images in the test splits of both bundles" in printed
    for metric in ("macro AUC", "AUC pneumonia", "accuracy", "sensitivity pneumonia @op", "ECE", "95% CI"):
        assert metric in printed
    result = json.loads((out / "compare.json").read_text())
    a, b = result["a"]["metrics"]["test"], result["b"]["metrics"]["test"]
    assert a["n"] == b["n"] > 0
    low, high = result["bootstrap"]["macro"]["ci95"]
    assert low <= result["bootstrap"]["macro"]["difference"] <= high
    assert result["bootstrap"]["macro"]["difference"] == pytest.approx(b["macro_auc"] - a["macro_auc"], abs=1e-9)


def test_compare_refuses_models_with_different_classes(runs, cxr3, capsys):
    assert main(["compare", str(runs["three"]), str(runs["scratch"]), "--data", str(cxr3)]) == 2
    assert "do not predict the same classes" in capsys.readouterr().err


def test_evaluate_on_an_explicit_split_and_a_missing_data_folder(runs, cxr3, tmp_path, capsys):
    split = runs["three"] / "split.csv"
    assert main(["evaluate", "--model", str(runs["three"]), "--data", str(cxr3), "--split", str(split)]) == 0
    assert f"test rows of {split}" in capsys.readouterr().out
    assert main(["evaluate", "--model", str(runs["three"]), "--data", str(tmp_path), "--split", str(split)]) == 2
    assert "missing under" in capsys.readouterr().err
