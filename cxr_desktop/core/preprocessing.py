"""The one preprocessing function: radiograph pixels -> model input tensor.

Inference, Grad-CAM, the OOD gate and the trainer all call ``preprocess``; the trainer only adds
random augmentation between its two stages (``square_stretch`` then ``suppress_shortcuts``).
Changing anything here changes what every bundle sees, so the behaviour is versioned by
``PreprocessingSpec.id`` and pinned by a golden test.

Why these steps:
- squash to a square (no letterbox): part of the training data (RSNA, COVID-19 Radiography
  Database) was already squashed to 224 x 224, so padding would be a source give-away;
- area interpolation when shrinking, to avoid aliasing of fine lung texture;
- a robust percentile contrast stretch per image, so exposure and source processing (which differ
  by hospital, hence by class in the training data) carry less signal than anatomy;
- version 2 only: a light Gaussian low-pass and a mask over the film's border and corners. Most
  COVID-19 films in the data went through a 224 px resampling that leaves its own fine texture,
  and hospitals and journals burn markers, "PORTABLE" labels and letters into the corners; both
  identified the source (hence the class) in version 1 models. Blurring every film to the same
  effective resolution, and blacking out the places where labels live but lungs do not, removes
  those cues at train and serve time alike.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from functools import lru_cache
from typing import Any

import cv2
import numpy as np

PREPROCESSING_ID = "cxr-square-pstretch-v1"
SHORTCUT_SUPPRESSING_ID = "cxr-square-pstretch-v2"
KNOWN_IDS = (PREPROCESSING_ID, SHORTCUT_SUPPRESSING_ID)


@dataclass(frozen=True)
class PreprocessingSpec:
    """Parameters of ``preprocess``; stored in a bundle's metadata and read back from it.

    ``smooth_sigma`` is in pixels of the ``size`` grid; ``border`` and ``corner`` are fractions of
    the side: a margin blacked out on every edge, and the legs of the triangles cut off each corner.
    Version 1 has none of them (all zero).
    """

    id: str = PREPROCESSING_ID
    size: int = 224
    channels: int = 3
    low_percentile: float = 0.5
    high_percentile: float = 99.5
    smooth_sigma: float = 0.0
    border: float = 0.0
    corner: float = 0.0

    @classmethod
    def from_metadata(cls, data: dict[str, Any]) -> "PreprocessingSpec":
        spec = cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        if spec.id not in KNOWN_IDS:
            raise ValueError(f"unknown preprocessing '{spec.id}' (this version knows {', '.join(KNOWN_IDS)})")
        if spec.id == PREPROCESSING_ID and (spec.smooth_sigma or spec.border or spec.corner):
            raise ValueError(f"preprocessing '{spec.id}' has no low-pass or mask; version 2 has")
        return spec

    def to_metadata(self) -> dict[str, Any]:
        return asdict(self)


def shortcut_suppressing_spec(size: int = 224) -> PreprocessingSpec:
    """Version 2 with the parameters the bundled models were trained with."""
    return PreprocessingSpec(
        id=SHORTCUT_SUPPRESSING_ID, size=size, smooth_sigma=1.0 * size / 224, border=0.03, corner=0.18
    )


def square_stretch(pixels: np.ndarray, spec: PreprocessingSpec) -> np.ndarray:
    """Stage 1: display pixels (2-D float in [0, 1]) -> (size, size) float32 square in [0, 1]."""
    size = spec.size
    shrinking = pixels.shape[0] > size or pixels.shape[1] > size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    resized = cv2.resize(pixels.astype(np.float32, copy=False), (size, size), interpolation=interpolation)
    square: np.ndarray = np.asarray(resized, dtype=np.float32)
    lo, hi = np.percentile(square, (spec.low_percentile, spec.high_percentile))
    span = max(float(hi - lo), 1e-6)
    return np.asarray(np.clip((square - lo) / span, 0.0, 1.0), dtype=np.float32)


@lru_cache(maxsize=8)
def shortcut_mask(size: int, border: float, corner: float) -> np.ndarray:
    """(size, size) float32: 1 where the film is kept, 0 on the border margin and corner triangles."""
    mask = np.ones((size, size), dtype=np.float32)
    margin = int(round(border * size))
    if margin:
        mask[:margin] = mask[-margin:] = 0.0
        mask[:, :margin] = mask[:, -margin:] = 0.0
    leg = corner * size
    if leg:
        y, x = np.mgrid[0:size, 0:size].astype(np.float32)
        far = size - 1.0
        for dy, dx in ((y, x), (y, far - x), (far - y, x), (far - y, far - x)):
            mask[dy + dx < leg] = 0.0
    mask.setflags(write=False)
    return mask


def suppress_shortcuts(square: np.ndarray, spec: PreprocessingSpec) -> np.ndarray:
    """Stage 2 (version 2): low-pass and border/corner mask; identity for version 1."""
    out = square
    if spec.smooth_sigma > 0:
        out = cv2.GaussianBlur(out, (0, 0), sigmaX=spec.smooth_sigma, borderType=cv2.BORDER_REFLECT)
    if spec.border > 0 or spec.corner > 0:
        out = out * shortcut_mask(spec.size, spec.border, spec.corner)
    return np.asarray(out, dtype=np.float32)


def preprocess(pixels: np.ndarray, spec: PreprocessingSpec) -> np.ndarray:
    """Map display pixels (2-D float in [0, 1]) to a (size, size, channels) float32 tensor in [0, 1]."""
    image = suppress_shortcuts(square_stretch(pixels, spec), spec)
    if spec.channels == 1:
        return image[..., None]
    return np.repeat(image[..., None], spec.channels, axis=-1)
