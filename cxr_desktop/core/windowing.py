"""Window/level in the image's own units: stored or modality values for DICOM, pixel values otherwise.

A reader sets a window as "centre 2048, width 4096" in the numbers the file holds, as in every
PACS viewer, not as a percentage of an already windowed image. ``ModalityImage`` keeps those values
(the DICOM Modality LUT applied, the VOI not yet) with the file's own window; a window change then
only rebuilds a lookup table over the quantised values.

Radiographs have no calibrated scale such as Hounsfield units, so the lung, mediastinum and bone
presets are set from this film's own histogram (brightness percentiles), not from fixed numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np

from cxr_desktop.core.image import Radiograph

#: Levels used when the values are not integers (a fractional rescale slope).
FLOAT_LEVELS = 4096
MAX_LEVELS = 65536

#: Brightness percentiles (0 = darkest on screen) of each histogram preset.
PRESET_PERCENTILES = {
    "Lung": (1.0, 65.0),
    "Mediastinum": (35.0, 99.5),
    "Bone": (65.0, 99.9),
}
#: The histogram presets look at about this many pixels (an even grid over the film).
PRESET_SAMPLES = 250_000
FILE_PRESET = "File (VOI)"
FULL_PRESET = "Full range"


@dataclass(frozen=True)
class Window:
    """A display window in the image's units; ``center`` +/- ``width`` / 2 spans black to white."""

    center: float
    width: float
    invert: bool = False

    @property
    def low(self) -> float:
        return self.center - self.width / 2.0

    @property
    def high(self) -> float:
        return self.center + self.width / 2.0

    def moved(self, d_center: float, d_width: float, minimum_width: float) -> Window:
        return replace(self, center=self.center + d_center, width=max(self.width + d_width, minimum_width))


@dataclass(frozen=True)
class ModalityImage:
    """The values a window is set in, with the file's own window and polarity.

    ``monochrome1``: higher values are darker (MONOCHROME1 or Presentation LUT Shape INVERSE), so
    the display is inverted before any inversion the reader asks for.
    """

    values: np.ndarray
    units: str
    file_window: Window | None = None
    monochrome1: bool = False

    @cached_property
    def low(self) -> float:
        return float(self.values.min())

    @cached_property
    def high(self) -> float:
        return float(self.values.max())

    @cached_property
    def integral(self) -> bool:
        """Whole-number values (no fractional rescale): windows are then set in whole units."""
        return bool(np.all(np.mod(self.values[::7, ::7], 1.0) == 0))

    @property
    def span(self) -> float:
        return max(self.high - self.low, 1e-6)

    @cached_property
    def presets(self) -> dict[str, Window]:
        """This film's named windows (``presets``), computed once: the percentiles take tens of ms
        on a large film, so ``film_details`` computes them off the GUI thread."""
        return presets(self)

    def full_window(self) -> Window:
        """Lowest value black, highest white (for integers exactly, under the DICOM linear function)."""
        return Window(center=(self.low + self.high + 1.0) / 2.0, width=self.span + 1.0)

    def default_window(self) -> Window:
        return self.file_window or self.full_window()

    def value_at(self, x: int, y: int) -> float | None:
        height, width = self.values.shape
        if 0 <= x < width and 0 <= y < height:
            return float(self.values[y, x])
        return None


def from_pixels(pixels: np.ndarray, bit_depth: int) -> ModalityImage:
    """Display pixels in [0, 1] as the file's pixel values (0..255 for 8-bit, 0..65535 for 16-bit)."""
    top = float(2 ** min(max(bit_depth, 1), 16) - 1)
    values = np.rint(np.clip(pixels, 0.0, 1.0) * top).astype(np.float32)
    return ModalityImage(values=values, units="pixel value")


def from_radiograph(radiograph: Radiograph) -> ModalityImage:
    """A raster file's pixel values, full range by default."""
    return from_pixels(radiograph.pixels, radiograph.bit_depth)


