"""Raster loading on real radiographs: every conversion keeps the image and says what it did.

Each real cxr3 JPEG is decoded once (the reference), rewritten in another container / depth /
colour model, and loaded again; the rendered pixels must match the reference after the same display
mapping (exactly, or within the stated tolerance where the writer is lossy).
"""

from __future__ import annotations

import csv
import hashlib
import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pytest
from PIL import Image, ImageOps

from cxr_desktop.core.radiograph import load_radiograph, sniff_format
from tests.core.corpus import encode, pillow

EIGHT_BIT = 1 / 255


def pick_radiographs(cxr3: Path, per_class: int = 1) -> list[Path]:
    """The first files of each class in manifest order, plus the largest original (deterministic)."""
    with open(cxr3 / "manifest.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    chosen: list[str] = []
    for label in ("covid", "pneumonia", "normal"):
        chosen += [row["file"] for row in rows if row["label"] == label][:per_class]
    largest = max(rows, key=lambda row: int(row["orig_width"]) * int(row["orig_height"]))["file"]
    return [cxr3 / name for name in dict.fromkeys([*chosen, largest])]


@pytest.fixture(scope="module")
def real_greys(cxr3) -> list[np.ndarray]:
    return [cv2.imread(str(path), cv2.IMREAD_UNCHANGED) for path in pick_radiographs(cxr3)]


def stretch(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64)
    return (values - values.min()) / (values.max() - values.min())


def rgba_with_transparent_margin(grey: np.ndarray) -> np.ndarray:
    rgba = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGRA)
    rgba[:, :10, 3] = 0
    return rgba


def expected_with_black_margin(grey: np.ndarray) -> np.ndarray:
    out = grey / 255.0
    out[:, :10] = 0
    return out


@dataclass(frozen=True)
class Flavour:
    name: str
    suffix: str
    write: Callable[[np.ndarray], bytes]
    expected: Callable[[np.ndarray], np.ndarray]
    bit_depth: int
    note: str = ""
    max_error: float = 1e-6
    mean_error: float = 1e-6


