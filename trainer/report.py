"""Evaluation report and model card, written next to a model.

Everything here is derived from two things: the bundle's metadata (metrics, thresholds,
calibration, split summary, robustness) and the per-image test predictions, which are saved as
``report/test_predictions.csv`` so every figure can be re-derived without the model. The same
functions serve ``export`` (a fresh run) and ``cxr-train evaluate`` (a bundle on any data set).

Plots use matplotlib's object API with the Agg canvas: no pyplot state, no display needed.
"""

from __future__ import annotations

import csv
import logging
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cxr_desktop.core.decision import NEGATIVE_CLASS
from trainer.evaluation import expected_calibration_error, reliability_bins, uncalibrate
from trainer.population_report import ablation_lines, card_population_lines, population_lines, probe_lines

log = logging.getLogger(__name__)

REPORT_DIR = "report"
PREDICTIONS_FILE = "test_predictions.csv"
FIGURES = {"roc": "roc_curves.png", "confusion": "confusion_matrix.png", "reliability": "reliability.png"}

MITIGATIONS = (
    "Per-image percentile contrast stretch in the shared preprocessing, so exposure and each"
    " hospital's processing carry less signal than anatomy.",
    "Squash to a square without letterbox padding: part of the data was already squashed to"
    " 224 px, and padding would give those sources away.",
    "Augmentation (training only): random resolution degradation, so sharpness cannot identify the"
    " 224 px sources; random burned-in letters and arrows on every class, so text on a film does not"
    " mean COVID-19; small rotation, shift and zoom; brightness, contrast, gamma and noise.",
    "No horizontal flips: laterality is anatomy (the heart is on the left) and a mirrored film is"
    " not one the model will meet.",
    "Balanced class weights n / (k * n_c), so the smaller classes count as much as the largest.",
    "Patient-disjoint train / validation / test split from a hash of the patient id (fixed seed);"
    " files with identical pixels are merged into one patient group, conflicting labels dropped.",
    "Per-source and per-age-group test figures are reported, so a shortcut shows as a gap between groups.",
)


VERSION2_MITIGATIONS = (
    "Preprocessing version 2 (train and serve alike): a light Gaussian low-pass that gives every film"
    " the same effective resolution (most COVID-19 films carry a 224 px resampling texture), and a black"
    " mask over the border margin and the four corners, where markers, 'PORTABLE' labels and letters live.",
    "Sampling balanced by (class, source, view) cells, then by class: inside a class every hospital and"
    " projection weighs the same, so neither predicts the label in the sampled training set.",
    "Augmentation drawn before the trunk features were cached: random rotation, shift and zoom, resolution"
    " degradation, burned-in letters and arrows, gamma, contrast, noise and black or white edge bars.",
    "Model chosen by within-source figures on validation (COVID-19 vs adult pneumonia, pneumonia vs"
    " normal inside RSNA per view, children), never by pooled AUC; the ablation table shows each"
    " defence on and off.",
    "Patient-disjoint train / validation / test split from a hash of the patient id (same seed as the"
    " initial bundle, so none of its training patients is in this test split).",
)


def mitigations(metadata: dict) -> tuple[str, ...]:
    """The defences the bundle was trained with: version-2 recipe or the original one."""
    if metadata.get("training", {}).get("recipe"):
        return VERSION2_MITIGATIONS
    return MITIGATIONS


@dataclass(frozen=True)
class Predictions:
    """Per-image outputs on the evaluated images: the raw material of every figure."""

    paths: list[str]
    labels: np.ndarray
    probs: np.ndarray
    classes: list[str]


def write_predictions_csv(path: Path, predictions: Predictions) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(["path", "label", *(f"p_{c}" for c in predictions.classes)])
        for name, label, row in zip(predictions.paths, predictions.labels, predictions.probs):
            # full precision: rounding creates ties that move a rank AUC re-derived from this file
            writer.writerow([name, predictions.classes[int(label)], *(repr(float(p)) for p in row)])


