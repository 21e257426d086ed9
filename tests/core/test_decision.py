"""The one decision rule shared by the CLI, the GUI, the report and the trainer's evaluation."""

from __future__ import annotations

import numpy as np

import pytest

from cxr_desktop.core.decision import decide, display_name, finding_detail, predict_labels, risk

CLASSES = ["covid", "pneumonia", "normal"]
THRESHOLDS = {"covid": 0.3, "pneumonia": 0.032, "normal": 0.5}


def test_the_headline_is_the_most_probable_class_and_a_low_flag_stands_beside_it():
    """Issue #12: a 10% pneumonia flag must never be the headline over an 89% normal."""
    p = np.array([0.01, 0.10, 0.89])
    found = decide(p, CLASSES, THRESHOLDS)
    assert found.prediction == "normal"
    assert found.flagged == ("pneumonia",)
    assert abs(found.risk - 0.11) < 1e-9 and found.risk == risk(p, CLASSES)


def test_flags_do_not_change_the_headline():
    assert decide(np.array([0.40, 0.50, 0.10]), CLASSES, THRESHOLDS).prediction == "pneumonia"
    assert decide(np.array([0.35, 0.05, 0.60]), CLASSES, THRESHOLDS).prediction == "normal"
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
    assert found.prediction == "normal" and found.flagged == ("other_abnormal",)


def test_the_detail_line_names_each_flag_with_its_probability_and_threshold():
    p = np.array([0.069, 0.031, 0.90])
    line = finding_detail(CLASSES, p, "normal", ["covid"], {"covid": 0.05, "pneumonia": 0.032, "normal": 0.5})
    assert line == "most probable, 90.0% · COVID-19 flagged: 6.9% >= threshold 5.0%"
    assert finding_detail(CLASSES, np.array([0.01, 0.01, 0.98]), "normal", [], THRESHOLDS) == (
        "most probable, 98.0% · no class above its screening threshold"
    )


def test_display_names():
    assert [display_name(c) for c in CLASSES] == ["COVID-19", "Pneumonia", "Normal"]
    assert display_name("pleural_effusion") == "Pleural effusion"
    assert display_name("other_abnormal") == "Other abnormality"
