"""The one preprocessing function: radiograph pixels -> model input tensor.

Inference, Grad-CAM, the OOD gate and the trainer all call ``preprocess``; the trainer only adds
random augmentation on top of its output. Changing anything here changes what every bundle sees,
so the behaviour is versioned by ``PreprocessingSpec.id`` and pinned by a golden test.

Why these steps:
- squash to a square (no letterbox): part of the training data (RSNA, COVID-19 Radiography
  Database) was already squashed to 224 x 224, so padding would be a source give-away;
- area interpolation when shrinking, to avoid aliasing of fine lung texture;
- a robust percentile contrast stretch per image, so exposure and source processing (which differ
  by hospital, hence by class in the training data) carry less signal than anatomy.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

import cv2
import numpy as np

PREPROCESSING_ID = "cxr-square-pstretch-v1"


@dataclass(frozen=True)
class PreprocessingSpec:
    """Parameters of ``preprocess``; stored in a bundle's metadata and read back from it."""

    id: str = PREPROCESSING_ID
    size: int = 224
    channels: int = 3
    low_percentile: float = 0.5
    high_percentile: float = 99.5

    @classmethod
    def from_metadata(cls, data: dict[str, Any]) -> "PreprocessingSpec":
        spec = cls(**{k: data[k] for k in cls.__dataclass_fields__ if k in data})
        if spec.id != PREPROCESSING_ID:
            raise ValueError(f"unknown preprocessing '{spec.id}' (this version knows {PREPROCESSING_ID})")
        return spec

    def to_metadata(self) -> dict[str, Any]:
        return asdict(self)


def preprocess(pixels: np.ndarray, spec: PreprocessingSpec) -> np.ndarray:
    """Map display pixels (2-D float in [0, 1]) to a (size, size, channels) float32 tensor in [0, 1]."""
    size = spec.size
    shrinking = pixels.shape[0] > size or pixels.shape[1] > size
    interpolation = cv2.INTER_AREA if shrinking else cv2.INTER_LINEAR
    square = cv2.resize(pixels.astype(np.float32, copy=False), (size, size), interpolation=interpolation)
    lo, hi = np.percentile(square, (spec.low_percentile, spec.high_percentile))
    span = max(float(hi - lo), 1e-6)
    stretched = np.clip((square - lo) / span, 0.0, 1.0).astype(np.float32)
    if spec.channels == 1:
        return stretched[..., None]
    return np.repeat(stretched[..., None], spec.channels, axis=-1)