def read_predictions_csv(path: Path) -> Predictions:
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    classes = [key[2:] for key in rows[0] if key.startswith("p_")] if rows else []
    return Predictions(
        paths=[r["path"] for r in rows],
        labels=np.array([classes.index(r["label"]) for r in rows], dtype=np.int64),
        probs=np.array([[float(r[f"p_{c}"]) for c in classes] for r in rows], dtype=np.float64).reshape(
            -1, len(classes)
        ),
        classes=classes,
    )


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width, height), dpi=120)
    FigureCanvasAgg(figure)
    return figure


def plot_roc(path: Path, predictions: Predictions, thresholds: dict[str, float]) -> None:
    """One-vs-rest ROC per class with its AUC; disease classes mark their operating threshold."""
    from sklearn.metrics import roc_auc_score, roc_curve

    figure = _figure(5.2, 5.0)
    axes = figure.add_subplot()
    for index, name in enumerate(predictions.classes):
        positive = predictions.labels == index
        if not 0 < positive.sum() < len(positive):
            continue
        scores = predictions.probs[:, index]
        fpr, tpr, _ = roc_curve(positive, scores)
        auc = roc_auc_score(positive, scores)
        line = axes.plot(fpr, tpr, lw=1.8, label=f"{name}  AUC {auc:.3f}  (n={int(positive.sum())})")[0]
        if name != NEGATIVE_CLASS and name in thresholds:
            flagged = scores >= thresholds[name]
            axes.plot(
                flagged[~positive].mean(),
                flagged[positive].mean(),
                "o",
                color=line.get_color(),
                ms=7,
                mfc="white",
                mew=2,
            )
    axes.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    axes.set(
        xlim=(-0.01, 1.01),
        ylim=(-0.01, 1.01),
        xlabel="1 - specificity (false positive rate)",
        ylabel="sensitivity (true positive rate)",
        title="ROC, one class vs the rest (o = operating point)",
    )
    axes.legend(loc="lower right", fontsize=8)
    axes.grid(alpha=0.3)
    figure.tight_layout()
    figure.savefig(path)


def plot_confusion(path: Path, confusion: list[list[int]], classes: list[str]) -> None:
    """Counts and row percentages (share of each true class) at the operating thresholds."""
    matrix = np.asarray(confusion, dtype=np.float64)
    shares = matrix / np.maximum(matrix.sum(axis=1, keepdims=True), 1)
    figure = _figure(1.6 + 1.3 * len(classes), 1.2 + 1.2 * len(classes))
    axes = figure.add_subplot()
    axes.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    for row in range(len(classes)):
        for col in range(len(classes)):
            colour = "white" if shares[row, col] > 0.6 else "black"
            axes.text(
                col,
                row,
                f"{int(matrix[row, col])}\n{100 * shares[row, col]:.0f}%",
                ha="center",
                va="center",
                color=colour,
                fontsize=9,
            )
    axes.set_xticks(range(len(classes)), classes)
    axes.set_yticks(range(len(classes)), classes)
    axes.set(xlabel="predicted (at operating thresholds)", ylabel="true", title="Confusion matrix, test")
    figure.tight_layout()
    figure.savefig(path)


def plot_reliability(path: Path, predictions: Predictions, temperature: float, bins: int = 10) -> None:
    """Top-label reliability diagram before and after temperature scaling, with the ECE of each."""
    figure = _figure(5.2, 5.6)
    axes, counts = figure.subplots(2, 1, sharex=True, gridspec_kw={"height_ratios": [3, 1]})
    variants = (
        ("before (T = 1)", uncalibrate(predictions.probs, temperature), "tab:red"),
        (f"after (T = {temperature:.2f})", predictions.probs, "tab:blue"),
    )
    for label, probs, colour in variants:
        table = reliability_bins(probs, predictions.labels, bins)
        used = table["count"] > 0
        ece = expected_calibration_error(probs, predictions.labels)
        axes.plot(
            table["confidence"][used], table["accuracy"][used], "o-", color=colour, label=f"{label}: ECE {ece:.3f}"
        )
        centres = (table["edges"][:-1] + table["edges"][1:]) / 2
        counts.bar(centres, table["count"], width=0.9 / bins, alpha=0.5, color=colour)
    axes.plot([0, 1], [0, 1], ls=":", color="grey", lw=1)
    axes.set(xlim=(0, 1), ylim=(0, 1.02), ylabel="accuracy", title="Reliability (top-label confidence), test")
    axes.legend(loc="upper left", fontsize=8)
    axes.grid(alpha=0.3)
    counts.set(xlabel="confidence", ylabel="images")
    figure.tight_layout()
    figure.savefig(path)


