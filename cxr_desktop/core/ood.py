"""Out-of-distribution gate: "this is not a frontal chest radiograph".

A classifier always answers with one of its classes, even for a photograph or a CT slice. The gate
measures how far an image's pooled features (the ``feature_layer`` output, free from the same
forward pass as the probabilities) lie from the training radiographs, and flags images beyond a
threshold chosen on held-out radiographs (``trainer.ood_fit``).

The distance is the Mahalanobis distance under a probabilistic-PCA model of the training features:
a shrinkage (Ledoit-Wolf) covariance in the top principal directions plus one isotropic variance
for everything off that subspace. The off-subspace part matters: unfamiliar inputs often differ in
directions the training radiographs never vary in, which a PCA-only distance would ignore.

Globally pooled features hardly see orientation, so a radiograph turned upside down, inverted or
cut to one corner still looks familiar to them. A second, image-level check covers that: a linear
"layout" score on a 16 x 16 thumbnail of the model input, fitted to tell the training radiographs
from rotated, inverted and corner-cropped copies of themselves. An image is flagged when either
score exceeds its threshold.

The parameters live in the bundle as ``ood.npz`` (plain arrays, loaded with ``allow_pickle=False``,
its sha256 in ``metadata["ood"]``); the threshold and the description stay readable in
``metadata.json``. Bundles without an ``ood`` entry have no gate. numpy only, no TensorFlow.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cxr_desktop.core.bundle import ModelBundle, file_sha256
from cxr_desktop.core.decision import display_name
from cxr_desktop.core.errors import BundleError
from cxr_desktop.core.image import DicomInfo

OOD_FILE = "ood.npz"
METHOD = "ppca-mahalanobis"
ARRAYS = ("mean", "components", "precision", "residual_variance")
LAYOUT_ARRAYS = ("layout_weights", "layout_bias")
LAYOUT_SIZE = 16


def layout_thumbnails(images: np.ndarray) -> np.ndarray:
    """(N, S, S, C) model inputs -> (N, LAYOUT_SIZE**2) thumbnails of the first channel."""
    images = np.asarray(images, dtype=np.float32)
    if images.ndim == 3:
        images = images[None]
    thumbnails = [
        np.asarray(cv2.resize(image[..., 0], (LAYOUT_SIZE, LAYOUT_SIZE), interpolation=cv2.INTER_AREA)).ravel()
        for image in images
    ]
    return np.asarray(np.stack(thumbnails), dtype=np.float64)


@dataclass(frozen=True)
class GateResult:
    """Per image: feature distance, layout score (NaN without a layout check) and the flag."""

    distance: np.ndarray
    layout: np.ndarray
    flagged: np.ndarray


@dataclass(frozen=True)
class OodGate:
    """Fitted gate parameters; ``distance`` maps (N, D) features to N non-negative scores."""

    mean: np.ndarray
    components: np.ndarray
    precision: np.ndarray
    residual_variance: float
    threshold: float
    l2_normalise: bool = True
    layout_weights: np.ndarray | None = None
    layout_bias: float = 0.0
    layout_threshold: float = float("inf")

    @property
    def dimensions(self) -> int:
        return int(self.mean.shape[0])

    def distance(self, features: np.ndarray) -> np.ndarray:
        """Mahalanobis distance of each row under the fitted probabilistic-PCA model."""
        x = np.atleast_2d(np.asarray(features, dtype=np.float64))
        if x.shape[1] != self.dimensions:
            raise ValueError(f"features have {x.shape[1]} dimensions, the gate expects {self.dimensions}")
        if self.l2_normalise:
            x = normalise_rows(x)
        centred = x - self.mean
        projected = centred @ self.components
        in_subspace = np.einsum("nk,kl,nl->n", projected, self.precision, projected)
        residual = centred - projected @ self.components.T
        off_subspace = np.einsum("nd,nd->n", residual, residual) / self.residual_variance
        return np.asarray(np.sqrt(np.maximum(in_subspace + off_subspace, 0.0)), dtype=np.float64)

    def layout(self, images: np.ndarray) -> np.ndarray:
        """Linear score of the thumbnail: high means "not laid out like an upright frontal film"."""
        return self.layout_scores(layout_thumbnails(images))

    def layout_scores(self, thumbnails: np.ndarray) -> np.ndarray:
        """``layout`` from thumbnails already made (``layout_thumbnails``); NaN without a layout check."""
        if self.layout_weights is None:
            return np.full(len(thumbnails), np.nan)
        return np.asarray(thumbnails @ self.layout_weights + self.layout_bias, dtype=np.float64)

    def assess(self, features: np.ndarray, images: np.ndarray | None = None) -> GateResult:
        """Both checks for a batch; ``images`` are the preprocessed model inputs of ``features``."""
        distances = self.distance(features)
        flagged = distances > self.threshold
        layout = np.full(len(distances), np.nan)
        if images is not None and self.layout_weights is not None:
            layout = self.layout(images)
            flagged = flagged | (layout > self.layout_threshold)
        return GateResult(distances, layout, flagged)

    def arrays(self) -> dict[str, np.ndarray]:
        arrays = {
            "mean": self.mean,
            "components": self.components,
            "precision": self.precision,
            "residual_variance": np.asarray(self.residual_variance, dtype=np.float64),
        }
        if self.layout_weights is not None:
            arrays["layout_weights"] = self.layout_weights
            arrays["layout_bias"] = np.asarray(self.layout_bias, dtype=np.float64)
        return arrays


def normalise_rows(x: np.ndarray) -> np.ndarray:
    """Unit-length rows: the direction of a pooled feature vector carries the content, its length
    mostly the image's contrast."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.maximum(norms, 1e-12), dtype=np.float64)


