"""PNG / JPEG / TIFF / BMP decoding through OpenCV, with the conversions said out loud."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np

from cxr_desktop.core.errors import ImageReadError, UnsupportedImageError
from cxr_desktop.core.radiograph import MAX_PIXELS, Radiograph, to_unit_range

SUPPORTED = ("JPEG", "PNG", "TIFF", "BMP")


def read_raster(path: Path, data: bytes, digest: str, kind: str | None) -> Radiograph:
    if kind is None:
        raise ImageReadError("not an image file (unrecognised content)", path)
    if kind not in SUPPORTED:
        raise UnsupportedImageError(
            f"{kind} files are not supported; use PNG, JPEG, TIFF, BMP or DICOM", path
        )
    _check_complete(path, data, kind)
    _check_size(path, data)
    buffer = np.frombuffer(data, dtype=np.uint8)
    image = cv2.imdecode(buffer, cv2.IMREAD_UNCHANGED)
    if image is None or image.size == 0:
        raise ImageReadError(f"corrupt {kind} file: the image data cannot be decoded", path)
    original_size = (int(image.shape[1]), int(image.shape[0]))
    grey, notes = _to_grey(image)
    pixels, bit_depth, range_note = _to_display(grey)
    if range_note:
        notes.append(range_note)
    return Radiograph(
        pixels=pixels,
        path=path,
        source_format=kind,
        original_size=original_size,
        bit_depth=bit_depth,
        sha256=digest,
        notes=tuple(notes),
    )


def _check_complete(path: Path, data: bytes, kind: str) -> None:
    """Refuse truncated files: OpenCV silently fills the missing part of a JPEG with grey."""
    if kind == "JPEG" and b"\xff\xd9" not in data[-1024:]:
        raise ImageReadError("truncated JPEG: the file ends before the image data is complete", path)
    if kind == "PNG" and b"IEND" not in data[-64:]:
        raise ImageReadError("truncated PNG: the file ends before the image data is complete", path)


def _check_size(path: Path, data: bytes) -> None:
    """Read the header only, so a decompression bomb is refused before it is decoded."""
    from PIL import Image, UnidentifiedImageError
    import io

    try:
        with Image.open(io.BytesIO(data)) as header:
            width, height = header.size
    except (UnidentifiedImageError, OSError, ValueError):
        return
    except Image.DecompressionBombError:
        width, height = MAX_PIXELS, 2
    if width * height > MAX_PIXELS:
        raise UnsupportedImageError(
            f"image too large ({width} x {height} px; the limit is {MAX_PIXELS // 1_000_000} megapixels)",
            path,
        )
    if min(width, height) < 32:
        raise UnsupportedImageError(
            f"image too small ({width} x {height} px) to be a radiograph", path
        )


def _to_grey(image: np.ndarray) -> tuple[np.ndarray, list[str]]:
    notes: list[str] = []
    if image.ndim == 2:
        return image, notes
    channels = image.shape[2]
    if channels == 4:
        alpha = image[..., 3:4].astype(np.float32) / float(np.iinfo(image.dtype).max)
        if float(alpha.min()) < 1.0:
            notes.append("transparent areas shown as black (alpha channel composited)")
        else:
            notes.append("alpha channel removed")
        image = (image[..., :3].astype(np.float32) * alpha).astype(image.dtype)
    elif channels == 1:
        return image[..., 0], notes
    colour = image[..., :3]
    if np.array_equal(colour[..., 0], colour[..., 1]) and np.array_equal(colour[..., 1], colour[..., 2]):
        notes.append("RGB with identical channels read as greyscale")
        return colour[..., 0], notes
    notes.append("colour image converted to greyscale (a radiograph is normally grey)")
    return cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY), notes


def _to_display(grey: np.ndarray) -> tuple[np.ndarray, int, str]:
    """8-bit maps 0..255 to 0..1; deeper data is stretched from its stored minimum to maximum.

    A 16-bit PNG of a radiograph often holds 10- or 12-bit values; mapping by 65535 would show an
    almost black image, so the stored range is used as the initial window.
    """
    if grey.dtype == np.uint8:
        return to_unit_range(grey, 0, 255), 8, ""
    if grey.dtype in (np.uint16, np.int16, np.int32, np.uint32):
        bits = 16 if grey.dtype in (np.uint16, np.int16) else 32
    else:
        bits = 32
    lo, hi = float(grey.min()), float(grey.max())
    note = f"{bits}-bit image: stored range {lo:g} to {hi:g} mapped to the display range"
    return to_unit_range(grey, lo, hi), bits, note
