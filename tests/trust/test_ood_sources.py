"""The gate's leave-one-source-out thresholds: a hospital the gate never saw must pass, while
inputs unlike any radiograph are still flagged. Synthetic features where the answer is known."""

from __future__ import annotations

import numpy as np

from trainer.ood_fit import leave_one_source_out, loso_flag_rates, per_source_cap, source_margins
from trainer.data import Sample
from pathlib import Path


def sources_of_films(seed: int = 0):
    rng = np.random.default_rng(seed)
    dims, per_source = 24, 150
    features, thumbs, sources = [], [], []
    for k, name in enumerate("ABCD"):
        shift = np.zeros(dims)
        shift[k] = 1.5  # each hospital sits a little apart from the others
        features.append(5.0 + shift + rng.normal(size=(per_source, dims)) * np.linspace(2.0, 0.3, dims))
        thumbs.append(rng.normal(size=(per_source, 256)) * 0.1 + 0.5)
        sources += [name] * per_source
    thumbnails = np.concatenate(thumbs)
    negatives = np.stack([thumbnails[:, ::-1], 1.0 - thumbnails, thumbnails * 0.1, thumbnails[:, ::2].repeat(2, 1)], 1)
    return np.concatenate(features), thumbnails, negatives, sources


def test_margins_keep_unseen_sources_under_the_targets_and_far_inputs_flagged():
    features, thumbnails, negatives, sources = sources_of_films()
    offsets = leave_one_source_out(features, thumbnails, negatives, sources, components=8)
    assert set(offsets) == set("ABCD")
    margins = source_margins(offsets)
    rates = loso_flag_rates(offsets, margins)
    assert rates["overall"] <= 0.01 and rates["worst_rate"] <= 0.03
    no_margin = loso_flag_rates(offsets, (0.0, 0.0))
    assert no_margin["overall"] > rates["overall"], "an unseen source is flagged more without the margin"
    far = np.log(5.0)
    assert margins[0] < far, "a film five times further than the training films is still flagged"


def test_per_source_cap_keeps_small_sources_whole():
    samples = [
        Sample(Path(f"{s}{i}.jpg"), "normal", f"{s}{i}", source=s) for s in "AB" for i in range(50 if s == "A" else 5)
    ]
    capped = per_source_cap(samples, 10)
    assert sum(s.source == "A" for s in capped) == 10 and sum(s.source == "B" for s in capped) == 5
    assert capped == per_source_cap(samples, 10), "seeded"
