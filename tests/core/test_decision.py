"""The one decision rule shared by the CLI, the GUI, the report and the trainer's evaluation."""

from __future__ import annotations

import numpy as np

import pytest

from cxr_desktop.core.decision import decide, display_name, finding_detail, predict_labels, risk

CLASSES = ["covid", "pneumonia", "normal"]
THRESHOLDS = {"covid": 0.3, "pneumonia": 0.032, "normal": 0.5}


def test_a_disease_above_its_threshold_is_the_finding_even_when_normal_is_more_probable():
    p = np.array([0.01, 0.10, 0.89])
    found = decide(p, CLASSES, THRESHOLDS)
    assert found.flagged == ("pneumonia",)
    assert found.prediction == "pneumonia"
    assert abs(found.risk - 0.11) < 1e-9 and found.risk == risk(p, CLASSES)


def test_the_most_probable_flagged_class_wins_and_no_flag_means_argmax():
    assert decide(np.array([0.40, 0.50, 0.10]), CLASSES, THRESHOLDS).prediction == "pneumonia"
    assert decide(np.array([0.20, 0.01, 0.79]), CLASSES, THRESHOLDS).prediction == "normal"
    rows = np.array([[0.40, 0.50, 0.10], [0.20, 0.01, 0.79]])
    assert predict_labels(rows, CLASSES, THRESHOLDS).tolist() == [1, 2]


def test_a_class_without_a_threshold_is_an_error_not_a_silent_half():
    with pytest.raises(KeyError):
        decide(np.array([0.6, 0.2, 0.2]), CLASSES, {"pneumonia": 0.1, "normal": 0.5})


def test_the_rule_knows_no_class_list():
    """A fourth class (or any names) follows the same rule; only 'normal' is special."""
    classes = ["covid", "pneumonia", "other_abnormal", "normal"]
    found = decide(
        np.array([0.05, 0.05, 0.30, 0.60]),
        classes,
        {"covid": 0.1, "pneumonia": 0.1, "other_abnormal": 0.25, "normal": 0.5},
    )
    assert found.prediction == "other_abnormal" and found.flagged == ("other_abnormal",)


def test_a_low_flag_says_which_class_is_most_probable():
    """Screening thresholds are low: a flagged disease at 10% must not read as the model's best guess."""
    p = np.array([0.01, 0.10, 0.89])
    assert finding_detail(CLASSES, p, "pneumonia", ["pneumonia"]) == (
        "probability 10.0% · above threshold: Pneumonia · most probable: Normal 89.0%"
    )
    assert finding_detail(CLASSES, np.array([0.01, 0.01, 0.98]), "normal", []) == (
        "probability 98.0% · no disease class above its threshold"
    )
    top = finding_detail(CLASSES, np.array([0.90, 0.05, 0.05]), "covid", ["covid", "pneumonia"])
    assert "most probable" not in top and "COVID-19, Pneumonia" in top


def test_display_names():
    assert [display_name(c) for c in CLASSES] == ["COVID-19", "Pneumonia", "Normal"]
    assert display_name("pleural_effusion") == "Pleural effusion"