def warning_text(gate: OodGate, distance: float, layout: float) -> str:
    """The message shown next to the probabilities and in the CSV ``message`` column."""
    reasons = []
    if distance > gate.threshold:
        reasons.append(f"OOD score {distance:.1f} > threshold {gate.threshold:.1f}")
    if math.isfinite(layout) and layout > gate.layout_threshold:
        reasons.append("layout unlike an upright frontal chest film (rotated, inverted or cropped?)")
    return f"not recognised as a frontal chest radiograph ({'; '.join(reasons)}): result unreliable"


def load_gate(bundle: ModelBundle) -> OodGate | None:
    """The bundle's gate, or None when the bundle has none; a damaged gate is a ``BundleError``."""
    entry = bundle.metadata.get("ood")
    if not entry:
        return None
    try:
        name = str(entry.get("file", OOD_FILE))
        threshold = float(entry["threshold"])
        l2_normalise = bool(entry.get("l2_normalise", True))
        layout_threshold = float(entry.get("layout_threshold", "inf"))
        expected_sha = str(entry["sha256"])
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        raise BundleError(f"bundle {bundle.title}: 'ood' entry in metadata is malformed ({exc})") from None
    if entry.get("method", METHOD) != METHOD:
        raise BundleError(f"bundle {bundle.title}: unknown OOD method {entry.get('method')!r}")
    path = bundle.folder / Path(name).name
    if not path.is_file():
        raise BundleError(f"bundle {bundle.title}: OOD gate file {path.name} is missing")
    if file_sha256(path) != expected_sha:
        raise BundleError(
            f"bundle {bundle.title}: {path.name} does not match the sha256 in its metadata (modified or corrupted)"
        )
    gate = gate_from_arrays(read_arrays(path, bundle.title), threshold, l2_normalise, bundle.title)
    if gate.layout_weights is not None and not math.isfinite(layout_threshold):
        raise BundleError(f"bundle {bundle.title}: OOD layout check has no threshold")
    return replace(gate, layout_threshold=layout_threshold)