def _num(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_num(cell) for cell in row) + " |" for row in rows]
    return lines


def _split_lines(split: dict, classes: list[str]) -> list[str]:
    rows = [
        [
            name,
            part["images"],
            part["patients"],
            *(part["per_class"].get(c, 0) for c in classes),
            ", ".join(f"{k} {v}" for k, v in sorted(part.get("per_age_group", {}).items())),
        ]
        for name, part in split.items()
    ]
    return _table(["split", "images", "patients", *classes, "age groups"], rows)


def _group_lines(groups: dict, classes: list[str]) -> list[str]:
    rows = []
    for name, entry in groups.items():
        per_class = entry["per_class"]
        rows.append(
            [
                name,
                entry["n"],
                entry["accuracy"],
                entry["macro_auc"],
                *(per_class[c]["sensitivity"] if per_class[c]["n"] else None for c in classes),
            ]
        )
    return _table(["group", "n", "accuracy", "macro AUC", *(f"sens. {c}" for c in classes)], rows)


def summary_markdown(metadata: dict, predictions: Predictions) -> str:
    """The one-page summary: data, test metrics at the operating point, calibration, groups, robustness."""
    classes = metadata["classes"]
    metrics = metadata["metrics"]
    test = metrics["test"]
    training = metadata.get("training", {})
    lines = [f"# {metadata['name']} v{metadata['version']}: evaluation summary", ""]
    evaluation = metadata.get("evaluation")
    if evaluation:
        lines += [
            f"Images: {evaluation['selection']} ({test['n']} scored, {evaluation.get('skipped', 0)} unreadable)"
            f" from `{evaluation['data']}`.",
            "",
        ]
    else:
        lines += [
            f"Held-out {metrics.get('split', 'test split')}: {test['n']} images. {metadata.get('description', '')}",
            "",
        ]
    if "split" in training:
        lines += ["## Data split (by patient)", "", *_split_lines(training["split"], classes), ""]
        dedup = training.get("duplicates") or {}
        if dedup:
            lines += [
                f"Identical-pixel files merged into one patient group: {dedup.get('duplicate_groups_merged', 0)};"
                f" conflicting duplicates dropped: {dedup.get('conflicting_duplicates_dropped', 0)}."
            ]
        overlap = training.get("init_bundle_test_overlap")
        if overlap:
            lines += [
                f"Test patients that were in the training split of the initial bundle"
                f" ({overlap['init_bundle']}): {overlap['test_patients_in_init_train']}."
            ]
        lines += [""]
    lines += [f"## Test metrics: accuracy {_num(test['accuracy'])}, macro AUC {_num(test['macro_auc'])}", ""]
    rows = [
        [c, e["n"], e.get("auc"), e["precision"], e["sensitivity"], e["f1"], e["specificity"], e["threshold"]]
        for c, e in test["per_class"].items()
    ]
    lines += _table(["class", "n", "AUC", "precision", "recall = sensitivity", "F1", "specificity", "threshold"], rows)
    lines += [
        "",
        f"Operating point: {metadata.get('operating_point', 'the bundle thresholds')}; a class is flagged when"
        f" its probability reaches its threshold ({NEGATIVE_CLASS} is never flagged).",
    ]
    binary = metrics.get("binary_operating_point")
    if binary:
        lines += [
            "",
            f"Binary operating point: {binary['positive_class']} threshold {binary['threshold']:.4f} gives"
            f" sensitivity {_num(binary['validation_sensitivity'])} on validation (target"
            f" >= {binary['target_sensitivity']}); on test: sensitivity {_num(binary['test_sensitivity'])},"
            f" specificity {_num(binary['test_specificity'])}.",
        ]
    calibration = metadata.get("calibration", {})
    if "ece_test_before" in calibration:
        lines += [
            "",
            f"Calibration: temperature {calibration['temperature']:.3f} "
            f"(fitted on {calibration.get('fitted_on', 'validation')}); test ECE"
            f" {_num(calibration['ece_test_before'])} before, {_num(calibration['ece_test_after'])} after.",
        ]
    for key, title in (("per_source", "Per source"), ("per_age_group", "Per age group")):
        if metrics.get(key):
            lines += [
                "",
                f"## {title} (test, sensitivity at the operating point)",
                "",
                *_group_lines(metrics[key], classes),
            ]
    for section in (population_lines(metrics, classes), probe_lines(metrics), ablation_lines(metrics)):
        if section:
            lines += ["", *section]
    robustness = metrics.get("robustness")
    if robustness:
        clean = robustness["clean"]
        rows = [["clean", "", clean["macro_auc"], None, clean["accuracy"], None]]
        rows += [
            [name, e["description"], e["macro_auc"], e["macro_auc_drop"], e["accuracy"], e["accuracy_drop"]]
            for name, e in robustness["perturbations"].items()
        ]
        lines += [
            "",
            f"## Robustness ({robustness['subset']}; perturbation applied {robustness['applied']})",
            "",
            *_table(["perturbation", "what", "macro AUC", "AUC drop", "accuracy", "accuracy drop"], rows),
        ]
    lines += [
        "",
        "Figures: [ROC](roc_curves.png) · [confusion matrix](confusion_matrix.png) ·"
        " [reliability](reliability.png) · per-image predictions: "
        f"[{PREDICTIONS_FILE}]({PREDICTIONS_FILE})",
        "",
    ]
    return "\n".join(lines)


