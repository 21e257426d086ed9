"""What a decoded image is: the ``Radiograph`` every other part works on, and the size limits.

This module imports nothing else of the project's loaders, so the format readers (``raster``,
``dicom``) and the loader that chooses between them (``radiograph``) all build on it without
importing each other in a circle.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

#: Larger images are refused before decoding: a real chest radiograph is at most ~4300 x 4300 px and
#: a 12000 x 12000 float image alone would need over half a gigabyte.
MAX_PIXELS = 64_000_000

#: Larger films are decoded reduced by a power of two (JPEG by libjpeg's DCT scaling, without ever
#: holding the full picture) until their longer side fits: the model reads 224 px and no screen
#: shows more, while a real chest film (at most ~4300 px) stays at full resolution for the viewer.
#: An 8000 x 8000 JPEG with heat-maps once took 4.7 GB; at 4000 x 4000 it fits in well under 1 GB.
MAX_DECODE_SIDE = 4096

#: Smaller images are refused: nothing under 32 px on a side can show lungs.
MIN_SIDE = 32


@dataclass(frozen=True)
class DicomInfo:
    """Header fields a radiologist checks before trusting a result, plus the audit identifiers."""

    patient_id: str = ""
    patient_age: str = ""
    patient_sex: str = ""
    study_date: str = ""
    study_uid: str = ""
    series_uid: str = ""
    sop_instance_uid: str = ""
    modality: str = ""
    view_position: str = ""
    body_part: str = ""
    photometric_interpretation: str = ""
    transfer_syntax: str = ""


@dataclass(frozen=True)
class Radiograph:
    """A decoded image ready for display and preprocessing.

    ``notes`` says what was done to get here (e.g. "alpha channel removed") and ``warnings`` what a
    reader should be told (e.g. "lateral view"); both end up in the CSV ``message`` and the GUI.
    """

    pixels: np.ndarray
    path: Path
    source_format: str
    original_size: tuple[int, int]
    bit_depth: int
    sha256: str
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    dicom: DicomInfo | None = None

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def reduction(width: int, height: int) -> int:
    """The power-of-two factor (1, 2, 4, 8, ...) that brings the longer side to ``MAX_DECODE_SIDE`` or less."""
    factor = 1
    while max(width, height) > factor * MAX_DECODE_SIDE:
        factor *= 2
    return factor


def reduce(array: np.ndarray, factor: int) -> np.ndarray:
    """Shrink by ``factor`` with area averaging, for formats whose decoder cannot scale as it reads."""
    if factor == 1:
        return array
    import cv2

    height, width = array.shape[:2]
    size = (max(1, -(-width // factor)), max(1, -(-height // factor)))
    native = array.dtype in (np.uint8, np.uint16, np.int16, np.float32, np.float64)
    shrunk = np.asarray(cv2.resize(array if native else array.astype(np.float64), size, interpolation=cv2.INTER_AREA))
    if shrunk.dtype != array.dtype and array.dtype.kind in "iu":
        return np.rint(shrunk).astype(array.dtype)
    return shrunk


def reduction_note(factor: int, width: int, height: int) -> str:
    return (
        f"decoded at 1/{factor} scale ({-(-width // factor)} x {-(-height // factor)} of {width} x {height} px):"
        " the model reads 224 px"
    )


def to_unit_range(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``lo`` -> 0 and ``hi`` -> 1 linearly, clipped; a flat image maps to 0, never NaN.

    ``hi < lo`` is allowed and inverts (a VOI LUT may run downwards).
    """
    span = float(hi) - float(lo)
    if span == 0 or not np.isfinite(span):
        return np.zeros(values.shape, dtype=np.float32)
    out = (values.astype(np.float32) - np.float32(lo)) / np.float32(span)
    return np.clip(out, 0.0, 1.0, out=out)
