"""numpy -> QImage conversion for display: window/level through a lookup table, never per-pixel Python.

The film's values are quantised once (``core.windowing.quantise``: exact for integer values); a
window/level change then only rebuilds a lookup table and applies it with one vectorised gather,
which keeps right-drag windowing smooth on a 3000 x 3000 image.
"""

from __future__ import annotations

import cv2
import numpy as np
from PyQt5.QtGui import QImage

from cxr_desktop.core.overlay import heatmap_alpha
from cxr_desktop.core.windowing import ModalityImage, Quantised, Window, lookup_table, quantise


class DisplayImage:
    """A film quantised for fast windowing in its own units; ``render`` returns the 8-bit grey image."""

    def __init__(self, modality: ModalityImage, quantised: Quantised | None = None) -> None:
        self.modality = modality
        self.quantised = quantised or quantise(modality)
        self.height, self.width = modality.values.shape

    def render(self, window: Window) -> np.ndarray:
        table = lookup_table(self.quantised, window, self.modality.monochrome1)
        if self.quantised.indices.dtype == np.uint8:
            return cv2.LUT(self.quantised.indices, np.pad(table, (0, 256 - table.size), mode="edge"))
        return np.take(table, self.quantised.indices)


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
