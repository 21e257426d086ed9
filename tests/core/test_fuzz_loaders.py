"""Fuzz the loaders with mutated real files: only the project's typed errors may escape.

Seeds are a real radiograph as JPEG, PNG, 16-bit TIFF and DICOM (uncompressed, RLE and JPEG-LS);
hypothesis truncates them, flips bytes and splices in foreign bytes. A result must be a valid
display image; a failure must be a ``CxrError`` that the readers anticipated (the catch-all for
unanticipated failures logs an error, and that fails the test too). Bounded to well under 60 s.
"""

from __future__ import annotations

import io
import logging
import os
import tempfile
from pathlib import Path

import cv2
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from cxr_desktop.core.errors import CxrError
from cxr_desktop.core.radiograph import load_radiograph
from tests.core import dicom_factory as factory
from tests.core.corpus import sample_radiograph


def _seeds() -> dict[str, bytes]:
    grey = cv2.imread(str(sample_radiograph()), cv2.IMREAD_UNCHANGED)
    small = cv2.resize(grey, (96, 128), interpolation=cv2.INTER_AREA)
    stored = small.astype(np.uint16) * 16
    dicom = factory.make_dataset(stored, bits_stored=12, WindowCenter=2048, WindowWidth=4096)
    tiff = io.BytesIO()
    Image.fromarray(stored).save(tiff, "TIFF")
    return {
        "jpeg": cv2.imencode(".jpg", small)[1].tobytes(),
        "png": cv2.imencode(".png", small)[1].tobytes(),
        "tiff16": tiff.getvalue(),
        "dicom": factory.to_bytes(dicom),
        "dicom-rle": factory.to_bytes(factory.compressed(dicom, "1.2.840.10008.1.2.5")),
        "dicom-jpeg-ls": factory.to_bytes(factory.compressed(dicom, "1.2.840.10008.1.2.4.80")),
    }


SEEDS = _seeds()


@st.composite
def mutations(draw, seed: bytes) -> bytes:
    data = bytearray(seed)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "set", "truncate", "splice", "duplicate", "delete"]))
        if not data:
            break
        at = draw(st.integers(0, len(data) - 1))
        if kind == "flip":
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "set":
            data[at] = draw(st.sampled_from([0x00, 0xFF, 0x7F, 0x80, draw(st.integers(0, 255))]))
        elif kind == "truncate":
            del data[at:]
        elif kind == "splice":
            data[at:at] = draw(st.binary(min_size=1, max_size=64))
        elif kind == "duplicate":
            length = draw(st.integers(1, 256))
            data[at:at] = data[at : at + length]
        else:
            del data[at : at + draw(st.integers(1, 256))]
    return bytes(data)


FOLDER = Path(tempfile.mkdtemp(prefix="cxr-fuzz-"))


def check_one(data: bytes, suffix: str) -> None:
    logger = logging.getLogger("cxr_desktop")
    seen: list[logging.LogRecord] = []
    handler = logging.Handler(logging.ERROR)
    handler.emit = seen.append
    logger.addHandler(handler)
    path = FOLDER / f"fuzzed{suffix}"
    path.write_bytes(data)
    try:
        radiograph = load_radiograph(path)
    except CxrError as error:
        assert error.reason and "Traceback" not in error.reason
    else:
        pixels = radiograph.pixels
        assert pixels.dtype == np.float32 and pixels.ndim == 2 and min(pixels.shape) >= 32
        assert np.isfinite(pixels).all() and 0.0 <= pixels.min() and pixels.max() <= 1.0
    finally:
        logger.removeHandler(handler)
    assert not seen, f"unanticipated failure: {seen[0].getMessage()} {seen[0].exc_info}"


# Deterministic and bounded in CI; CXR_FUZZ_EXAMPLES=2000 (say) runs a longer, random hunt locally.
EXAMPLES = int(os.environ.get("CXR_FUZZ_EXAMPLES", "100"))
FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=2000,
    derandomize="CXR_FUZZ_EXAMPLES" not in os.environ,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@pytest.mark.parametrize("name", SEEDS, ids=list(SEEDS))
def test_mutated_files_give_a_radiograph_or_a_typed_error(name):
    suffix = ".dcm" if name.startswith("dicom") else f".{name[:4]}"

    @FUZZ
    @given(mutations(SEEDS[name]))
    def run(data: bytes) -> None:
        check_one(data, suffix)

    run()


@FUZZ
@given(st.binary(min_size=0, max_size=2048), st.sampled_from([".jpg", ".png", ".dcm", "", ".tif"]))
def test_arbitrary_bytes_give_a_typed_error(data, suffix):
    check_one(data, suffix)
