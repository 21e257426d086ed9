"""Builders for GUI tests: folders of real radiographs, a DICOM made from a real image, PDF checks."""

from __future__ import annotations

import csv
import shutil
import subprocess
from pathlib import Path

import cv2
import numpy as np


def real_images(cxr3: Path, count: int) -> list[Path]:
    """``count`` real radiographs from the shared data set, classes interleaved, in a stable order."""
    per_class = [sorted((cxr3 / label).glob("*.jpg")) for label in ("covid", "pneumonia", "normal")]
    mixed = [path for group in zip(*per_class) for path in group]
    assert len(mixed) >= count, "not enough real images in the data set"
    return mixed[:count]


def link_folder(folder: Path, sources: list[Path], bad_files: bool = True) -> Path:
    """A folder (with a sub-folder) of symbolic links to real images, plus two files that must be refused."""
    (folder / "sub").mkdir(parents=True, exist_ok=True)
    for index, source in enumerate(sources):
        target = folder / ("sub" if index % 3 == 0 else ".") / f"{index:04d}_{source.name}"
        target.symlink_to(source)
    if bad_files:
        (folder / "notes.jpg").write_text("this is a text file renamed to .jpg\n", encoding="utf-8")
        (folder / "empty.png").write_bytes(b"")
    return folder


def write_dicom(
    path: Path,
    source: Path,
    *,
    patient_id: str = "TEST-0042",
    study_date: str = "20240131",
    view: str = "PA",
    **extra,
) -> Path:
    """A 12-bit DX DICOM holding a real radiograph, with the header fields the viewer summarises;
    ``extra`` sets further attributes by keyword (``WindowCenter=...``, ``PixelSpacing=[...]``)."""
    import pydicom
    from pydicom.dataset import Dataset, FileMetaDataset
    from pydicom.uid import DigitalXRayImageStorageForPresentation, ExplicitVRLittleEndian, generate_uid

    grey = cv2.imread(str(source), cv2.IMREAD_GRAYSCALE)
    stored = (grey.astype(np.uint16) * 16).astype(np.uint16)
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.file_meta.MediaStorageSOPClassUID = DigitalXRayImageStorageForPresentation
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = DigitalXRayImageStorageForPresentation
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.PatientID, ds.StudyDate, ds.ViewPosition = patient_id, study_date, view
    ds.Modality, ds.BodyPartExamined = "DX", "CHEST"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    ds.PixelData = stored.tobytes()
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    ds.save_as(path, enforce_file_format=True)
    assert pydicom.dcmread(path).PatientID == patient_id
    return path


def read_csv(path: Path) -> tuple[list[str], list[dict[str, str]]]:
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle)
        return list(reader.fieldnames or []), list(reader)


def assert_valid_pdf(path: Path) -> None:
    """Starts with %PDF, ends with %%EOF, and (when poppler is installed) renders to a non-blank image."""
    data = path.read_bytes()
    assert data.startswith(b"%PDF"), "not a PDF"
    assert b"%%EOF" in data[-1024:], "PDF is truncated"
    if shutil.which("pdftoppm"):
        rendered = subprocess.run(
            ["pdftoppm", "-r", "30", "-png", "-singlefile", str(path)], check=True, capture_output=True
        ).stdout
        image = cv2.imdecode(np.frombuffer(rendered, np.uint8), cv2.IMREAD_GRAYSCALE)
        assert image is not None and image.std() > 5, "PDF renders blank"


def png_size(path: Path) -> tuple[int, int]:
    image = cv2.imdecode(np.frombuffer(path.read_bytes(), np.uint8), cv2.IMREAD_COLOR)
    assert image is not None, "PNG cannot be decoded"
    return image.shape[1], image.shape[0]
