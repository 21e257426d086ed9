"""Where the lungs usually lie on a frontal chest film, to keep heat-map colour off text and markers.

A mean of 517 hand-drawn V7 Labs lung masks (``resources/lung_prior.png``, built by
``scripts/build_lung_prior.py``), squashed to a square as films are for the model, so it sits on the
heat map's grid. It is a prior, not a segmentation of this film: colour outside it is turned down,
not removed, and the viewer states how much of the heat-map's mass lay outside the lung fields, so
a map that rests on a "PORTABLE" label or a border is reported rather than hidden.
"""

from __future__ import annotations

from functools import lru_cache

import cv2
import numpy as np

from cxr_desktop.core.resources import resource_path

PRIOR_FILE = resource_path("lung_prior.png")
PRIOR_SIZE = 64
#: Where at least this share of the masked films had lung counts as "the lung fields".
LUNG_LEVEL = 0.35
#: Colour outside the lung fields keeps this share of its weight.
OUTSIDE_WEIGHT = 0.25


@lru_cache(maxsize=1)
def load_prior() -> np.ndarray | None:
    """The prior in [0, 1] (PRIOR_SIZE square), or None when the resource is missing."""
    grey = cv2.imread(str(PRIOR_FILE), cv2.IMREAD_GRAYSCALE)
    if grey is None:
        return None
    prior = grey.astype(np.float32) / 255.0
    prior.setflags(write=False)
    return prior


def _at(prior: np.ndarray, height: int, width: int) -> np.ndarray:
    return np.asarray(cv2.resize(prior, (width, height), interpolation=cv2.INTER_LINEAR), dtype=np.float32)


def lung_fields(prior: np.ndarray, height: int, width: int) -> np.ndarray:
    """Boolean (height, width) map of the lung fields on a film of that size."""
    return np.asarray(_at(prior, height, width) >= LUNG_LEVEL)


def down_weight(heat: np.ndarray, prior: np.ndarray) -> np.ndarray:
    """The heat map scaled down to ``OUTSIDE_WEIGHT`` outside the lung fields, full inside them, with
    a ramp between (the prior's own blur) so the colour has no hard edge at the lung outline."""
    ramp = np.clip(_at(prior, *heat.shape) / LUNG_LEVEL, 0.0, 1.0)
    return np.asarray(heat * (OUTSIDE_WEIGHT + (1.0 - OUTSIDE_WEIGHT) * ramp), dtype=np.float32)


def outside_share(cam: np.ndarray, prior: np.ndarray) -> float:
    """Share (0-1) of the heat-map's mass that lies outside the lung fields (on the prior's grid)."""
    mass = np.clip(_at(np.nan_to_num(np.asarray(cam, np.float32)), PRIOR_SIZE, PRIOR_SIZE), 0.0, None)
    total = float(mass.sum())
    if total <= 0:
        return 0.0
    return float(mass[~lung_fields(prior, PRIOR_SIZE, PRIOR_SIZE)].sum() / total)
