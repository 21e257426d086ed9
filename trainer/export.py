"""Turn a finished training run into a complete, self-describing bundle."""

from __future__ import annotations

import copy
import json
import logging
import os
import platform
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import keras
import numpy as np

from trainer.onnx_export import export_onnx
from cxr_desktop.core.bundle import ModelBundle, load_bundle, write_bundle, write_metadata
from cxr_desktop.core.scoring import Gate, ScoringEngine
from cxr_desktop.core.screening import screen
from trainer import data as datalib
from trainer.backbones import build_classifier
from trainer.config import TrainConfig
from trainer.evaluation import (
    binary_operating_point,
    choose_thresholds,
    classification_metrics,
    expected_calibration_error,
    fit_temperature,
    group_metrics,
    softmax,
)
from trainer.model_card import data_card_limitations, write_model_card
from trainer.report import REPORT_DIR, Predictions, write_report
from trainer.robustness import DEFAULT_MAX_IMAGES, evaluate_robustness
from trainer.train import prepare_data

log = logging.getLogger(__name__)


def inference_model(checkpoint: Path, config: TrainConfig):
    """Rebuild the network in float32 at the fixed serving size and copy the trained weights.

    Training may run in mixed precision and at several resolutions; the shipped model is plain
    float32 with a fixed input signature, which is what the engine traces and verifies.
    """
    keras.mixed_precision.set_global_policy("float32")
    trained = keras.saving.load_model(checkpoint, safe_mode=True, compile=False)
    model, gradcam_layer, _ = build_classifier(
        config.backbone, len(config.classes), size=config.size, dropout=config.dropout
    )
    for layer in model.layers:
        if layer.weights:
            layer.set_weights(trained.get_layer(layer.name).get_weights())
    return model, gradcam_layer


def split_probabilities(engine: ScoringEngine, samples: list[datalib.Sample]) -> np.ndarray:
    """(N, C) probabilities of the samples' files, scored exactly as the app scores them.

    The files go through the application's own screening loop (loader, ``preprocess``, engine,
    ``core.scoring``), so the figures in a model card are the app's figures by construction.
    """
    rows = list(
        screen([s.path for s in samples], engine, thresholds=dict.fromkeys(engine.classes, 0.5), ood_gate=Gate())
    )
    failed = [f"{row.path.name}: {row.message}" for row in rows if not row.ok]
    if failed:
        raise datalib.DataError(f"{len(failed)} evaluation images could not be scored: {'; '.join(failed[:3])}")
    return np.array([[row.probabilities[name] for name in engine.classes] for row in rows], dtype=np.float64)


def log_probabilities(probabilities: np.ndarray) -> np.ndarray:
    """Logits up to a per-row constant (softmax ignores it), from an uncalibrated engine's output."""
    return np.log(np.clip(probabilities, 1e-30, 1.0))


def init_bundle_overlap(config: TrainConfig, test_samples: list[datalib.Sample]) -> dict | None:
    """How many of this run's test patients (and files) the initial bundle was trained on.

    Must be 0 for the test figures to mean anything: ``patient_unit`` assigns a patient the same
    split in every run with the same seed, and this checks it against the bundle's own split.csv.
    None when the run did not start from a bundle with a split.
    """
    split = Path(config.init) / "split.csv"
    if not split.is_file():
        return None
    trained = [s for s in datalib.read_split(split, Path(config.data)) if s.split == "train"]
    train_patients = {s.patient_id for s in trained}
    train_paths = {Path(s.path) for s in trained}
    return {
        "init_bundle": str(config.init),
        "test_patients": len({s.patient_id for s in test_samples}),
        "test_patients_in_init_train": len({s.patient_id for s in test_samples} & train_patients),
        "test_images_in_init_train": sum(1 for s in test_samples if Path(s.path) in train_paths),
    }


