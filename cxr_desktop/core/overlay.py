"""Heat-map geometry and overlay rendering, kept apart from how the heat-map is computed."""

from __future__ import annotations

import cv2
import numpy as np

#: Colormaps offered to users. ``cividis`` and ``viridis`` are colour-vision-deficiency safe.
COLORMAPS = {
    "turbo": cv2.COLORMAP_TURBO,
    "jet": cv2.COLORMAP_JET,
    "viridis": cv2.COLORMAP_VIRIDIS,
    "cividis": cv2.COLORMAP_CIVIDIS,
}
DEFAULT_COLORMAP = "turbo"
COLOUR_BLIND_SAFE = ("cividis", "viridis")


def heatmap_to_image(cam: np.ndarray, width: int, height: int) -> np.ndarray:
    """Upsample a feature-map-sized CAM to the image size, in [0, 1], never NaN.

    The model saw the image squashed to a square, so stretching the map back to the original
    aspect ratio puts each cell over the pixels it came from.
    """
    cam = np.nan_to_num(np.asarray(cam, dtype=np.float32), nan=0.0)
    resized = cv2.resize(cam, (int(width), int(height)), interpolation=cv2.INTER_CUBIC)
    return np.clip(resized, 0.0, 1.0)


def colorize(heatmap: np.ndarray, colormap: str = DEFAULT_COLORMAP) -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) uint8 RGB."""
    code = COLORMAPS[colormap]
    indices = np.round(np.clip(heatmap, 0.0, 1.0) * 255.0).astype(np.uint8)
    return np.asarray(cv2.cvtColor(cv2.applyColorMap(indices, code), cv2.COLOR_BGR2RGB), dtype=np.uint8)


def render_overlay(
    pixels: np.ndarray,
    heatmap: np.ndarray,
    *,
    alpha: float = 0.4,
    colormap: str = DEFAULT_COLORMAP,
    floor: float = 0.2,
) -> np.ndarray:
    """Blend a heat-map over a grey radiograph; returns (H, W, 3) uint8 RGB.

    Regions below ``floor`` stay unpainted, so the image is readable where the model did not look.
    """
    grey = np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)
    base = np.repeat(grey[..., None], 3, axis=-1).astype(np.float32)
    colour = colorize(heatmap, colormap).astype(np.float32)
    weight = (alpha * heatmap_alpha(heatmap, floor))[..., None]
    blended = base * (1.0 - weight) + colour * weight
    return np.asarray(np.round(blended), dtype=np.uint8)


def heatmap_alpha(heatmap: np.ndarray, floor: float = 0.2) -> np.ndarray:
    """Per-pixel weight of the heat map in [0, 1]: zero below ``floor``, so the radiograph stays
    readable where the model did not look, rising linearly to 1 at the map's peak."""
    return np.clip((heatmap - floor) / max(1.0 - floor, 1e-6), 0.0, 1.0)


def colour_bar(colormap: str = DEFAULT_COLORMAP, length: int = 256, thickness: int = 12) -> np.ndarray:
    """A vertical colour bar (high at the top) as (length, thickness, 3) uint8 RGB."""
    ramp = np.linspace(1.0, 0.0, length, dtype=np.float32)[:, None].repeat(thickness, axis=1)
    return colorize(ramp, colormap)
