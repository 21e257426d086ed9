"""Real cxr3 films as DICOM chest radiographs (the data set holds JPEGs only)."""

from __future__ import annotations

import csv
from pathlib import Path

import cv2
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

from tests.core.dicom_factory import make_dataset, write


def adult_films(cxr3: Path, count: int) -> list[Path]:
    """The first ``count`` adult films of the manifest, taking the classes in turn (stable order)."""
    by_label: dict[str, list[Path]] = {}
    with open(cxr3 / "manifest.csv", newline="", encoding="utf-8") as handle:
        for row in csv.DictReader(handle):
            if row["age_group"] == "adult" and row["label"] in ("covid", "pneumonia", "normal"):
                by_label.setdefault(row["label"], []).append(cxr3 / row["file"])
    films: list[Path] = []
    index = 0
    while len(films) < count:
        for label in ("covid", "pneumonia", "normal"):
            if index < len(by_label[label]) and len(films) < count:
                films.append(by_label[label][index])
        index += 1
    return films


def film_dataset(jpeg: Path, *, patient: str, study_uid: str, number: int, modality: str = "DX") -> Dataset:
    """A DX (or CR) chest film holding the JPEG's real pixels, in study ``study_uid``."""
    grey = cv2.imread(str(jpeg), cv2.IMREAD_GRAYSCALE)
    assert grey is not None, jpeg
    ds = make_dataset(grey, modality=modality)
    ds.StudyInstanceUID = study_uid
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = patient
    ds.PatientName = f"Test^{patient}"
    ds.PatientBirthDate = ""
    ds.StudyTime = "101500"
    ds.StudyID = "1"
    ds.AccessionNumber = f"A{patient[-6:]}"
    ds.ReferringPhysicianName = ""
    ds.SeriesNumber = 1
    ds.InstanceNumber = number
    ds.Manufacturer = "test"
    ds.PatientOrientation = ["L", "F"]
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.PresentationIntentType = "FOR PRESENTATION"
    ds.ContentDate, ds.ContentTime = "20240101", "101500"
    return ds


def write_films(jpegs: list[Path], folder: Path, *, patients: int = 1) -> list[Path]:
    """Each JPEG as a DICOM file in ``folder``; films are spread over ``patients`` studies in turn."""
    folder.mkdir(parents=True, exist_ok=True)
    studies = [(f"CXRTEST{n:04d}", generate_uid()) for n in range(patients)]
    paths = []
    for index, jpeg in enumerate(jpegs):
        patient, study = studies[index % patients]
        ds = film_dataset(jpeg, patient=patient, study_uid=study, number=index // patients + 1)
        paths.append(write(ds, folder / f"film{index:03d}.dcm"))
    return paths
