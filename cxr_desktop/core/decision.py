"""From probabilities to a finding, using the bundle's operating thresholds.

One rule, shared by the CLI, the GUI and the trainer's evaluation, so the sensitivity a model card
reports is the sensitivity a user gets:
- the prediction (the headline the reader sees first) is the most probable class, with its
  probability: a screening flag at 7% is never shown as the finding over a 90% "normal";
- a disease class is *flagged* when its probability reaches its operating threshold (set for
  sensitivity, so far below 50%); flags are shown beside the headline, with their thresholds, and
  they are what the model card's sensitivities refer to;
- the triage risk is the total probability of disease (1 - p(normal)).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

NEGATIVE_CLASS = "normal"


@dataclass(frozen=True)
class Decision:
    """What the rule says about one image's probabilities."""

    prediction: str
    flagged: tuple[str, ...]
    risk: float


def decide(probabilities: np.ndarray, classes: Sequence[str], thresholds: Mapping[str, float]) -> Decision:
    """The rule for one image. Every class must have a threshold (``bundle.parse_bundle`` checks it)."""
    hits = tuple(
        name
        for index, name in enumerate(classes)
        if name != NEGATIVE_CLASS and float(probabilities[index]) >= thresholds[name]
    )
    prediction = classes[int(np.argmax(probabilities))]
    return Decision(prediction, hits, risk(probabilities, classes))


def predict_labels(probabilities: np.ndarray, classes: Sequence[str], thresholds: Mapping[str, float]) -> np.ndarray:
    """``decide``'s prediction as class indices for each row, for evaluation over a whole split."""
    return np.array(
        [classes.index(decide(row, classes, thresholds).prediction) for row in probabilities], dtype=np.int64
    )


def risk(probabilities: np.ndarray, classes: Sequence[str]) -> float:
    if NEGATIVE_CLASS in classes:
        return float(1.0 - probabilities[classes.index(NEGATIVE_CLASS)])
    return float(np.max(probabilities))


def display_name(label: str) -> str:
    """A class label as a reader expects to see it (``covid`` -> ``COVID-19``)."""
    return {"covid": "COVID-19", "other_abnormal": "Other abnormality"}.get(label, label.replace("_", " ").capitalize())


def finding_detail(
    classes: Sequence[str],
    probabilities: np.ndarray,
    prediction: str,
    flagged_classes: Sequence[str],
    thresholds: Mapping[str, float],
) -> str:
    """The line under the headline, on screen and in the report: the headline's probability, then
    each flag with its probability and threshold ("COVID-19 flagged: 6.9% >= threshold 5.0%")."""

    parts = [f"most probable, {probabilities[classes.index(prediction)] * 100:.1f}%"]
    parts += flag_texts(classes, probabilities, flagged_classes, thresholds) or [NO_FLAG]
    return " · ".join(parts)


NO_FLAG = "no class above its screening threshold"


def flag_texts(
    classes: Sequence[str], probabilities: np.ndarray, flagged_classes: Sequence[str], thresholds: Mapping[str, float]
) -> list[str]:
    """One "COVID-19 flagged: 6.9% >= threshold 5.0%" per flagged class."""
    return [
        f"{display_name(name)} flagged: {float(probabilities[classes.index(name)]) * 100:.1f}%"
        f" >= threshold {thresholds[name] * 100:.1f}%"
        for name in flagged_classes
    ]
