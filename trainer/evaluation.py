"""Metrics, calibration and operating points, on arrays of labels and probabilities.

Pure numpy/scikit-learn so the same code scores a fresh run, a shipped bundle and a comparison.
"""

from __future__ import annotations

import math
from typing import Sequence

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import rankdata
from sklearn import metrics as skm

from cxr_desktop.core.decision import NEGATIVE_CLASS, predict_labels


def softmax(logits: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    scaled = logits / temperature
    scaled = scaled - scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return exp / exp.sum(axis=1, keepdims=True)


def fit_temperature(logits: np.ndarray, labels: np.ndarray) -> float:
    """Temperature minimising validation negative log-likelihood (Guo et al. 2017)."""

    def nll(log_t: float) -> float:
        probs = softmax(logits, float(np.exp(log_t)))
        return float(-np.mean(np.log(probs[np.arange(len(labels)), labels] + 1e-12)))

    result = minimize_scalar(nll, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    return float(np.exp(result.x))


def expected_calibration_error(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> float:
    """Top-label ECE with equal-width confidence bins."""
    table = reliability_bins(probs, labels, bins)
    used = table["count"] > 0
    weights = table["count"][used] / len(labels)
    return float(np.sum(weights * np.abs(table["accuracy"][used] - table["confidence"][used])))


def sensitivity_threshold(scores: np.ndarray, positives: np.ndarray, target: float) -> float:
    """Highest threshold whose sensitivity on these scores is at least ``target``."""
    positive_scores = np.sort(scores[positives])
    if positive_scores.size == 0:
        return 0.5
    index = int(np.floor((1.0 - target) * positive_scores.size))
    return float(positive_scores[min(index, positive_scores.size - 1)])


def target_with_margin(target: float, positives: int, z: float = 1.645) -> float:
    """The validation sensitivity to aim for so the true sensitivity is >= ``target`` with ~95 %
    one-sided confidence (normal approximation to the binomial).

    A validation split holds few patients of a rare class (70 COVID-19 films from about 45 patients here): a
    threshold that just reaches 0.95 on them reaches less on new patients about half the time.
    """
    if positives <= 0:
        return target
    return min(1.0, target + z * math.sqrt(target * (1.0 - target) / positives))


def choose_thresholds(probs: np.ndarray, labels: np.ndarray, classes: list[str], target: float) -> dict[str, float]:
    """Per disease class, the threshold reaching ``target`` sensitivity on validation, with margin.

    Screening wants few missed cases, so each disease's operating point is set for sensitivity (see
    ``target_with_margin``); the negative class keeps 0.5 (it is never flagged, see
    ``core.decision``).
    """
    thresholds = {}
    for index, name in enumerate(classes):
        if name == NEGATIVE_CLASS:
            thresholds[name] = 0.5
            continue
        positives = labels == index
        aim = target_with_margin(target, int(positives.sum()))
        thresholds[name] = floor6(sensitivity_threshold(probs[:, index], positives, aim))
    return thresholds


def floor6(threshold: float) -> float:
    """Shorten a threshold for the metadata without raising it: rounding up past a positive's
    score would lose that case and the sensitivity the threshold was chosen for."""
    short = math.floor(threshold * 1e6) / 1e6
    return short if short <= threshold else short - 1e-6


def classification_metrics(
    labels: np.ndarray, probs: np.ndarray, classes: list[str], thresholds: dict[str, float]
) -> dict:
    """AUCs, accuracy, per-class precision/recall/F1/sensitivity/specificity, confusion matrix.

    Accuracy and the confusion matrix are of the headline (most probable class); a disease class's
    sensitivity, specificity and precision are of its flag (probability >= its operating threshold),
    which is what the threshold was chosen for."""
    predicted = predict_labels(probs, classes, thresholds)
    present = sorted(set(labels.tolist()))
    result: dict = {"n": int(len(labels)), "accuracy": float(skm.accuracy_score(labels, predicted))}
    per_class = {}
    aucs = []
    for index, name in enumerate(classes):
        positive = labels == index
        entry: dict = {"n": int(positive.sum())}
        if 0 < positive.sum() < len(labels):
            entry["auc"] = float(skm.roc_auc_score(positive, probs[:, index]))
            aucs.append(entry["auc"])
        flagged = predicted == index if name == NEGATIVE_CLASS else probs[:, index] >= thresholds[name]
        tp = int((flagged & positive).sum())
        fp = int((flagged & ~positive).sum())
        fn = int((~flagged & positive).sum())
        tn = int((~flagged & ~positive).sum())
        entry["sensitivity"] = tp / (tp + fn) if tp + fn else float("nan")
        entry["specificity"] = tn / (tn + fp) if tn + fp else float("nan")
        entry["precision"] = tp / (tp + fp) if tp + fp else float("nan")
        recall = entry["sensitivity"]
        precision = entry["precision"]
        entry["f1"] = (2 * precision * recall / (precision + recall)) if tp else 0.0
        entry["threshold"] = thresholds[name]
        per_class[name] = entry
    result["per_class"] = per_class
    result["macro_auc"] = float(np.mean(aucs)) if aucs else float("nan")
    result["confusion_matrix"] = skm.confusion_matrix(labels, predicted, labels=list(range(len(classes)))).tolist()
    result["classes_present"] = [classes[i] for i in present]
    return result


def uncalibrate(probs: np.ndarray, temperature: float) -> np.ndarray:
    """Recover the temperature-1 probabilities from calibrated ones (``softmax(T * log p)``).

    The engine only returns calibrated probabilities; this lets an evaluation through the engine
    still report calibration before and after, without a second forward pass.
    """
    return softmax(temperature * np.log(np.clip(probs, 1e-30, 1.0)))


def reliability_bins(probs: np.ndarray, labels: np.ndarray, bins: int = 15) -> dict[str, np.ndarray]:
    """Per equal-width confidence bin: image count, mean confidence and accuracy (NaN when empty).

    The data behind a reliability diagram; the ECE is the count-weighted gap between the two.
    """
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, bins - 1)
    count = np.bincount(which, minlength=bins).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_confidence = np.bincount(which, weights=confidence, minlength=bins) / count
        accuracy = np.bincount(which, weights=correct, minlength=bins) / count
    return {"edges": edges, "count": count, "confidence": mean_confidence, "accuracy": accuracy}


def binary_operating_point(
    classes: list[str],
    val_labels: np.ndarray,
    val_probs: np.ndarray,
    test_labels: np.ndarray,
    test_probs: np.ndarray,
    target: float,
) -> dict:
    """For a two-class model: the threshold giving sensitivity >= ``target`` on validation, and
    what that threshold achieves on the held-out test split.

    The positive class is the one that is not ``normal`` (the first class when neither is).
    """
    positive = next((i for i, c in enumerate(classes) if c != NEGATIVE_CLASS), 0)
    threshold = floor6(sensitivity_threshold(val_probs[:, positive], val_labels == positive, target))

    def rates(labels: np.ndarray, probs: np.ndarray) -> tuple[float, float]:
        flagged = probs[:, positive] >= threshold
        is_positive = labels == positive
        sensitivity = float(flagged[is_positive].mean()) if is_positive.any() else float("nan")
        specificity = float((~flagged[~is_positive]).mean()) if (~is_positive).any() else float("nan")
        return sensitivity, specificity

    val_sensitivity, val_specificity = rates(val_labels, val_probs)
    test_sensitivity, test_specificity = rates(test_labels, test_probs)
    return {
        "positive_class": classes[positive],
        "target_sensitivity": target,
        "threshold": threshold,
        "validation_sensitivity": val_sensitivity,
        "validation_specificity": val_specificity,
        "test_sensitivity": test_sensitivity,
        "test_specificity": test_specificity,
    }


def group_metrics(
    groups: Sequence[str],
    labels: np.ndarray,
    probs: np.ndarray,
    classes: list[str],
    thresholds: dict[str, float],
    min_images: int = 5,
) -> dict:
    """Figures per source or age group (groups of at least ``min_images``): where shortcut
    learning shows, e.g. a model that is only accurate on the hospital each class came from."""
    values = np.asarray(list(groups), dtype=object)
    result: dict = {}
    for value in sorted(set(values.tolist())):
        mask = values == value
        if mask.sum() >= min_images:
            result[str(value)] = classification_metrics(labels[mask], probs[mask], classes, thresholds)
    return result


def rank_auc(scores: np.ndarray, positive: np.ndarray) -> float:
    """One-vs-rest ROC AUC by the Mann-Whitney rank sum (ties count half); NaN if one class is absent.

    Equal to scikit-learn's ``roc_auc_score``, but cheap enough to call thousands of times.
    """
    n_pos = int(positive.sum())
    n_neg = positive.size - n_pos
    if n_pos == 0 or n_neg == 0:
        return float("nan")
    ranks = rankdata(scores)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg))