FLAVOURS = [
    Flavour("png-8", ".png", lambda g: encode(g, ".png"), lambda g: g / 255, 8),
    Flavour("bmp-8", ".bmp", lambda g: encode(g, ".bmp"), lambda g: g / 255, 8),
    Flavour("tiff-8", ".tif", lambda g: encode(g, ".tif"), lambda g: g / 255, 8),
    Flavour(
        "png-16-full-range",
        ".png",
        lambda g: encode(g.astype(np.uint16) * 257, ".png"),
        stretch,
        16,
        "16-bit image: stored range",
    ),
    Flavour(
        "png-16-holding-12-bit",
        ".png",
        lambda g: encode(g.astype(np.uint16) * 16, ".png"),
        stretch,
        16,
        "16-bit image: stored range",
    ),
    Flavour(
        "tiff-16",
        ".tif",
        lambda g: pillow(Image.fromarray(g.astype(np.uint16) * 16), "TIFF"),
        stretch,
        16,
        "16-bit image",
    ),
    Flavour(
        "tiff-16-lzw",
        ".tif",
        lambda g: pillow(Image.fromarray(g.astype(np.uint16) * 16), "TIFF", compression="tiff_lzw"),
        stretch,
        16,
        "16-bit image",
    ),
    Flavour(
        "tiff-32-int",
        ".tif",
        lambda g: pillow(Image.fromarray(g.astype(np.int32) * 1000), "TIFF"),
        stretch,
        32,
        "32-bit image",
    ),
    Flavour(
        "tiff-32-float",
        ".tif",
        lambda g: pillow(Image.fromarray(g.astype(np.float32) / 255), "TIFF"),
        stretch,
        32,
        "32-bit image",
    ),
    Flavour(
        "png-rgb-grey-content",
        ".png",
        lambda g: encode(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR), ".png"),
        lambda g: g / 255,
        8,
        "identical channels",
    ),
    Flavour(
        "png-rgb-16",
        ".png",
        lambda g: encode(cv2.cvtColor(g.astype(np.uint16) * 257, cv2.COLOR_GRAY2BGR), ".png"),
        stretch,
        16,
        "identical channels",
    ),
    Flavour(
        "png-rgba-opaque",
        ".png",
        lambda g: encode(cv2.cvtColor(g, cv2.COLOR_GRAY2BGRA), ".png"),
        lambda g: g / 255,
        8,
        "alpha channel removed",
    ),
    Flavour(
        "png-rgba-transparent-margin",
        ".png",
        lambda g: encode(rgba_with_transparent_margin(g), ".png"),
        expected_with_black_margin,
        8,
        "transparent areas shown as black",
    ),
    Flavour(
        "png-grey-alpha",
        ".png",
        lambda g: pillow(Image.fromarray(g).convert("LA"), "PNG"),
        lambda g: g / 255,
        8,
        "alpha channel removed",
    ),
    Flavour(
        "png-palette",
        ".png",
        lambda g: pillow(Image.fromarray(g).convert("P"), "PNG"),
        lambda g: g / 255,
        8,
        "palette colours expanded",
    ),
    Flavour(
        "png-bilevel",
        ".png",
        lambda g: pillow(Image.fromarray(g).convert("1"), "PNG"),
        lambda g: np.asarray(Image.fromarray(g).convert("1"), dtype=np.float64),
        8,
    ),
    Flavour(
        "tiff-cmyk",
        ".tif",
        lambda g: pillow(Image.fromarray(g).convert("CMYK"), "TIFF"),
        lambda g: g / 255,
        8,
        "CMYK image converted",
    ),
    Flavour(
        "jpeg-cmyk",
        ".jpg",
        lambda g: pillow(Image.fromarray(g).convert("CMYK"), "JPEG", quality=95),
        lambda g: g / 255,
        8,
        "CMYK image converted",
        max_error=16 * EIGHT_BIT,
        mean_error=1.5 * EIGHT_BIT,
    ),
    Flavour(
        "jpeg-rgb",
        ".jpg",
        lambda g: encode(cv2.cvtColor(g, cv2.COLOR_GRAY2BGR), ".jpg", cv2.IMWRITE_JPEG_QUALITY, 95),
        lambda g: g / 255,
        8,
        "",
        max_error=16 * EIGHT_BIT,
        mean_error=1.5 * EIGHT_BIT,
    ),
    Flavour(
        "tiff-multi-page",
        ".tif",
        lambda g: pillow(Image.fromarray(g), "TIFF", save_all=True, append_images=[Image.fromarray(255 - g)]),
        lambda g: g / 255,
        8,
        "first of 2 pages read",
    ),
]


@pytest.mark.parametrize("flavour", FLAVOURS, ids=[f.name for f in FLAVOURS])
def test_conversion_renders_the_source_radiograph(flavour: Flavour, real_greys, tmp_path):
    for index, grey in enumerate(real_greys):
        data = flavour.write(grey)
        path = tmp_path / f"{index}{flavour.suffix}"
        path.write_bytes(data)
        radiograph = load_radiograph(path)
        expected = flavour.expected(grey)
        error = np.abs(radiograph.pixels.astype(np.float64) - expected)
        assert radiograph.pixels.dtype == np.float32
        assert radiograph.pixels.shape == grey.shape
        assert float(error.max()) <= flavour.max_error, f"{path.name}: max error {error.max():.4f}"
        assert float(error.mean()) <= flavour.mean_error, f"{path.name}: mean error {error.mean():.4f}"
        assert radiograph.bit_depth == flavour.bit_depth
        assert radiograph.original_size == (grey.shape[1], grey.shape[0])
        assert radiograph.sha256 == hashlib.sha256(data).hexdigest()
        if flavour.note:
            assert any(flavour.note in note for note in radiograph.notes), radiograph.notes


