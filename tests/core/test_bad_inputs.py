"""Bad input never crashes: every corpus entry is a radiograph or a typed error naming the reason."""

from __future__ import annotations

import atexit
import dataclasses
import logging
import resource
import shutil
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest

from cxr_desktop.core import radiograph as radiograph_module
from cxr_desktop.core.errors import CxrError, ImageReadError
from cxr_desktop.core.image import Radiograph
from cxr_desktop.core.radiograph import FORMATS, MAX_FILE_BYTES, load_radiograph
from tests.core.corpus import CorpusItem, build_corpus

# Built once at collection so each entry is its own test case; removed when the session ends.
_FOLDER = Path(tempfile.mkdtemp(prefix="cxr-corpus-"))
atexit.register(shutil.rmtree, _FOLDER, ignore_errors=True)
CORPUS = build_corpus(_FOLDER / "corpus")


def assert_valid(radiograph: Radiograph) -> None:
    pixels = radiograph.pixels
    assert pixels.dtype == np.float32 and pixels.ndim == 2
    assert min(pixels.shape) >= 32
    assert np.isfinite(pixels).all()
    assert 0.0 <= float(pixels.min()) and float(pixels.max()) <= 1.0


def test_corpus_covers_the_troublesome_kinds():
    names = {item.name for item in CORPUS}
    assert len(CORPUS) >= 30
    assert sum(item.expected == "error" for item in CORPUS) >= 30
    for required in (
        "empty.jpg",
        "text_renamed.jpg",
        "truncated.jpg",
        "truncated.png",
        "one_pixel.png",
        "huge_12000x12000.png",
        "grey16.png",
        "grey16.tif",
        "rgba.png",
        "cmyk.jpg",
        "animation.gif",
        "image.webp",
        "drawing.svg",
        "report.pdf",
        "archive_renamed.png",
        ".hidden.jpg",
        "unreadable.jpg",
        "loop_a.jpg",
        "folder_named_like_image.jpg",
        "dicom/no_pixel_data.dcm",
        "dicom/pydicom_test-SR.dcm",
        "dicom/pydicom_rtplan.dcm",
        "dicom/multi_frame_cr.dcm",
        "dicom/rgb_dx.dcm",
        "dicom/truncated_pixels.dcm",
        "dicom/pydicom_badVR.dcm",
        "dicom/pydicom_no_meta.dcm",
        "dicom/pydicom_DICOMDIR",
    ):
        assert required in names


@pytest.mark.parametrize("item", CORPUS, ids=[item.name for item in CORPUS])
def test_corpus_entry_is_a_radiograph_or_a_typed_error(item: CorpusItem, caplog):
    caplog.set_level(logging.ERROR)
    if item.expected == "ok":
        assert_valid(load_radiograph(item.path))
    else:
        with pytest.raises(CxrError) as caught:
            load_radiograph(item.path)
        assert item.reason in caught.value.reason
        assert str(caught.value).startswith(f"{item.path.name}: ")
        assert "Traceback" not in str(caught.value)
    assert not [r for r in caplog.records if r.name.startswith("cxr_desktop")], "an unexpected failure was logged"


def test_huge_image_is_refused_from_its_header_without_decoding():
    item = next(item for item in CORPUS if item.name == "huge_12000x12000.png")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    started = time.perf_counter()
    with pytest.raises(CxrError, match="too large"):
        load_radiograph(item.path)
    elapsed = time.perf_counter() - started
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert elapsed < 0.5
    assert peak < 20 * 2**20
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss_before < 100 * 1024  # KiB on Linux


def test_oversized_file_is_refused_without_reading_it(tmp_path):
    path = tmp_path / "disk_image.dcm"
    with open(path, "wb") as handle:
        handle.truncate(MAX_FILE_BYTES + 1)  # sparse: no disk space, no memory
    started = time.perf_counter()
    with pytest.raises(ImageReadError, match="file too large"):
        load_radiograph(path)
    assert time.perf_counter() - started < 0.5


def test_permission_denied_is_reported_even_when_running_as_root(monkeypatch, sample_images):
    """chmod 000 does not stop root, so the denial the OS would give a normal user is simulated."""

    def denied(*_args, **_kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(radiograph_module, "open", denied, raising=False)
    with pytest.raises(ImageReadError, match="permission denied"):
        load_radiograph(sample_images[0])


def test_missing_file_is_reported(tmp_path):
    with pytest.raises(ImageReadError, match="file not found"):
        load_radiograph(tmp_path / "gone.jpg")


@pytest.mark.parametrize(
    "failure",
    [RuntimeError("decoder bug"), KeyError("x"), MemoryError()],
    ids=["RuntimeError", "KeyError", "MemoryError"],
)
def test_an_unanticipated_failure_still_becomes_a_typed_error(monkeypatch, sample_images, caplog, failure):
    def broken(*_args):
        raise failure

    monkeypatch.setattr(
        radiograph_module,
        "FORMATS",
        tuple(dataclasses.replace(entry, reader=broken) if entry.reader is not None else entry for entry in FORMATS),
    )
    with pytest.raises(ImageReadError) as caught:
        load_radiograph(sample_images[0])
    if isinstance(failure, MemoryError):
        assert "not enough memory" in caught.value.reason
    else:
        assert f"unexpected error while reading ({type(failure).__name__})" == caught.value.reason
        assert any(record.exc_info for record in caplog.records), "the bug must be logged with its traceback"