def write_report(folder: Path, metadata: dict, predictions: Predictions) -> Path:
    """Write figures, summary and predictions into ``folder``; returns the summary's path."""
    folder.mkdir(parents=True, exist_ok=True)
    write_predictions_csv(folder / PREDICTIONS_FILE, predictions)
    plot_roc(folder / FIGURES["roc"], predictions, metadata["thresholds"])
    plot_confusion(folder / FIGURES["confusion"], metadata["metrics"]["test"]["confusion_matrix"], predictions.classes)
    plot_reliability(
        folder / FIGURES["reliability"], predictions, float(metadata["calibration"].get("temperature", 1.0))
    )
    summary = folder / "summary.md"
    summary.write_text(summary_markdown(metadata, predictions), encoding="utf-8")
    log.info("report written to %s", folder)
    return summary


def data_card_limitations(classes: list[str], where: dict[str, str] | None = None) -> list[str]:
    """The shortcut risks and gaps of the training data (from cxr3's data card) that apply to a model."""
    where = where or {}
    items = [
        "Internal validation only: the test split is patient-disjoint but drawn from the same public"
        " collections as the training data; expect lower figures on another hospital's films and"
        " evaluate locally (cxr-train evaluate) before use.",
        "Labels are those of the source collections, not re-read by a radiologist.",
        "Trained on frontal (PA/AP) 8-bit JPEG films; lateral views, other body parts and raw DICOM"
        " processing chains were not in the training data.",
    ]
    if where.get("age_group") == "pediatric":
        items.append(
            "Age: trained and tested on paediatric films only (Kermany, one hospital in Guangzhou);"
            " not validated on adults."
        )
    else:
        items.append(
            "Age confound: "
            + ("COVID-19 films are adult, " if "covid" in classes else "")
            + "pneumonia films are 94 % paediatric and normal films about half paediatric, so the"
            " model can use age (body size, bone maturity) as a cue; see the per-age-group figures."
        )
    items.append(
        "Source confound: each class comes from different hospitals, devices and image processing"
        + (" (COVID-19 films are mostly journal figures and web images)" if "covid" in classes else "")
        + ", so image style can stand in for the disease; see the per-source figures."
    )
    if "covid" in classes:
        items.append(
            "Burned-in text: many COVID-19 images carry arrows, letters or score overlays that no"
            " other class has; a model can learn 'annotation means COVID-19'."
        )
    if "normal" in classes and where.get("age_group") != "pediatric":
        items.append(
            "Resolution: the RSNA normals (and part of the Kermany normals) are 224 px squares"
            " squashed from non-square originals; other films are up to 512 px with their aspect"
            " ratio kept, so sharpness can identify the class."
        )
    if "pneumonia" in classes:
        items.append("'Pneumonia' mixes bacterial and viral (non-COVID) pneumonia; it is not an aetiology.")
    return items


