"""The one table of formats: what counts as an image is decided once, for the app and the trainer."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np

from cxr_desktop.core.radiograph import IMAGE_SUFFIXES, is_image, load_radiograph
from tests.core import dicom_factory
from trainer.data import scan_dataset


def _dicom(path: Path, **kwargs) -> Path:
    stored = (np.arange(64 * 64, dtype=np.uint16).reshape(64, 64) % 4096).astype(np.uint16)
    return dicom_factory.write(dicom_factory.make_dataset(stored, bits_stored=12), path, **kwargs)


def test_is_image_follows_the_loader(tmp_path, sample_images):
    jpeg = shutil.copy(sample_images[0], tmp_path / "film.jpg")
    renamed = shutil.copy(sample_images[0], tmp_path / "film.bin")
    dicom = _dicom(tmp_path / "film.dicom")
    bare = _dicom(tmp_path / "IM0001")
    raw = _dicom(tmp_path / "IM0002", with_file_meta=False)
    text = tmp_path / "notes.txt"
    text.write_text("not an image")
    for path in (jpeg, renamed, dicom, bare, raw):
        assert is_image(path), path
        load_radiograph(path)
    assert not is_image(text)
    assert not is_image(tmp_path)
    assert not is_image(tmp_path / "missing.png")


def test_the_readable_suffixes_come_from_the_table():
    assert {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp", ".dcm", ".dicom"} == set(IMAGE_SUFFIXES)


def test_the_trainer_reads_what_the_app_reads(tmp_path, sample_images):
    """Before the shared table the trainer skipped .dicom and extension-less DICOM files."""
    for label in ("covid", "normal"):
        (tmp_path / label).mkdir()
    shutil.copy(sample_images[0], tmp_path / "covid" / "a.jpg")
    _dicom(tmp_path / "covid" / "b.dicom")
    _dicom(tmp_path / "normal" / "IM0001")
    (tmp_path / "normal" / "README").write_text("listing of the folder")
    samples = scan_dataset(tmp_path, ["covid", "normal"])
    assert sorted(s.path.name for s in samples) == ["IM0001", "a.jpg", "b.dicom"]
