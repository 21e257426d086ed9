"""Export a ``retrain-top`` recipe as a bundle, evaluated by population through the app's engine.

The same steps as ``trainer.export.export_run`` (draft bundle, the application's screening loop on
the validation and test films, temperature, operating thresholds, metrics, robustness, report, model
card), plus what version 2 is judged on: population figures on every test film, including films of
labels the model has no output for (``other_abnormal``), and the ablation table of the recipes that
were compared. The shortcut probes are a step of their own (``cxr-train probe``), run on any bundle.
"""

from __future__ import annotations

import json
import logging
import os
from dataclasses import asdict
from pathlib import Path

import numpy as np

from trainer.onnx_export import export_onnx
from cxr_desktop.core.bundle import ModelBundle, write_metadata
from trainer import data as datalib
from trainer import population
from trainer.config import TrainConfig
from trainer.export import (
    calibrated_metadata,
    draft_metadata,
    evaluate_splits,
    init_bundle_overlap,
    inference_model,
)
from trainer.model_card import write_model_card
from trainer.report import REPORT_DIR, Predictions, write_report
from trainer.top_training import TopRecipe

log = logging.getLogger(__name__)

ROBUSTNESS_FILMS = 200


def validated_populations(samples: list[datalib.Sample], classes: list[str]) -> dict:
    """Which age groups and views the test split validates, per class (at least 20 test films)."""
    out: dict[str, dict[str, list[str]]] = {}
    for name in classes:
        test = [s for s in samples if s.split == "test" and s.label == name]
        ages = sorted(a for a in {s.age_group for s in test} if sum(s.age_group == a for s in test) >= 20)
        views = population.films_of(test)
        groups = sorted(v for v in {f.view_group for f in views} if sum(f.view_group == v for f in views) >= 20)
        out[name] = {"age_groups": [a for a in ages if a != "unknown"], "views": groups}
    return out


def ablation_summary(work: Path, names: list[str]) -> dict:
    """The validation and test within-source figures of each compared recipe (from ablation.json)."""
    path = work / "ablation.json"
    table = json.loads(path.read_text()) if path.is_file() else {}
    return {
        name: {
            "recipe": {k: table[name]["recipe"][k] for k in ("classes", "variants", "balanced", "other_target")},
            "best_epoch": table[name]["best_epoch"],
            "validation_selection_score": table[name]["validation_selection_score"],
            "test_selection_score": table[name]["test_selection_score"],
            "test": table[name]["test"],
        }
        for name in names
        if name in table
    }


def export_top(
    work: Path,
    recipe_name: str,
    recipe: TopRecipe,
    out: Path,
    *,
    data: str,
    init: str,
    name: str,
    version: str,
    description: str,
    compared: list[str],
) -> ModelBundle:
    from cxr_desktop.core.preprocessing import SHORTCUT_SUPPRESSING_ID

    classes = list(recipe.classes)
    config = TrainConfig(
        data=data,
        classes=classes,
        out=str(out),
        work_dir=str(work / recipe_name),
        name=name,
        version=version,
        description=description,
        init=init,
        seed=recipe.seed,
        epochs=recipe.epochs,
        learning_rate=recipe.learning_rate,
        weight_decay=recipe.weight_decay,
        preprocessing=SHORTCUT_SUPPRESSING_ID,
    )
    samples = datalib.read_split(work / "split.csv", Path(data))
    dedup = json.loads((work / "cache" / "dedup.json").read_text())
    known = [s for s in samples if s.label in classes]
    val = [s for s in known if s.split == "val"]
    test_all = [s for s in samples if s.split == "test"]
    summary = datalib.split_summary(samples, sorted({s.label for s in samples}))
    limitations = version2_limitations(classes)
    overlap = init_bundle_overlap(config, test_all)
    model, gradcam_layer = inference_model(work / recipe_name / "best.keras", config)
    draft = draft_metadata(config, gradcam_layer, summary, dedup, limitations, overlap)
    result = evaluate_splits(out, model, draft, classes, val, test_all, 0.95, recipe.seed, ROBUSTNESS_FILMS)
    test = [s for s in test_all if s.label in classes]
    y_test = np.array([classes.index(s.label) for s in test])
    films = population.films_of(test_all)
    figures = population.three_class_figures if "covid" in classes else population.pneumonia_figures
    result.metrics["population"] = {
        "figures": figures(films, result.test_probs, classes),
        "table": population.population_table(films, result.test_probs, classes),
        "calibration": population.calibration_by_population(films, result.test_probs, classes),
    }
    result.metrics["ablation"] = ablation_summary(work, compared)
    metadata = calibrated_metadata(draft, result)
    metadata["training"].update(
        {
            "recipe": recipe_name,
            "method": "last dense block and head retrained on cached trunk features of the initial bundle"
            " (trunk up to pool4 frozen), see trainer.retrain_top",
            "class_balancing": (
                "sampling balanced by (class, source, view) cells, then by class"
                if recipe.balanced
                else "class-balanced sampling"
            ),
            "augmentation_variants": list(recipe.variants),
            "other_abnormal": (
                "a class of its own"
                if "other_abnormal" in classes
                else f"soft target {recipe.other_target}"
                if recipe.other_target
                else "not used"
            ),
            "recipe_parameters": {k: v for k, v in asdict(recipe).items() if k not in ("notes",)},
        }
    )
    metadata["validated_populations"] = validated_populations(samples, classes)
    write_metadata(out, metadata)
    bundle = export_onnx(out)
    (out / "split.csv").write_bytes((work / "split.csv").read_bytes())
    config.save(out / "train_config.json")
    predictions = Predictions(
        paths=[Path(os.path.relpath(s.path, data)).as_posix() for s in test],
        labels=y_test,
        probs=result.test_probs[np.array([s.label in classes for s in test_all])],
        classes=classes,
    )
    write_report(out / REPORT_DIR, bundle.metadata, predictions)
    write_model_card(out, bundle.metadata, json.loads((out / "train_config.json").read_text()))
    log.info("wrote %s", bundle.title)
    return bundle


def version2_limitations(classes: list[str]) -> list[str]:
    """What the version-2 card must say whatever the figures: the data's and the method's limits."""
    items = [
        "Internal validation only: the test split is patient-disjoint but drawn from the same public"
        " collections as the training data; figures on another hospital's films will differ. Evaluate"
        " locally (cxr-train evaluate) before use.",
        "Labels are those of the source collections, not re-read by a radiologist. RSNA 'pneumonia' is a"
        " lung-opacity box, not a clinical diagnosis.",
        "Trained on frontal (PA/AP) 8-bit JPEG films; lateral views, other body parts and raw DICOM"
        " processing chains were not in the training data.",
        "Only the last dense block and the head were retrained on version 2 of the data; the layers below"
        " keep what the version-1 model learned from random initialisation on 2,124 films.",
    ]
    if "covid" in classes:
        items.append(
            "COVID-19 films are adult (or of unknown age) hospital and journal films; COVID-19 in"
            " children is not validated. 72% of COVID-19 films come from one hospital network"
            " (BIMCV, 224 px), which has no normal films, so 'COVID-19 vs normal inside one"
            " hospital' rests on a handful of ieee8023 films."
        )
    items.append(
        "Age and source confounds remain in the data (children: one hospital in Guangzhou; adult"
        " normals and pneumonia: NIH/RSNA); the probes in the report measure how much of them the"
        " model still uses."
    )
    return items