def retrain_command(config: dict) -> str:
    """The ``cxr-train train`` command line that reproduces a run from its saved configuration."""
    defaults = {
        "backbone": "densenet121",
        "init": "none",
        "size": 224,
        "epochs": 30,
        "batch_size": 32,
        "learning_rate": 1e-3,
        "patience": 6,
        "seed": 1234,
        "min_val_patients": 20,
    }
    parts = [
        "cxr-train train",
        f"--data {config['data']}",
        f"--classes {','.join(config['classes'])}",
        f"--out {config['out']}",
    ]
    for key, default in defaults.items():
        if key == "seed" or config.get(key, default) != default:
            parts.append(f"--{key.replace('_', '-')} {config[key]}")
    if config.get("warmup_epochs"):
        parts.append(f"--warmup-size {config['warmup_size']} --warmup-epochs {config['warmup_epochs']}")
    parts += [f"--where {k}={v}" for k, v in (config.get("where") or {}).items()]
    if config.get("max_images"):
        parts.append(f"--max-images {config['max_images']}")
    if not config.get("augment", True):
        parts.append("--no-augment")
    return " \\\n    ".join(parts)


def model_card(metadata: dict, train_config: dict | None) -> str:
    """The bundle's README: what it is for, what it must not be used for, how well it does, how to redo it."""
    classes = metadata["classes"]
    metrics = metadata.get("metrics", {})
    test = metrics.get("test", {})
    training = metadata.get("training", {})
    lines = [
        f"# {metadata['name']} v{metadata['version']}",
        "",
        metadata.get("description", ""),
        "",
        "## Intended use",
        "",
        metadata.get("intended_use", ""),
        "",
        f"Classes, in output order: {', '.join(classes)}. Input: {metadata['preprocessing']['size']} px, grey"
        " replicated to RGB, values in [0, 1] after the shared preprocessing"
        f" (`{metadata['preprocessing']['id']}`).",
        "",
        "## Limitations",
        "",
    ]
    lines += [f"- {item}" for item in metadata.get("limitations", [])]
    lines += ["", "## How the shortcut risks were mitigated", ""]
    lines += [f"- {item}" for item in mitigations(metadata)]
    if train_config and train_config.get("where"):
        lines += [
            "- Training data restricted to " + ", ".join(f"{k}={v}" for k, v in train_config["where"].items()) + "."
        ]
    lines += ["", "## Data and training", "", f"Data: {metadata.get('data_source', '')}.", ""]
    if "split" in training:
        lines += _split_lines(training["split"], classes) + [""]
    lines += [
        f"Backbone {metadata.get('backbone', '')}, initialisation `{training.get('init', 'none')}`,"
        f" seed {training.get('seed', '')}, class balancing: {training.get('class_balancing', '')}."
    ]
    overlap = training.get("init_bundle_test_overlap")
    if overlap:
        lines += [
            "",
            f"Initialised from {overlap['init_bundle']}: {overlap['test_patients_in_init_train']} test"
            " patients of this model were in that bundle's training split.",
        ]
    if test:
        lines += [
            "",
            "## Performance (held-out, patient-disjoint test split)",
            "",
            f"Accuracy {_num(test['accuracy'])}, macro one-vs-rest AUC {_num(test['macro_auc'])}"
            f" on {test['n']} images.",
            "",
        ]
        rows = [
            [c, e["n"], e.get("auc"), e["sensitivity"], e["specificity"], e["threshold"]]
            for c, e in test["per_class"].items()
        ]
        lines += _table(["class", "n", "AUC", "sensitivity", "specificity", "threshold"], rows)
        binary = metrics.get("binary_operating_point")
        if binary:
            lines += [
                "",
                f"Threshold for sensitivity >= {binary['target_sensitivity']} on validation:"
                f" {binary['threshold']:.4f} (test sensitivity {_num(binary['test_sensitivity'])},"
                f" specificity {_num(binary['test_specificity'])}).",
            ]
        calibration = metadata.get("calibration", {})
        if "ece_test_before" in calibration:
            lines += [
                "",
                f"Calibrated by temperature {calibration['temperature']:.3f} (applied by the engine):"
                f" test ECE {_num(calibration['ece_test_before'])} -> {_num(calibration['ece_test_after'])}.",
            ]
        robustness = metrics.get("robustness")
        if robustness:
            worst = max(robustness["perturbations"].items(), key=lambda kv: kv[1]["macro_auc_drop"])
            lines += [
                "",
                f"Robustness: largest macro-AUC drop {_num(worst[1]['macro_auc_drop'])} under"
                f" {worst[1]['description']}; full table in the report.",
            ]
        lines += [
            "",
            f"Full report: [{REPORT_DIR}/summary.md]({REPORT_DIR}/summary.md) (ROC curves, confusion matrix,"
            " reliability diagram, per-source and per-age-group figures, robustness).",
        ]
    lines += card_population_lines(metadata)
    lines += _gate_lines(metadata.get("ood"))
    lines += ["", "## How to retrain", ""]
    if train_config:
        lines += [
            "```",
            retrain_command(train_config),
            "```",
            "",
            "`train_config.json` holds the complete configuration and `split.csv` the exact split.",
            "",
        ]
    lines += [
        "To adapt to a new site, continue from this bundle: `--init <this folder>`, and evaluate with"
        " `cxr-train evaluate --model <bundle> --data <site data>`.",
        "",
        "## Changelog",
        "",
    ]
    lines += [f"- {version}: {text}" for version, text in metadata.get("changelog", {}).items()]
    return "\n".join(lines) + "\n"