def read_arrays(path: Path, title: str) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as stored:
            names = ARRAYS + tuple(k for k in LAYOUT_ARRAYS if k in stored.files)
            return {key: np.asarray(stored[key], dtype=np.float64) for key in names}
    except (OSError, KeyError, ValueError) as exc:
        raise BundleError(f"bundle {title}: OOD gate file cannot be read ({exc})") from None


def gate_from_arrays(arrays: dict[str, np.ndarray], threshold: float, l2_normalise: bool, title: str = "") -> OodGate:
    """Check shapes and values, so a damaged gate fails here rather than with odd distances later."""
    mean, components, precision = arrays["mean"], arrays["components"], arrays["precision"]
    residual_variance = float(arrays["residual_variance"])
    dims, rank = mean.shape[0] if mean.ndim == 1 else -1, components.shape[-1]
    consistent = (
        mean.ndim == 1
        and components.shape == (dims, rank)
        and precision.shape == (rank, rank)
        and residual_variance > 0
        and math.isfinite(threshold)
        and threshold > 0
        and all(np.isfinite(a).all() for a in (mean, components, precision))
    )
    weights = arrays.get("layout_weights")
    if weights is not None and (weights.shape != (LAYOUT_SIZE * LAYOUT_SIZE,) or not np.isfinite(weights).all()):
        consistent = False
    if not consistent:
        raise BundleError(f"bundle {title}: OOD gate parameters are inconsistent")
    return OodGate(
        mean,
        components,
        precision,
        residual_variance,
        threshold,
        l2_normalise,
        weights,
        float(arrays.get("layout_bias", 0.0)),
    )


def describe(gate: OodGate) -> dict[str, Any]:
    """Plain-JSON summary of a gate for ``metadata['ood']`` (the arrays go to ``ood.npz``)."""
    return {
        "method": METHOD,
        "file": OOD_FILE,
        "dimensions": gate.dimensions,
        "components": int(gate.components.shape[1]),
        "l2_normalise": gate.l2_normalise,
        "threshold": round(float(gate.threshold), 6),
    } | (
        {"layout_size": LAYOUT_SIZE, "layout_threshold": round(float(gate.layout_threshold), 6)}
        if gate.layout_weights is not None
        else {}
    )


LATERAL_VIEWS = frozenset({"LL", "RL", "LAT", "LATERAL", "LLD", "RLD"})
ADULT_AGE = 18.0


def age_in_years(dicom_age: str) -> float | None:
    """DICOM Age String (``045Y``, ``006M``, ``003W``, ``010D``) in years; None when absent or malformed."""
    text = (dicom_age or "").strip().upper()
    units = {"Y": 1.0, "M": 1 / 12, "W": 7 / 365.25, "D": 1 / 365.25}
    if len(text) < 2 or text[-1] not in units or not text[:-1].isdigit():
        return None
    return int(text[:-1]) * units[text[-1]]


def population_warning(info: DicomInfo | None, validated: Mapping[str, Mapping[str, Sequence[str]]]) -> str:
    """The second verdict beside "not a frontal chest radiograph": a real frontal film of a patient
    outside the age groups the bundle was validated on (``metadata["validated_populations"]``, per
    class), or a lateral film by its DICOM header. Only DICOM headers say the age or the view; other
    files get no verdict here."""
    if info is None or not validated:
        return ""
    view = (info.view_position or "").strip().upper()
    if view in LATERAL_VIEWS:
        return f"not a frontal chest radiograph (DICOM view position {view}): result unreliable"
    years = age_in_years(info.patient_age)
    if years is None:
        return ""
    group = "adult" if years >= ADULT_AGE else "pediatric"
    classes = [name for name, entry in validated.items() if group in entry.get("age_groups", ())]
    if not classes:
        return (
            f"outside the population this model was validated on (patient age {years:.0f} years, {group};"
            " no class validated for this age group): result unreliable"
        )
    missing = [name for name in validated if name not in classes]
    if missing:
        return (
            f"outside the population this model was validated on for {', '.join(display_name(m) for m in missing)}"
            f" (patient age {years:.0f} years, {group})"
        )
    return ""
