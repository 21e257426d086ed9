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


def to_unit_range(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``lo`` -> 0 and ``hi`` -> 1 linearly, clipped; a flat image maps to 0, never NaN.

    ``hi < lo`` is allowed and inverts (a VOI LUT may run downwards).
    """
    span = float(hi) - float(lo)
    if span == 0 or not np.isfinite(span):
        return np.zeros(values.shape, dtype=np.float32)
    out = (values.astype(np.float32) - np.float32(lo)) / np.float32(span)
    return np.clip(out, 0.0, 1.0, out=out)
