"""numpy -> QImage conversion for display: window/level through a lookup table, never per-pixel Python.

The radiograph is quantised once into integer levels (8 bits for 8-bit sources, 12 bits for deeper
ones); a window/level change then only rebuilds a small lookup table and applies it with one
vectorised gather, which keeps right-drag windowing smooth on a 3000 x 3000 image.
"""

from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np
from PyQt5.QtGui import QImage

from cxr_desktop.core.overlay import heatmap_alpha


@dataclass(frozen=True)
class Window:
    """Display window in the radiograph's [0, 1] units: ``center`` +/- ``width`` / 2 maps to black..white."""

    center: float = 0.5
    width: float = 1.0
    invert: bool = False

    def adjusted(self, d_center: float, d_width: float) -> "Window":
        return Window(
            center=float(np.clip(self.center + d_center, 0.0, 1.0)),
            width=float(np.clip(self.width + d_width, 1.0 / 255.0, 2.0)),
            invert=self.invert,
        )


class DisplayImage:
    """A radiograph quantised for fast windowing; ``render`` returns the 8-bit grey display image."""

    def __init__(self, pixels: np.ndarray, bit_depth: int) -> None:
        self.levels = 256 if bit_depth <= 8 else 4096
        scaled = np.clip(pixels, 0.0, 1.0) * (self.levels - 1) + 0.5
        self.indices = scaled.astype(np.uint8 if self.levels == 256 else np.uint16)
        self.height, self.width = self.indices.shape

    def lookup_table(self, window: Window) -> np.ndarray:
        values = np.linspace(0.0, 1.0, self.levels, dtype=np.float32)
        low = window.center - window.width / 2.0
        table = np.clip((values - low) / max(window.width, 1e-6), 0.0, 1.0)
        if window.invert:
            table = 1.0 - table
        return np.round(table * 255.0).astype(np.uint8)

    def render(self, window: Window) -> np.ndarray:
        table = self.lookup_table(window)
        if self.levels == 256:
            return cv2.LUT(self.indices, table)
        return np.take(table, self.indices)


def grey_to_qimage(grey: np.ndarray) -> QImage:
    """(H, W) uint8 -> an owning QImage (copied, so the numpy buffer may be freed)."""
    grey = np.ascontiguousarray(grey, dtype=np.uint8)
    height, width = grey.shape
    return QImage(grey.data, width, height, grey.strides[0], QImage.Format_Grayscale8).copy()


def rgb_to_qimage(rgb: np.ndarray) -> QImage:
    """(H, W, 3) uint8 RGB -> an owning QImage."""
    rgb = np.ascontiguousarray(rgb, dtype=np.uint8)
    height, width, _ = rgb.shape
    return QImage(rgb.data, width, height, rgb.strides[0], QImage.Format_RGB888).copy()


def rgba_to_qimage(rgba: np.ndarray) -> QImage:
    """(H, W, 4) uint8 straight-alpha RGBA -> an owning QImage."""
    rgba = np.ascontiguousarray(rgba, dtype=np.uint8)
    height, width, _ = rgba.shape
    return QImage(rgba.data, width, height, rgba.strides[0], QImage.Format_RGBA8888).copy()


def heatmap_rgba(heatmap: np.ndarray, colours: np.ndarray, floor: float = 0.2) -> np.ndarray:
    """Colour a [0, 1] heat map with the alpha ramp of ``core.overlay.render_overlay``.

    The overall opacity is applied by the view, so moving the slider costs no recomputation.
    """
    alpha = heatmap_alpha(heatmap, floor)
    rgba = np.empty((*heatmap.shape, 4), dtype=np.uint8)
    rgba[..., :3] = colours
    rgba[..., 3] = np.round(alpha * 255.0).astype(np.uint8)
    return rgba


def thumbnail(pixels: np.ndarray, height: int = 48) -> np.ndarray:
    """A small 8-bit grey thumbnail for the batch table, made off the GUI thread."""
    scale = height / max(pixels.shape[0], 1)
    width = max(1, int(round(pixels.shape[1] * scale)))
    small = cv2.resize(pixels.astype(np.float32, copy=False), (width, height), interpolation=cv2.INTER_AREA)
    return np.round(np.clip(small, 0.0, 1.0) * 255.0).astype(np.uint8)
