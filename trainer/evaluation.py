"""Metrics, calibration and operating points, on arrays of labels and probabilities.

Pure numpy/scikit-learn so the same code scores a fresh run, a shipped bundle and a comparison.
"""

from __future__ import annotations

import numpy as np
from scipy.optimize import minimize_scalar
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
    confidence = probs.max(axis=1)
    correct = (probs.argmax(axis=1) == labels).astype(np.float64)
    edges = np.linspace(0.0, 1.0, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        mask = (confidence > lo) & (confidence <= hi)
        if mask.any():
            ece += mask.mean() * abs(correct[mask].mean() - confidence[mask].mean())
    return float(ece)


def sensitivity_threshold(scores: np.ndarray, positives: np.ndarray, target: float) -> float:
    """Highest threshold whose sensitivity on these scores is at least ``target``."""
    positive_scores = np.sort(scores[positives])
    if positive_scores.size == 0:
        return 0.5
    index = int(np.floor((1.0 - target) * positive_scores.size))
    return float(positive_scores[min(index, positive_scores.size - 1)])


def choose_thresholds(probs: np.ndarray, labels: np.ndarray, classes: list[str], target: float) -> dict[str, float]:
    """Per disease class, the threshold reaching ``target`` sensitivity on validation.

    Screening wants few missed cases, so each disease's operating point is set for sensitivity; the
    negative class keeps 0.5 (it is never flagged, see ``core.decision``).
    """
    thresholds = {}
    for index, name in enumerate(classes):
        if name == NEGATIVE_CLASS:
            thresholds[name] = 0.5
        else:
            thresholds[name] = round(sensitivity_threshold(probs[:, index], labels == index, target), 6)
    return thresholds


def classification_metrics(
    labels: np.ndarray, probs: np.ndarray, classes: list[str], thresholds: dict[str, float]
) -> dict:
    """AUCs, accuracy, per-class precision/recall/F1/sensitivity/specificity, confusion matrix."""
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
        flagged = predicted == index
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
        entry["threshold"] = thresholds.get(name, 0.5)
        per_class[name] = entry
    result["per_class"] = per_class
    result["macro_auc"] = float(np.mean(aucs)) if aucs else float("nan")
    result["confusion_matrix"] = skm.confusion_matrix(labels, predicted, labels=list(range(len(classes)))).tolist()
    result["classes_present"] = [classes[i] for i in present]
    return result
