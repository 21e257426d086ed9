"""Decompression bombs are refused by their declared size, and very large films are decoded reduced.

A 27 KB JPEG that declares 8000 x 8000 pixels once took 4.7 GB with heat-maps on. The declared size
(JPEG/PNG/TIFF header, DICOM Rows x Columns) above ``image.MAX_PIXELS`` is refused before a pixel is
decoded; a film whose longer side is over ``image.MAX_DECODE_SIDE`` is decoded at 1/2, 1/4, ...
scale (a JPEG by libjpeg's DCT scaling, without ever holding the full picture).
"""

from __future__ import annotations

import io
import resource
import struct
import zlib

import cv2
import numpy as np
import pytest
from PIL import Image

from cxr_desktop.core.errors import UnsupportedImageError
from cxr_desktop.core.image import MAX_DECODE_SIDE, MAX_PIXELS
from cxr_desktop.core.radiograph import load_radiograph
from tests.core.dicom_factory import make_dataset, to_bytes

HUGE = 20_000  # 400 megapixels declared


@pytest.fixture(scope="module")
def grey(sample_images) -> np.ndarray:
    return cv2.imread(str(sample_images[0]), cv2.IMREAD_GRAYSCALE)


def _jpeg_declaring(grey: np.ndarray, side: int) -> bytes:
    data = bytearray(cv2.imencode(".jpg", grey)[1].tobytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5 : sof + 9] = struct.pack(">HH", side, side)
    return bytes(data)


def _png_declaring(grey: np.ndarray, side: int) -> bytes:
    data = bytearray(cv2.imencode(".png", grey)[1].tobytes())
    data[16:24] = struct.pack(">II", side, side)
    data[29:33] = struct.pack(">I", zlib.crc32(bytes(data[12:29])))
    return bytes(data)


def _tiff_declaring(grey: np.ndarray, side: int) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(grey).save(buffer, format="TIFF")
    data = bytearray(buffer.getvalue())
    ifd = struct.unpack_from("<I", data, 4)[0]
    for entry in range(struct.unpack_from("<H", data, ifd)[0]):
        at = ifd + 2 + 12 * entry
        tag, kind = struct.unpack_from("<HH", data, at)
        if tag in (256, 257):
            struct.pack_into("<H" if kind == 3 else "<I", data, at + 8, side)
    return bytes(data)


def _dicom_declaring(grey: np.ndarray, side: int) -> bytes:
    ds = make_dataset(grey.astype(np.uint16) * 16, bits_stored=12)
    ds.Rows = ds.Columns = side
    return to_bytes(ds)


@pytest.mark.parametrize(
    "suffix,build",
    [(".jpg", _jpeg_declaring), (".png", _png_declaring), (".tif", _tiff_declaring), (".dcm", _dicom_declaring)],
)
def test_a_bomb_is_refused_by_its_declared_size_before_decoding(grey, tmp_path, suffix, build):
    assert HUGE * HUGE > MAX_PIXELS
    path = tmp_path / f"bomb{suffix}"
    path.write_bytes(build(grey, HUGE))
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    with pytest.raises(UnsupportedImageError, match="image too large"):
        load_radiograph(path)
    grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
    assert grown_mb < 100, f"peak memory grew by {grown_mb:.0f} MB"


def test_an_8000_px_jpeg_is_decoded_at_half_scale_with_the_reason(grey, tmp_path):
    big = cv2.resize(grey, (8000, 6000))
    path = tmp_path / "big.jpg"
    cv2.imwrite(str(path), big, [cv2.IMWRITE_JPEG_QUALITY, 90])
    radiograph = load_radiograph(path)
    assert radiograph.pixels.shape == (3000, 4000) and max(radiograph.pixels.shape) <= MAX_DECODE_SIDE
    assert radiograph.original_size == (8000, 6000)
    assert any("decoded at 1/2 scale" in note for note in radiograph.notes)
    reference = cv2.resize(big, (4000, 3000), interpolation=cv2.INTER_AREA).astype(np.float32) / 255
    assert float(np.abs(radiograph.pixels - reference).mean()) < 0.01


def test_a_large_16_bit_png_is_reduced_and_keeps_its_depth(grey, tmp_path):
    big = cv2.resize(grey, (9000, 5000)).astype(np.uint16) * 257
    path = tmp_path / "big16.png"
    cv2.imwrite(str(path), big)
    radiograph = load_radiograph(path)
    assert radiograph.pixels.shape == (1250, 2250) and radiograph.bit_depth == 16
    assert any("decoded at 1/4 scale" in note for note in radiograph.notes)


def test_films_up_to_the_limit_keep_full_resolution(grey, tmp_path):
    path = tmp_path / "dr.jpg"
    cv2.imwrite(str(path), cv2.resize(grey, (MAX_DECODE_SIDE, 3000)))
    radiograph = load_radiograph(path)
    assert radiograph.pixels.shape == (3000, MAX_DECODE_SIDE)
    assert not any("scale" in note for note in radiograph.notes)