def test_real_jpeg_is_read_exactly_and_says_nothing(cxr3):
    for path in pick_radiographs(cxr3):
        radiograph = load_radiograph(path)
        grey = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        assert np.array_equal(radiograph.pixels, (grey / np.float32(255)).astype(np.float32))
        assert radiograph.source_format == "JPEG" and radiograph.bit_depth == 8
        assert radiograph.notes == () and radiograph.warnings == ()
        assert radiograph.dicom is None


@pytest.mark.parametrize("orientation", range(1, 9))
def test_exif_orientation_is_applied(orientation, real_greys, tmp_path):
    grey = real_greys[0]
    exif = Image.Exif()
    exif[0x0112] = orientation
    data = pillow(Image.fromarray(grey), "JPEG", quality=95, exif=exif)
    path = tmp_path / "phone.jpg"
    path.write_bytes(data)
    radiograph = load_radiograph(path)
    upright = np.asarray(ImageOps.exif_transpose(Image.open(io.BytesIO(data))), dtype=np.float64) / 255
    assert radiograph.pixels.shape == upright.shape
    assert float(np.abs(radiograph.pixels - upright).max()) <= 2 * EIGHT_BIT
    assert any("EXIF orientation" in note for note in radiograph.notes) == (orientation != 1)


def test_colour_content_is_warned_about(real_greys, tmp_path):
    path = tmp_path / "false_colour.png"
    path.write_bytes(encode(cv2.applyColorMap(real_greys[0], cv2.COLORMAP_JET), ".png"))
    radiograph = load_radiograph(path)
    assert any("colour content" in warning for warning in radiograph.warnings)


def test_float_tiff_with_missing_values_stays_finite(real_greys, tmp_path):
    values = real_greys[0].astype(np.float32)
    values[:5] = np.nan
    values[5:8] = np.inf
    path = tmp_path / "float.tif"
    path.write_bytes(pillow(Image.fromarray(values), "TIFF"))
    radiograph = load_radiograph(path)
    assert np.isfinite(radiograph.pixels).all()
    assert float(radiograph.pixels[:8].max()) == 0.0
    assert any("NaN or infinite" in note for note in radiograph.notes)


def test_blank_image_is_warned_about_not_divided_by_zero(tmp_path):
    path = tmp_path / "blank16.png"
    path.write_bytes(encode(np.full((64, 64), 1000, np.uint16), ".png"))
    radiograph = load_radiograph(path)
    assert np.isfinite(radiograph.pixels).all()
    assert any("blank" in warning for warning in radiograph.warnings)


@pytest.mark.parametrize(
    ("head", "kind"),
    [
        (b"\xff\xd8\xff\xe0", "JPEG"),
        (b"\x89PNG\r\n\x1a\n", "PNG"),
        (b"II*\x00", "TIFF"),
        (b"MM\x00*", "TIFF"),
        (b"BM\x00\x00", "BMP"),
        (b"GIF89a", "GIF"),
        (b"%PDF-1.4", "PDF"),
        (b"PK\x03\x04", "ZIP"),
        (b"RIFF\x00\x00\x00\x00WEBPVP8 ", "WebP"),
        (b"\x00\x00\x00\x0cjP  \r\n", "JPEG 2000"),
        (b"\xff\x4f\xff\x51", "JPEG 2000"),
        (b"<?xml version='1.0'?><svg>", "SVG"),
        (b"\x00" * 128 + b"DICM", "DICOM"),
        (b"\x08\x00\x05\x00CS\x0a\x00ISO_IR 100", "DICOM"),
        (b"\x08\x00\x16\x00\x1a\x00\x00\x001.2.840", "DICOM"),
        (b"Patient list\n", None),
        (b"\x08\x00", None),
    ],
)
def test_sniff_format_trusts_content_not_the_name(head, kind):
    assert sniff_format(head) == kind
