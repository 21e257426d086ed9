"""From probabilities to a finding, using the bundle's operating thresholds.

One rule, shared by the CLI, the GUI and the trainer's evaluation, so the sensitivity a model card
reports is the sensitivity a user gets:
- a disease class is *flagged* when its probability reaches its operating threshold;
- the prediction is the flagged class with the highest probability, or, when none is flagged,
  the most probable class;
- the triage risk is the total probability of disease (1 - p(normal)).
"""

from __future__ import annotations

import numpy as np

NEGATIVE_CLASS = "normal"


def flagged(probabilities: np.ndarray, classes: list[str], thresholds: dict[str, float]) -> list[str]:
    return [
        name for index, name in enumerate(classes)
        if name != NEGATIVE_CLASS and float(probabilities[index]) >= thresholds.get(name, 0.5)
    ]


def predict_label(probabilities: np.ndarray, classes: list[str], thresholds: dict[str, float]) -> str:
    hits = flagged(probabilities, classes, thresholds)
    if hits:
        return max(hits, key=lambda name: float(probabilities[classes.index(name)]))
    return classes[int(np.argmax(probabilities))]


def predict_labels(probabilities: np.ndarray, classes: list[str], thresholds: dict[str, float]) -> np.ndarray:
    """Vectorised ``predict_label`` returning class indices, for evaluation over a whole split."""
    return np.array(
        [classes.index(predict_label(row, classes, thresholds)) for row in probabilities], dtype=np.int64
    )


def risk(probabilities: np.ndarray, classes: list[str]) -> float:
    if NEGATIVE_CLASS in classes:
        return float(1.0 - probabilities[classes.index(NEGATIVE_CLASS)])
    return float(np.max(probabilities))
