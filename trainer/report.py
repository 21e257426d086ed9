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
from trainer.population_report import ablation_lines, population_lines, probe_lines

log = logging.getLogger(__name__)

REPORT_DIR = "report"
PREDICTIONS_FILE = "test_predictions.csv"
FIGURES = {"roc": "roc_curves.png", "confusion": "confusion_matrix.png", "reliability": "reliability.png"}


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


def number(value: Any, digits: int = 3) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "–"
    return f"{value:.{digits}f}" if isinstance(value, float) else str(value)


def markdown_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(number(cell) for cell in row) + " |" for row in rows]
    return lines


def split_lines(split: dict, classes: list[str]) -> list[str]:
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
    return markdown_table(["split", "images", "patients", *classes, "age groups"], rows)


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
    return markdown_table(["group", "n", "accuracy", "macro AUC", *(f"sens. {c}" for c in classes)], rows)


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
        lines += ["## Data split (by patient)", "", *split_lines(training["split"], classes), ""]
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
    lines += [f"## Test metrics: accuracy {number(test['accuracy'])}, macro AUC {number(test['macro_auc'])}", ""]
    rows = [
        [c, e["n"], e.get("auc"), e["precision"], e["sensitivity"], e["f1"], e["specificity"], e["threshold"]]
        for c, e in test["per_class"].items()
    ]
    lines += markdown_table(
        ["class", "n", "AUC", "precision", "recall = sensitivity", "F1", "specificity", "threshold"], rows
    )
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
            f" sensitivity {number(binary['validation_sensitivity'])} on validation (target"
            f" >= {binary['target_sensitivity']}); on test: sensitivity {number(binary['test_sensitivity'])},"
            f" specificity {number(binary['test_specificity'])}.",
        ]
    calibration = metadata.get("calibration", {})
    if "ece_test_before" in calibration:
        lines += [
            "",
            f"Calibration: temperature {calibration['temperature']:.3f} "
            f"(fitted on {calibration.get('fitted_on', 'validation')}); test ECE"
            f" {number(calibration['ece_test_before'])} before, {number(calibration['ece_test_after'])} after.",
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
            *markdown_table(["perturbation", "what", "macro AUC", "AUC drop", "accuracy", "accuracy drop"], rows),
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
