"""From probabilities to a finding, using the bundle's operating thresholds.

One rule, shared by the CLI, the GUI and the trainer's evaluation, so the sensitivity a model card
reports is the sensitivity a user gets:
- a disease class is *flagged* when its probability reaches its operating threshold;
- the prediction is the flagged class with the highest probability, or, when none is flagged,
  the most probable class;
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
    if hits:
        prediction = max(hits, key=lambda name: float(probabilities[classes.index(name)]))
    else:
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
    return {"covid": "COVID-19"}.get(label, label.replace("_", " ").capitalize())


def finding_detail(
    classes: Sequence[str], probabilities: np.ndarray, prediction: str, flagged_classes: Sequence[str]
) -> str:
    """The line under the finding, on screen and in the report.

    Screening thresholds sit far below 50%, so the finding can be a flagged disease while another
    class is more probable; the line then names both, so a flag at 11% is never taken for the
    model's best guess.
    """

    def percent(name: str) -> str:
        return f"{float(probabilities[classes.index(name)]) * 100:.1f}%"

    parts = [f"probability {percent(prediction)}"]
    if flagged_classes:
        parts.append("above threshold: " + ", ".join(display_name(name) for name in flagged_classes))
    else:
        parts.append("no disease class above its threshold")
    most_probable = classes[int(np.argmax(probabilities))]
    if most_probable != prediction:
        parts.append(f"most probable: {display_name(most_probable)} {percent(most_probable)}")
    return " · ".join(parts)