def from_dataset(ds: Any) -> ModalityImage:
    """A DICOM data set's modality values (Modality LUT applied) and its first VOI window."""
    from pydicom.pixels.processing import apply_modality_lut

    values = np.asarray(apply_modality_lut(ds.pixel_array, ds), dtype=np.float32)
    rescaled = "RescaleSlope" in ds or "RescaleIntercept" in ds or "ModalityLUTSequence" in ds
    units = str(ds.get("RescaleType", "") or "") or ("modality value" if rescaled else "stored value")
    photometric = str(ds.get("PhotometricInterpretation", "")).upper()
    inverse = str(ds.get("PresentationLUTShape", "")).upper() == "INVERSE"
    return ModalityImage(
        values=values,
        units=units,
        file_window=_file_window(ds),
        monochrome1=photometric == "MONOCHROME1" or inverse,
    )


def _first(value: Any) -> float:
    try:
        return float(value[0])
    except TypeError:
        return float(value)


def _file_window(ds: Any) -> Window | None:
    """The header's first window; a VOI LUT Sequence becomes the window spanning its ramp."""
    sequence = ds.get("VOILUTSequence")
    if sequence and sequence[0].get("LUTDescriptor") is not None and sequence[0].get("LUTData") is not None:
        item = sequence[0]
        first = float(item.LUTDescriptor[1])
        data = np.asarray(item.LUTData, dtype=np.float64)
        rising = np.flatnonzero(np.diff(data) != 0)
        if rising.size:
            low, high = first + rising[0], first + rising[-1] + 1
            return Window(center=(low + high) / 2.0, width=max(high - low, 1.0))
    try:
        center, width = _first(ds.WindowCenter), _first(ds.WindowWidth)
    except (AttributeError, TypeError, ValueError, IndexError):
        return None
    return Window(center=center, width=width) if width >= 1 else None


def presets(image: ModalityImage) -> dict[str, Window]:
    """Named windows for this film: the file's VOI (when it has one), full range, then histogram presets."""
    found: dict[str, Window] = {}
    if image.file_window is not None:
        found[FILE_PRESET] = image.file_window
    found[FULL_PRESET] = image.full_window()
    stride = max(1, int(np.sqrt(image.values.size / PRESET_SAMPLES)))
    sample = image.values[::stride, ::stride].ravel()
    brightness = -sample if image.monochrome1 else sample
    bounds = np.percentile(brightness, [q for pair in PRESET_PERCENTILES.values() for q in pair])
    for index, name in enumerate(PRESET_PERCENTILES):
        dark, bright = float(bounds[2 * index]), float(bounds[2 * index + 1])
        if image.monochrome1:
            dark, bright = -bright, -dark
        center, width = (dark + bright) / 2.0, max(bright - dark, 1.0)
        if image.integral:
            center, width = float(round(center)), float(round(width))
        found[name] = Window(center=center, width=width)
    return found


@dataclass(frozen=True)
class Quantised:
    """Values as lookup indices: ``indices`` into ``levels`` equally spaced values from ``low``."""

    indices: np.ndarray
    low: float
    step: float
    levels: int


def quantise(image: ModalityImage) -> Quantised:
    """Integer values with a span under 65536 map one-to-one onto levels (exact); others onto 4096."""
    low, high = image.low, image.high
    if image.integral and high - low < MAX_LEVELS:
        levels = max(int(high - low) + 1, 2)
        dtype = np.uint8 if levels <= 256 else np.uint16
        return Quantised(indices=(image.values - low).astype(dtype), low=low, step=1.0, levels=levels)
    step = max(high - low, 1e-6) / (FLOAT_LEVELS - 1)
    indices = np.rint((image.values - low) / step).astype(np.uint16)
    return Quantised(indices=indices, low=low, step=step, levels=FLOAT_LEVELS)


def lookup_table(quantised: Quantised, window: Window, monochrome1: bool = False) -> np.ndarray:
    """Grey level (uint8) per quantised value under ``window``, with the DICOM linear VOI function
    (PS3.3 C.11.2.1.2: ``(x - (c - 0.5)) / (w - 1) + 0.5``) so the file's own window reproduces
    the decoder's rendering."""
    values = quantised.low + quantised.step * np.arange(quantised.levels, dtype=np.float64)
    width = max(window.width, 1.0 + 1e-6)
    table = np.clip((values - (window.center - 0.5)) / (width - 1.0) + 0.5, 0.0, 1.0)
    if monochrome1 != window.invert:
        table = 1.0 - table
    return np.asarray(np.round(table * 255.0), dtype=np.uint8)
