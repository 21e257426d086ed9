"""The patient split on the real cxr3 manifest: disjoint, stratified, reproducible, subset-stable.

These need no decoding (the manifest gives the patient ids), so they run in a second or two.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict

import pytest

from trainer.data import (
    DataError,
    patient_unit,
    read_split,
    scan_dataset,
    split_by_patient,
    split_summary,
    write_split,
)

CLASSES3 = ["covid", "pneumonia", "normal"]


@pytest.fixture(scope="module")
def samples(cxr3):
    return scan_dataset(cxr3, CLASSES3)


@pytest.fixture(scope="module")
def split(samples):
    return split_by_patient(samples, CLASSES3, seed=1234)


def test_manifest_gives_real_patient_ids(samples):
    assert len(samples) > 3000
    assert not any(s.patient_id.startswith("file:") for s in samples)
    # several films per patient exist, which is what makes an image-level split leak
    assert max(Counter(s.patient_id for s in samples).values()) > 1


def test_no_patient_in_two_splits(split):
    splits_of = defaultdict(set)
    for sample in split:
        splits_of[sample.patient_id].add(sample.split)
    assert all(len(found) == 1 for found in splits_of.values())
    assert {s.split for s in split} == {"train", "val", "test"}


def test_split_is_stratified_by_class(split):
    """The hash split is stratified in expectation only (that is what makes it subset-stable): each
    class's share of patients per split must be within 4 binomial standard deviations of the target.
    (Seed 1234 on cxr3 gives COVID-19 11 % of patients in validation and 21 % in test.)"""
    for label in CLASSES3:
        members = [s for s in split if s.label == label]
        patients = {s.patient_id for s in members}
        for part, expected in (("val", 0.15), ("test", 0.15), ("train", 0.70)):
            in_part = {s.patient_id for s in members if s.split == part}
            tolerance = 4 * math.sqrt(expected * (1 - expected) / len(patients))
            assert abs(len(in_part) / len(patients) - expected) < tolerance, (label, part)


def test_split_refuses_too_few_validation_patients(samples):
    few = []
    for label in CLASSES3:
        few += [s for s in samples if s.label == label][:40]
    with pytest.raises(DataError, match="patient.*minimum 20"):
        split_by_patient(few, CLASSES3, seed=1234, min_patients=20)


def test_split_is_deterministic_and_depends_on_the_seed(samples, split):
    again = split_by_patient(samples, CLASSES3, seed=1234)
    assert [s.split for s in again] == [s.split for s in split]
    other = split_by_patient(samples, CLASSES3, seed=99)
    assert [s.split for s in other] != [s.split for s in split]


def test_subset_keeps_every_patients_split(cxr3, split):
    """The binary model's data (paediatric pneumonia/normal) is a subset of the three-class data:
    every patient must land in the same split, so the binary test set holds no patient the
    three-class model (its initialisation) was trained on."""
    full = {s.patient_id: s.split for s in split}
    subset = scan_dataset(cxr3, ["pneumonia", "normal"], where={"age_group": "pediatric"})
    sub_split = split_by_patient(subset, ["pneumonia", "normal"], seed=1234)
    assert len(sub_split) < len(split)
    assert all(full[s.patient_id] == s.split for s in sub_split)


def test_patient_unit_is_a_fixed_position_in_unit_interval():
    values = [patient_unit(f"p{i}", 1234) for i in range(2000)]
    assert all(0.0 <= v < 1.0 for v in values)
    assert values == [patient_unit(f"p{i}", 1234) for i in range(2000)]
    assert 0.45 < sum(values) / len(values) < 0.55


def test_split_file_round_trip(tmp_path, cxr3, split):
    path = tmp_path / "split.csv"
    write_split(split, path, cxr3)
    back = read_split(path, cxr3)
    assert back == split
    summary = split_summary(back, CLASSES3)
    assert sum(summary[p]["images"] for p in ("train", "val", "test")) == len(split)
    assert summary["test"]["per_class"]["covid"] > 50