def _gate_lines(entry: dict | None) -> list[str]:
    """The 'not a chest X-ray' gate in the card, with its measured rates, once ``fit-ood`` has run."""
    if not entry:
        return []
    lines = [
        "",
        "## 'Not a chest X-ray' gate",
        "",
        "Images whose pooled features lie far from the training radiographs, or whose layout is unlike an"
        " upright frontal film, are flagged as unreliable next to the probabilities and in the CSV.",
        f"Thresholds: {entry.get('threshold_rule', '')}.",
    ]
    loso = entry.get("leave_one_source_out") or {}
    if loso.get("overall") is not None:
        lines += [
            "",
            "Leave one source out (gate fitted without a source, then shown that source's films):"
            f" {loso['overall']:.2%} of real films flagged overall, at most {loso['worst_rate']:.2%}"
            f" ({loso['worst_source']}); targets <= 1% and <= 3%.",
        ]
    evaluation = entry.get("evaluation")
    if evaluation:
        target = (evaluation.get("targets") or {}).get("non_cxr_flagged_share_min", 0.95)
        met = evaluation["non_cxr_flagged_share"] >= target
        lines += [
            "",
            f"Measured: {evaluation['non_cxr_flagged_share']:.1%} of {evaluation['non_cxr_images']}"
            " non-radiographs flagged (photographs, documents, other modalities, rotated, inverted and"
            f" cropped films; target >= {target:.0%}: {'met' if met else '**not met**'});"
            f" {evaluation['cxr_wrongly_flagged_share']:.2%} of {evaluation['cxr_images']}"
            f" test radiographs wrongly flagged. Not covered: {evaluation.get('not_covered', '')}.",
        ]
        per_category = evaluation.get("per_category") or {}
        lines += ["", "| category | images | flagged |", "|---|---|---|"]
        lines += [f"| {name} | {v['images']} | {v['flagged_share']:.1%} |" for name, v in per_category.items()]
        if not met:
            lines += [
                "",
                "Thresholds wide enough to pass hospitals the gate never saw let part of the photographs, faces,"
                " CT/MR images and corner crops through: a flag means 'unreliable', but no flag does not prove"
                " that an image is a chest radiograph.",
            ]
    return lines


def write_model_card(folder: Path, metadata: dict, train_config: dict | None) -> Path:
    path = folder / "README.md"
    path.write_text(model_card(metadata, train_config), encoding="utf-8")
    return path
