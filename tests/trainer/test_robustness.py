"""Robustness perturbations on real radiographs, and the evaluation loop on the tiny engine (plumbing)."""

from __future__ import annotations

import numpy as np
import pytest

from cxr_desktop.core.decision import predict_labels
from cxr_desktop.core.preprocessing import preprocess
from cxr_desktop.core.radiograph import load_radiograph
from trainer import robustness as rb
from trainer.evaluation import macro_auc

CLASSES3 = ["covid", "pneumonia", "normal"]


@pytest.fixture(scope="module")
def film(sample_images) -> np.ndarray:
    return load_radiograph(sample_images[0]).pixels


@pytest.mark.parametrize("perturbation", rb.PERTURBATIONS, ids=lambda p: p.name)
def test_each_perturbation_visibly_changes_a_real_film_and_is_reproducible(film, perturbation):
    out = perturbation.apply(film, np.random.default_rng(5))
    assert out.shape == film.shape
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    assert np.abs(out - film).mean() > 0.005
    np.testing.assert_array_equal(out, perturbation.apply(film, np.random.default_rng(5)))


def test_geometric_perturbations_do_what_they_say(film):
    height, width = film.shape
    zoomed_out = rb.zoom(film, None, 0.8)
    assert zoomed_out[:5, :5].max() == 0.0 and zoomed_out[-5:, -5:].max() == 0.0
    rotated = rb.rotate(film, None, 10.0)
    centre = (slice(height // 2 - 5, height // 2 + 5), slice(width // 2 - 5, width // 2 + 5))
    assert np.abs(rotated[centre] - film[centre]).mean() < 0.05
    assert rotated[0, 0] == 0.0


def test_noise_and_jpeg_strengths(film):
    noisy = rb.gaussian_noise(film, np.random.default_rng(0), 0.05)
    mid = (film > 0.2) & (film < 0.8)
    assert np.std(noisy[mid] - film[mid]) == pytest.approx(0.05, rel=0.1)
    recompressed = rb.jpeg_quality(film, None, 15)
    assert 0.003 < np.abs(recompressed - film).mean() < 0.05


def test_stratified_subset_keeps_class_shares():
    labels = np.array([0] * 100 + [1] * 300 + [2] * 600)
    subset = rb.stratified_subset(labels, 200, seed=0)
    assert np.bincount(labels[subset]).tolist() == [20, 60, 120]
    np.testing.assert_array_equal(subset, rb.stratified_subset(labels, 200, seed=0))
    assert len(rb.stratified_subset(labels, 5000, seed=0)) == 1000


def test_robustness_report_on_real_films_through_the_engine(sample_images, tiny_engine):
    labels = np.array([CLASSES3.index(p.name.split("_")[0]) for p in sample_images])
    thresholds = {c: 0.5 for c in CLASSES3}

    def predict(batch):
        return tiny_engine.score(batch).probabilities

    result = rb.evaluate_robustness(
        sample_images, labels, CLASSES3, thresholds, tiny_engine.spec, predict, batch_size=4
    )
    assert result["images"] == len(sample_images)
    assert set(result["perturbations"]) == {p.name for p in rb.PERTURBATIONS}
    clean = np.stack([preprocess(load_radiograph(p).pixels, tiny_engine.spec) for p in sample_images])
    direct = predict(clean)
    assert result["clean"]["macro_auc"] == pytest.approx(macro_auc(labels, direct), abs=1e-6)
    assert result["clean"]["accuracy"] == pytest.approx(np.mean(predict_labels(direct, CLASSES3, thresholds) == labels))
    for entry in result["perturbations"].values():
        assert entry["macro_auc_drop"] == pytest.approx(result["clean"]["macro_auc"] - entry["macro_auc"])
        assert entry["accuracy_drop"] == pytest.approx(result["clean"]["accuracy"] - entry["accuracy"])
    subset = rb.evaluate_robustness(
        sample_images,
        labels,
        CLASSES3,
        thresholds,
        tiny_engine.spec,
        predict,
        max_images=3,
        perturbations=rb.PERTURBATIONS[:1],
    )
    assert subset["images"] == 3 and "subset of 3 of 6" in subset["subset"]