def export_run(work: Path, out: Path | None = None) -> ModelBundle:
    config = TrainConfig.load(work / "config.json")
    out = Path(out or config.out)
    classes = config.classes
    samples, _, dedup = prepare_data(config, work)
    model, gradcam_layer = inference_model(work / "best.keras", config)
    val_samples = [s for s in samples if s.split == "val"]
    test_samples = [s for s in samples if s.split == "test"]
    y_test = np.array([classes.index(s.label) for s in test_samples], dtype=np.int64)
    summary = datalib.split_summary(samples, classes)
    limitations = data_card_limitations(classes, config.where)
    init_overlap = init_bundle_overlap(config, test_samples)
    draft = draft_metadata(config, gradcam_layer, summary, dedup, limitations, init_overlap)
    result = evaluate_splits(
        out, model, draft, classes, val_samples, test_samples, config.target_sensitivity, config.seed
    )
    write_metadata(out, calibrated_metadata(draft, result))
    bundle = export_onnx(out)
    (out / "split.csv").write_bytes((work / "split.csv").read_bytes())
    (out / "train_config.json").write_bytes((work / "config.json").read_bytes())
    predictions = Predictions(
        paths=[Path(os.path.relpath(s.path, config.data)).as_posix() for s in test_samples],
        labels=y_test,
        probs=result.test_probs,
        classes=classes,
    )
    write_report(out / REPORT_DIR, bundle.metadata, predictions)
    write_model_card(out, bundle.metadata, read_json(work / "config.json"))
    log.info("wrote %s: test macro AUC %.4f", bundle.title, result.metrics["test"]["macro_auc"])
    return bundle


def draft_metadata(config, gradcam_layer, summary, dedup, limitations, init_overlap) -> dict:
    """Metadata of the uncalibrated draft bundle (temperature 1, neutral thresholds, no metrics)
    that ``evaluate_splits`` scores the splits with."""
    return compose_metadata(
        config,
        gradcam_layer,
        dict.fromkeys(config.classes, 0.5),
        {"temperature": 1.0},
        {},
        summary,
        dedup,
        limitations=limitations,
        init_overlap=init_overlap,
    )


@dataclass(frozen=True)
class SplitEvaluation:
    """What the engine says on the validation and test films, calibrated, at the chosen thresholds."""

    temperature: float
    thresholds: dict[str, float]
    test_probs: np.ndarray
    metrics: dict
    calibration: dict
    engine: object


def evaluate_splits(
    out: Path,
    model,
    draft: dict,
    classes: list[str],
    val_samples: list[datalib.Sample],
    test_samples: list[datalib.Sample],
    target_sensitivity: float,
    seed: int,
    robustness_films: int = DEFAULT_MAX_IMAGES,
) -> SplitEvaluation:
    """Write a draft bundle (uncalibrated, neutral thresholds) so the app's own engine scores the
    splits; fit the temperature and the operating thresholds on validation; compute the test
    metrics, the binary operating point and the robustness table. Test films whose label is not a
    class of the model (``other_abnormal``) are scored too (``test_probs`` covers every test film,
    for the population figures) but left out of the per-class metrics."""
    from cxr_desktop.engine.tensorflow_engine import Engine

    write_bundle(out, model, draft)
    engine = Engine(load_bundle(out, verify_hash=False), precision="float32", warm_up=False)
    y_val = np.array([classes.index(s.label) for s in val_samples], dtype=np.int64)
    known = np.array([s.label in classes for s in test_samples], dtype=bool)
    test = [s for s in test_samples if s.label in classes]
    y_test = np.array([classes.index(s.label) for s in test], dtype=np.int64)
    val_logits = log_probabilities(split_probabilities(engine, val_samples))
    test_logits = log_probabilities(split_probabilities(engine, test_samples))
    temperature = fit_temperature(val_logits, y_val)
    val_probs = softmax(val_logits, temperature)
    test_probs_all = softmax(test_logits, temperature)
    test_probs = test_probs_all[known]
    thresholds = choose_thresholds(val_probs, y_val, classes, target_sensitivity)
    metrics = {
        "split": "test (patient-disjoint)",
        "test": classification_metrics(y_test, test_probs, classes, thresholds),
        "validation": classification_metrics(y_val, val_probs, classes, thresholds),
        "per_source": group_metrics([s.source for s in test], y_test, test_probs, classes, thresholds),
        "per_age_group": group_metrics([s.age_group for s in test], y_test, test_probs, classes, thresholds),
    }
    if len(classes) == 2:
        metrics["binary_operating_point"] = binary_operating_point(
            classes, y_val, val_probs, y_test, test_probs, target_sensitivity
        )
    metrics["robustness"] = evaluate_robustness(
        [s.path for s in test],
        y_test,
        classes,
        thresholds,
        engine.spec,
        lambda batch: softmax(log_probabilities(engine.score(batch).probabilities), temperature),
        seed=seed,
        max_images=robustness_films,
    )
    calibration = {
        "temperature": round(temperature, 6),
        "fitted_on": "validation split",
        "ece_test_before": expected_calibration_error(softmax(test_logits[known]), y_test),
        "ece_test_after": expected_calibration_error(test_probs, y_test),
    }
    return SplitEvaluation(temperature, thresholds, test_probs_all, metrics, calibration, engine)


