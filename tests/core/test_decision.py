"""The one decision rule shared by the CLI, the GUI, the report and the trainer's evaluation."""

from __future__ import annotations

import numpy as np

from cxr_desktop.core.decision import display_name, finding_detail, flagged, predict_label, risk

CLASSES = ["covid", "pneumonia", "normal"]
THRESHOLDS = {"covid": 0.3, "pneumonia": 0.032}


def test_a_disease_above_its_threshold_is_the_finding_even_when_normal_is_more_probable():
    p = np.array([0.01, 0.10, 0.89])
    assert flagged(p, CLASSES, THRESHOLDS) == ["pneumonia"]
    assert predict_label(p, CLASSES, THRESHOLDS) == "pneumonia"
    assert abs(risk(p, CLASSES) - 0.11) < 1e-9


def test_the_most_probable_flagged_class_wins_and_no_flag_means_argmax():
    assert predict_label(np.array([0.40, 0.50, 0.10]), CLASSES, THRESHOLDS) == "pneumonia"
    assert predict_label(np.array([0.20, 0.01, 0.79]), CLASSES, THRESHOLDS) == "normal"


def test_a_low_flag_says_which_class_is_most_probable():
    """Screening thresholds are low: a flagged disease at 10% must not read as the model's best guess."""
    p = np.array([0.01, 0.10, 0.89])
    assert finding_detail(CLASSES, p, "pneumonia", ["pneumonia"]) == (
        "probability 10.0% · above threshold: Pneumonia · most probable: Normal 89.0%")
    assert finding_detail(CLASSES, np.array([0.01, 0.01, 0.98]), "normal", []) == (
        "probability 98.0% · no disease class above its threshold")
    top = finding_detail(CLASSES, np.array([0.90, 0.05, 0.05]), "covid", ["covid", "pneumonia"])
    assert "most probable" not in top and "COVID-19, Pneumonia" in top


def test_display_names():
    assert [display_name(c) for c in CLASSES] == ["COVID-19", "Pneumonia", "Normal"]
    assert display_name("pleural_effusion") == "Pleural effusion"