def class_aucs(labels: np.ndarray, probs: np.ndarray) -> list[float]:
    """One-vs-rest AUC per class (NaN for a class without positives or without negatives)."""
    return [rank_auc(probs[:, k], labels == k) for k in range(probs.shape[1])]


def _mean_present(aucs: list[float]) -> float:
    present = [a for a in aucs if not np.isnan(a)]
    return float(np.mean(present)) if present else float("nan")


def macro_auc(labels: np.ndarray, probs: np.ndarray) -> float:
    """Mean one-vs-rest AUC over the classes present (with at least one negative)."""
    return _mean_present(class_aucs(labels, probs))


def paired_bootstrap_auc(
    labels: np.ndarray,
    probs_a: np.ndarray,
    probs_b: np.ndarray,
    classes: list[str],
    clusters: Sequence[str] | None = None,
    *,
    replicates: int = 1000,
    seed: int = 0,
) -> dict:
    """95 % percentile intervals of the AUC difference (B - A), macro and per class.

    Paired: both models are scored on the same resampled images in every replicate, so what the
    images have in common cancels out. With ``clusters`` (patient ids) whole patients are
    resampled, because several films of one patient are not independent evidence.
    """
    rng = np.random.default_rng(seed)
    ids = np.asarray(list(clusters) if clusters is not None else range(len(labels)), dtype=object)
    unique, members = np.unique(ids, return_inverse=True)
    by_cluster = [np.flatnonzero(members == k) for k in range(len(unique))]
    names = ["macro", *classes]
    draws: dict[str, list[float]] = {name: [] for name in names}
    for _ in range(replicates):
        pick = np.concatenate([by_cluster[k] for k in rng.integers(0, len(unique), len(unique))])
        auc_a, auc_b = class_aucs(labels[pick], probs_a[pick]), class_aucs(labels[pick], probs_b[pick])
        draws["macro"].append(_mean_present(auc_b) - _mean_present(auc_a))
        for k, name in enumerate(classes):
            draws[name].append(auc_b[k] - auc_a[k])
    result = {}
    for k, name in enumerate(names):
        if name == "macro":
            observed = macro_auc(labels, probs_b) - macro_auc(labels, probs_a)
        else:
            index = k - 1
            observed = rank_auc(probs_b[:, index], labels == index) - rank_auc(probs_a[:, index], labels == index)
        values = np.asarray(draws[name], dtype=np.float64)
        values = values[~np.isnan(values)]
        low, high = np.percentile(values, [2.5, 97.5]) if values.size else (float("nan"), float("nan"))
        result[name] = {"difference": float(observed), "ci95": [float(low), float(high)]}
    result["replicates"] = replicates
    result["resampled"] = "patients" if clusters is not None else "images"
    return result