def calibrated_metadata(draft: dict[str, Any], result: SplitEvaluation) -> dict[str, Any]:
    """The draft's metadata with what ``evaluate_splits`` fitted and measured on the splits.

    Everything else a bundle says about itself (data, training, limitations) is settled before the
    splits are scored, so the exported bundle is described by the very metadata its figures were
    scored under, with only the thresholds, the calibration and the metrics replaced. A deep copy:
    callers add to the result (``training``) without touching the draft.
    """
    metadata = copy.deepcopy(draft)
    metadata.update(thresholds=result.thresholds, calibration=result.calibration, metrics=result.metrics)
    return metadata


def compose_metadata(
    config,
    gradcam_layer,
    thresholds,
    calibration,
    metrics,
    split_summary,
    dedup,
    *,
    limitations: list[str],
    init_overlap: dict | None,
) -> dict:
    import tensorflow as tf

    spec = config.spec()
    classes = config.classes
    return {
        "name": config.name or Path(config.out).name,
        "version": config.version,
        "changelog": {config.version: config.description or "trained with cxr-train"},
        "description": config.description or f"{config.backbone} classifier: {', '.join(classes)}",
        "intended_use": (
            "Decision support for trained readers of frontal (PA/AP) chest radiographs: ranks studies"
            " for review and highlights regions. Not a diagnosis; not for lateral views, other body"
            " parts, or as the sole basis of any clinical decision."
        ),
        "limitations": limitations,
        "authors": ["CXR Desktop developers"],
        "data_source": f"{config.data}" + (f" where {config.where}" if config.where else ""),
        "references": [
            "Huang et al., Densely Connected Convolutional Networks, CVPR 2017",
            "Selvaraju et al., Grad-CAM, ICCV 2017",
            "Guo et al., On Calibration of Modern Neural Networks, ICML 2017",
        ],
        "license": "Apache-2.0 (model weights); see data_source for image licences",
        "created": date.today().isoformat(),
        "network_data_format": {
            "inputs": {
                "image": {
                    "type": "image",
                    "format": "grey replicated to RGB",
                    "num_channels": spec.channels,
                    "spatial_shape": [spec.size, spec.size],
                    "dtype": "float32",
                    "value_range": [0, 1],
                }
            },
            "outputs": {
                "pred": {
                    "type": "probabilities",
                    "num_channels": len(classes),
                    "dtype": "float32",
                    "value_range": [0, 1],
                    "channel_def": {str(i): c for i, c in enumerate(classes)},
                }
            },
        },
        "classes": classes,
        "thresholds": thresholds,
        "operating_point": (
            f"per disease class: sensitivity >= {config.target_sensitivity} on validation plus a one-sided"
            " 95% binomial margin for the number of validation positives (see trainer.evaluation)"
        ),
        "preprocessing": spec.to_metadata(),
        "backbone": config.backbone,
        "gradcam_layer": gradcam_layer,
        "feature_layer": "pooled",
        "logits_layer": "logits",
        "calibration": calibration,
        "training": {
            "init": config.init,
            "epochs_max": config.epochs,
            "progressive_resizing": [config.warmup_size, config.warmup_epochs] if config.warmup_epochs else None,
            "seed": config.seed,
            "class_balancing": "balanced class weights n/(k*n_c)",
            "split": split_summary,
            "duplicates": dedup,
            "init_bundle_test_overlap": init_overlap,
        },
        "metrics": metrics,
        "framework_versions": {
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
            "numpy": np.__version__,
            "python": platform.python_version(),
        },
    }


def read_json(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))
