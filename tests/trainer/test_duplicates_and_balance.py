"""Duplicate files and class balancing, on real radiographs.

A small data set is assembled in a temporary folder from the shipped sample radiographs: exact
copies under other names, the same pixels re-saved losslessly as PNG (different bytes), and one
film filed under two labels.
"""

from __future__ import annotations

import shutil

import cv2
import numpy as np
import pytest

from cxr_desktop.core.preprocessing import PreprocessingSpec
from cxr_desktop.core.radiograph import load_radiograph
from trainer.data import (
    class_weights,
    load_arrays,
    merge_duplicates,
    scan_dataset,
    split_by_patient,
)

CLASSES3 = ["covid", "pneumonia", "normal"]


@pytest.fixture()
def dataset(tmp_path, sample_images):
    by_class = {c: [p for p in sample_images if p.name.startswith(c)] for c in CLASSES3}
    rows = ["file,patient_id"]

    def put(source, rel, patient):
        target = tmp_path / rel
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)
        rows.append(f"{rel},{patient}")

    covid, other_covid = by_class["covid"]
    put(covid, "covid/original.jpg", "p1")
    put(covid, "covid/copy.jpg", "p2")  # same bytes, another patient id
    pixels = load_radiograph(covid).pixels
    (tmp_path / "covid").mkdir(exist_ok=True)
    cv2.imwrite(str(tmp_path / "covid/resaved.png"), np.round(pixels * 255).astype(np.uint8))
    rows.append("covid/resaved.png,p3")  # same pixels, different file format
    put(other_covid, "covid/other.jpg", "p4")
    put(by_class["normal"][0], "normal/n1.jpg", "p5")
    put(by_class["normal"][1], "normal/conflict.jpg", "p6")
    put(by_class["normal"][1], "pneumonia/conflict.jpg", "p7")  # one film under two labels
    put(by_class["pneumonia"][0], "pneumonia/q1.jpg", "p8")
    put(by_class["pneumonia"][1], "pneumonia/q2.jpg", "p9")
    (tmp_path / "manifest.csv").write_text("\n".join(rows) + "\n")
    return tmp_path


def test_identical_pixels_become_one_patient_group_and_conflicts_are_dropped(dataset):
    samples = scan_dataset(dataset, CLASSES3)
    assert len(samples) == 9
    kept, arrays, hashes = load_arrays(samples, PreprocessingSpec(size=64))
    assert arrays.shape == (9, 64, 64) and arrays.dtype == np.float16
    merged, keep, summary = merge_duplicates(kept, hashes)
    assert summary == {"duplicate_groups_merged": 2, "conflicting_duplicates_dropped": 2}
    names = {s.path.relative_to(dataset).as_posix(): s for s in merged}
    assert "normal/conflict.jpg" not in names and "pneumonia/conflict.jpg" not in names
    group = {names[n].patient_id for n in ("covid/original.jpg", "covid/copy.jpg", "covid/resaved.png")}
    assert len(group) == 1
    assert names["covid/other.jpg"].patient_id not in group
    assert len(keep) == len(merged) == 7


def test_merged_duplicates_never_straddle_splits(dataset):
    samples = scan_dataset(dataset, CLASSES3)
    kept, _, hashes = load_arrays(samples, PreprocessingSpec(size=64))
    merged, _, _ = merge_duplicates(kept, hashes)
    for seed in range(30):
        split = split_by_patient(merged, CLASSES3, seed=seed, min_patients=0)
        copies = {s.split for s in split if s.path.parent.name == "covid" and s.path.stem != "other"}
        assert len(copies) == 1


def test_balanced_class_weights_on_real_label_counts(cxr3):
    labels = np.array([CLASSES3.index(s.label) for s in scan_dataset(cxr3, CLASSES3)])
    weights = class_weights(labels, 3)
    counts = np.bincount(labels)
    # every class carries the same total weight, n / k
    np.testing.assert_allclose(weights * counts, len(labels) / 3, rtol=1e-5)
    # the class with the fewest films (pneumonia in cxr3 v2) weighs most, the largest (COVID-19) least
    assert weights[np.argmin(counts)] == weights.max() > 1.0 > weights[np.argmax(counts)] == weights.min()
    # the loss on a balanced sample is unchanged in scale: mean weight over images is 1
    assert np.mean(weights[labels]) == pytest.approx(1.0, rel=1e-5)
