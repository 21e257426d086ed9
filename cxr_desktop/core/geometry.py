"""Distances on a film in millimetres, and which header tag the pixel size came from.

Pixel Spacing (0028,0030) is the size at the patient when the modality calibrated it; Imager
Pixel Spacing (0018,1164) is the size at the detector, which magnifies the patient by roughly
10-20% on a chest film. A reader must know which one a ruler used, and that a plain PNG or JPEG
has neither (the ruler then measures pixels only).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

SPACING_TAGS = (
    ("PixelSpacing", "Pixel Spacing (0028,0030), at the patient"),
    ("ImagerPixelSpacing", "Imager Pixel Spacing (0018,1164), at the detector: not corrected for magnification"),
)
NO_SPACING = "no Pixel Spacing or Imager Pixel Spacing in the file: distances in pixels only"


@dataclass(frozen=True)
class PixelSpacing:
    """Millimetres per pixel between rows and between columns, and the tag they were read from."""

    row_mm: float
    column_mm: float
    source: str


def spacing_of(ds: Any) -> PixelSpacing | None:
    """The first usable spacing tag of a DICOM data set (None for anything without one)."""
    if ds is None:
        return None
    for keyword, description in SPACING_TAGS:
        try:
            row_mm, column_mm = (float(v) for v in ds.get(keyword) or ())
        except (TypeError, ValueError):
            continue
        if row_mm > 0 and column_mm > 0 and math.isfinite(row_mm) and math.isfinite(column_mm):
            return PixelSpacing(row_mm, column_mm, description)
    return None


def distance_pixels(start: tuple[float, float], end: tuple[float, float]) -> float:
    """Euclidean distance between two (x, y) image positions in pixels."""
    return math.hypot(end[0] - start[0], end[1] - start[1])


def distance_mm(start: tuple[float, float], end: tuple[float, float], spacing: PixelSpacing) -> float:
    """Distance between two (x, y) image positions; x runs along columns, y along rows."""
    return math.hypot((end[0] - start[0]) * spacing.column_mm, (end[1] - start[1]) * spacing.row_mm)


def ruler_label(start: tuple[float, float], end: tuple[float, float], spacing: PixelSpacing | None) -> str:
    """What the ruler says on the film: millimetres when the file gives a pixel size, else pixels."""
    if spacing is None:
        return f"{distance_pixels(start, end):.0f} px (no pixel spacing)"
    return f"{distance_mm(start, end, spacing):.1f} mm"
