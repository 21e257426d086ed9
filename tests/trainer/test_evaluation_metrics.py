"""The evaluation arithmetic: AUC, calibration, operating points, group figures, paired bootstrap.

Pure numpy on simulated scores with known answers; what real models score is tested elsewhere.
"""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from trainer import evaluation as ev

CLASSES3 = ["covid", "pneumonia", "normal"]


def _simulated(n: int = 900, temperature: float = 1.0, seed: int = 0):
    """Labels drawn from softmax(logits / temperature): calibrated at exactly that temperature."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0.0, 2.5, size=(n, 3))
    probs = ev.softmax(logits, temperature)
    labels = np.array([rng.choice(3, p=p) for p in probs])
    return logits, labels


def test_rank_auc_equals_scikit_learn_with_ties():
    logits, labels = _simulated()
    for k in range(3):
        scores = np.round(ev.softmax(logits)[:, k], 1)  # many ties
        assert ev.rank_auc(scores, labels == k) == pytest.approx(roc_auc_score(labels == k, scores))
    assert np.isnan(ev.rank_auc(np.ones(5), np.zeros(5, bool)))


def test_temperature_fit_recovers_the_true_temperature_and_lowers_ece():
    logits, labels = _simulated(n=4000, temperature=2.0)
    temperature = ev.fit_temperature(logits, labels)
    assert temperature == pytest.approx(2.0, rel=0.15)
    before = ev.expected_calibration_error(ev.softmax(logits), labels)
    after = ev.expected_calibration_error(ev.softmax(logits, temperature), labels)
    assert after < 0.5 * before


def test_uncalibrate_inverts_temperature_scaling():
    logits, _ = _simulated(n=50)
    np.testing.assert_allclose(ev.uncalibrate(ev.softmax(logits, 1.7), 1.7), ev.softmax(logits), atol=1e-9)


def test_reliability_bins_account_for_every_image():
    logits, labels = _simulated()
    probs = ev.softmax(logits)
    table = ev.reliability_bins(probs, labels, bins=10)
    assert table["count"].sum() == len(labels)
    used = table["count"] > 0
    assert (
        (table["confidence"][used] >= table["edges"][:-1][used])
        & (table["confidence"][used] <= table["edges"][1:][used])
    ).all()


def test_thresholds_reach_the_target_sensitivity_on_the_data_they_were_chosen_on():
    logits, labels = _simulated()
    probs = ev.softmax(logits)
    thresholds = ev.choose_thresholds(probs, labels, CLASSES3, 0.95)
    assert thresholds["normal"] == 0.5
    for k, name in enumerate(CLASSES3[:2]):
        assert (probs[labels == k, k] >= thresholds[name]).mean() >= 0.95


def test_binary_operating_point_reports_validation_and_test_rates():
    logits, labels = _simulated(n=2000)
    two = ev.softmax(logits[:, :2])
    binary_labels = (labels != 0).astype(int)  # class 0 "pneumonia" positive, class 1 "normal"
    point = ev.binary_operating_point(
        ["pneumonia", "normal"], binary_labels[:1000], two[:1000], binary_labels[1000:], two[1000:], 0.95
    )
    assert point["positive_class"] == "pneumonia"
    assert point["validation_sensitivity"] >= 0.95
    assert point["threshold"] == pytest.approx(
        ev.sensitivity_threshold(two[:1000, 0], binary_labels[:1000] == 0, 0.95), abs=1e-6
    )
    flagged = two[1000:, 0] >= point["threshold"]
    assert point["test_specificity"] == pytest.approx((~flagged[binary_labels[1000:] == 1]).mean())


def test_accuracy_follows_the_headline_and_sensitivity_the_flag():
    logits, labels = _simulated()
    probs = ev.softmax(logits)
    thresholds = {c: 0.5 for c in CLASSES3}
    result = ev.classification_metrics(labels, probs, CLASSES3, thresholds)
    matrix = np.array(result["confusion_matrix"])
    assert matrix.sum() == len(labels)
    assert result["accuracy"] == pytest.approx(np.trace(matrix) / len(labels))
    covid = result["per_class"]["covid"]
    assert covid["sensitivity"] == pytest.approx(np.mean(probs[labels == 0, 0] >= 0.5))
    assert result["per_class"]["normal"]["sensitivity"] == pytest.approx(matrix[2, 2] / matrix[2].sum())
    assert covid["auc"] == pytest.approx(roc_auc_score(labels == 0, probs[:, 0]))


def test_group_metrics_skip_groups_too_small_to_mean_anything():
    logits, labels = _simulated(n=100)
    groups = ["adult"] * 96 + ["pediatric"] * 4
    result = ev.group_metrics(groups, labels, ev.softmax(logits), CLASSES3, {c: 0.5 for c in CLASSES3})
    assert list(result) == ["adult"] and result["adult"]["n"] == 96


def test_paired_bootstrap_is_zero_for_identical_models_and_detects_a_better_one():
    logits, labels = _simulated(n=600)
    probs = ev.softmax(logits)
    patients = [f"p{i // 3}" for i in range(len(labels))]
    same = ev.paired_bootstrap_auc(labels, probs, probs, CLASSES3, patients, replicates=200)
    assert same["macro"]["difference"] == 0.0 and same["macro"]["ci95"] == [0.0, 0.0]
    assert same["resampled"] == "patients"
    rng = np.random.default_rng(1)
    noisy = ev.softmax(logits + rng.normal(0, 3.0, logits.shape))
    worse = ev.paired_bootstrap_auc(labels, probs, noisy, CLASSES3, patients, replicates=200)
    low, high = worse["macro"]["ci95"]
    assert low <= worse["macro"]["difference"] <= high < 0.0


def test_operating_thresholds_keep_a_confidence_margin_for_small_validation_sets():
    assert ev.target_with_margin(0.95, 70) == pytest.approx(0.95 + 1.645 * np.sqrt(0.95 * 0.05 / 70))
    assert ev.target_with_margin(0.95, 100_000) == pytest.approx(0.95, abs=2e-3)
    assert ev.target_with_margin(0.95, 5) == 1.0
    logits, labels = _simulated(n=2000)
    probs = ev.softmax(logits)
    chosen = ev.choose_thresholds(probs, labels, CLASSES3, 0.95)
    for index, name in enumerate(CLASSES3[:2]):
        positives = labels == index
        plain = ev.sensitivity_threshold(probs[:, index], positives, 0.95)
        assert chosen[name] <= plain
        assert (probs[positives, index] >= chosen[name]).mean() >= ev.target_with_margin(0.95, positives.sum())
    assert chosen["normal"] == 0.5
