"""Robustness: how much a model's test figures drop when its input films are degraded.

The perturbations are the seeds' augmentations (rotation, shear, zoom, brightness, contrast,
Gaussian noise, JPEG quality), each at one fixed, clearly-visible strength. They are applied to the
decoded radiograph *before* the shared ``preprocess`` and the result is quantised back to 8 bits,
so each one mirrors a real degraded file arriving at the application (a rotated scan, an
over-exposed film, a re-compressed e-mail attachment), and the per-image contrast stretch gets its
chance to undo what it can.

Every image meets every perturbation, so each drop is a paired comparison on the same films.
"""

from __future__ import annotations

import logging
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable, Sequence

import cv2
import numpy as np

from cxr_desktop.core.decision import predict_labels
from cxr_desktop.core.errors import CxrError
from cxr_desktop.core.preprocessing import PreprocessingSpec, preprocess
from cxr_desktop.core.radiograph import load_radiograph
from trainer.evaluation import macro_auc

log = logging.getLogger(__name__)

#: Robustness runs inside every export; a stratified subset this large keeps it to a few minutes
#: of CPU while the drops (paired on the same images) stay well resolved.
DEFAULT_MAX_IMAGES = 400

Predictor = Callable[[np.ndarray], np.ndarray]


@dataclass(frozen=True)
class Perturbation:
    name: str
    description: str
    apply: Callable[[np.ndarray, np.random.Generator], np.ndarray]


def _affine(pixels: np.ndarray, matrix: np.ndarray) -> np.ndarray:
    """Warp about the image centre; uncovered corners are black, as on a rotated scan."""
    height, width = pixels.shape
    return cv2.warpAffine(
        pixels,
        matrix.astype(np.float64),
        (width, height),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
        borderValue=0.0,
    )


def _centre(pixels: np.ndarray) -> tuple[float, float]:
    return (pixels.shape[1] - 1) / 2.0, (pixels.shape[0] - 1) / 2.0


def rotate(pixels: np.ndarray, rng: np.random.Generator, degrees: float) -> np.ndarray:
    return _affine(pixels, cv2.getRotationMatrix2D(_centre(pixels), degrees, 1.0))


def zoom(pixels: np.ndarray, rng: np.random.Generator, factor: float) -> np.ndarray:
    return _affine(pixels, cv2.getRotationMatrix2D(_centre(pixels), 0.0, factor))


def shear(pixels: np.ndarray, rng: np.random.Generator, factor: float) -> np.ndarray:
    _, cy = _centre(pixels)
    return _affine(pixels, np.array([[1.0, factor, -factor * cy], [0.0, 1.0, 0.0]]))


def brightness(pixels: np.ndarray, rng: np.random.Generator, gain: float) -> np.ndarray:
    return np.clip(pixels * gain, 0.0, 1.0)


def contrast(pixels: np.ndarray, rng: np.random.Generator, factor: float) -> np.ndarray:
    mean = float(pixels.mean())
    return np.clip((pixels - mean) * factor + mean, 0.0, 1.0)


def gaussian_noise(pixels: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    return np.clip(pixels + rng.normal(0.0, sigma, pixels.shape).astype(np.float32), 0.0, 1.0)


def jpeg_quality(pixels: np.ndarray, rng: np.random.Generator, quality: int) -> np.ndarray:
    ok, encoded = cv2.imencode(".jpg", _to_uint8(pixels), [cv2.IMWRITE_JPEG_QUALITY, quality])
    if not ok:
        raise RuntimeError("OpenCV could not JPEG-encode a test image")
    return cv2.imdecode(encoded, cv2.IMREAD_GRAYSCALE).astype(np.float32) / 255.0


def _to_uint8(pixels: np.ndarray) -> np.ndarray:
    return np.round(np.clip(pixels, 0.0, 1.0) * 255.0).astype(np.uint8)


PERTURBATIONS: tuple[Perturbation, ...] = (
    Perturbation("rotation", "rotated 10 degrees", partial(rotate, degrees=10.0)),
    Perturbation("shear", "sheared horizontally by 0.2", partial(shear, factor=0.2)),
    Perturbation("zoom_in", "zoomed in 1.2x (edges cropped)", partial(zoom, factor=1.2)),
    Perturbation("zoom_out", "zoomed out 0.8x (black border)", partial(zoom, factor=0.8)),
    Perturbation("brightness", "brightness x1.3 (highlights clip)", partial(brightness, gain=1.3)),
    Perturbation("contrast", "contrast x0.5 about the mean", partial(contrast, factor=0.5)),
    Perturbation("noise", "Gaussian noise, sigma 0.05", partial(gaussian_noise, sigma=0.05)),
    Perturbation("jpeg", "re-saved as JPEG quality 15", partial(jpeg_quality, quality=15)),
)


def stratified_subset(labels: np.ndarray, max_images: int, seed: int) -> np.ndarray:
    """Sorted indices of at most ``max_images`` items keeping each class's share (all if fewer)."""
    if max_images <= 0 or len(labels) <= max_images:
        return np.arange(len(labels))
    rng = np.random.default_rng(seed)
    chosen = []
    for label in np.unique(labels):
        members = np.flatnonzero(labels == label)
        take = max(1, int(round(max_images * len(members) / len(labels))))
        chosen.append(rng.permutation(members)[:take])
    return np.sort(np.concatenate(chosen))


def _perturbed_input(
    item: tuple[int, np.ndarray], perturbation: Perturbation | None, spec: PreprocessingSpec, seed: int
) -> np.ndarray:
    index, pixels = item
    if perturbation is not None:
        rng = np.random.default_rng([seed, index])
        pixels = _to_uint8(perturbation.apply(pixels, rng)).astype(np.float32) / 255.0
    return preprocess(pixels, spec)


def _decode(path: Path) -> np.ndarray | None:
    try:
        return load_radiograph(path).pixels
    except CxrError as exc:
        log.warning("robustness: skipped %s", exc)
        return None


def evaluate_robustness(
    paths: Sequence[Path],
    labels: np.ndarray,
    classes: list[str],
    thresholds: dict[str, float],
    spec: PreprocessingSpec,
    predict: Predictor,
    *,
    max_images: int = DEFAULT_MAX_IMAGES,
    seed: int = 0,
    batch_size: int = 32,
    workers: int = 2,
    perturbations: Sequence[Perturbation] = PERTURBATIONS,
) -> dict:
    """Macro AUC and accuracy (at the bundle's operating thresholds) clean and per perturbation.

    ``predict`` maps a (N, S, S, C) float32 batch, shaped as ``spec`` says, to (N, K) calibrated
    probabilities. Files are decoded once per batch and every condition is derived from the same
    decoded pixels, so memory stays at one batch of films whatever the number of images.
    """
    started = time.perf_counter()
    labels = np.asarray(labels)
    subset = stratified_subset(labels, max_images, seed)
    conditions: list[Perturbation | None] = [None, *perturbations]
    probs: list[list[np.ndarray]] = [[] for _ in conditions]
    kept: list[int] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cxr-robust") as pool:
        for start in range(0, len(subset), batch_size):
            chunk = subset[start : start + batch_size]
            decoded = list(pool.map(_decode, [paths[i] for i in chunk]))
            items = [(int(i), px) for i, px in zip(chunk, decoded) if px is not None]
            if not items:
                continue
            kept.extend(i for i, _ in items)
            for slot, condition in enumerate(conditions):
                build = partial(_perturbed_input, perturbation=condition, spec=spec, seed=seed)
                batch = np.stack(list(pool.map(build, items))).astype(np.float32)
                probs[slot].append(np.asarray(predict(batch), dtype=np.float64))
    if not kept:
        raise CxrError("robustness: none of the test images could be read")
    y = labels[np.asarray(kept)]

    def figures(p: np.ndarray) -> dict[str, float]:
        predicted = predict_labels(p, classes, thresholds)
        return {"macro_auc": macro_auc(y, p), "accuracy": float(np.mean(predicted == y))}

    clean = figures(np.concatenate(probs[0]))
    per_perturbation = {}
    for condition, chunks in zip(conditions[1:], probs[1:]):
        entry = figures(np.concatenate(chunks))
        per_perturbation[condition.name] = {
            "description": condition.description,
            **entry,
            "macro_auc_drop": clean["macro_auc"] - entry["macro_auc"],
            "accuracy_drop": clean["accuracy"] - entry["accuracy"],
        }
    seconds = time.perf_counter() - started
    log.info("robustness: %d images x %d conditions in %.0fs", len(kept), len(conditions), seconds)
    subset_note = (
        f"all {len(labels)} test images"
        if len(subset) == len(labels)
        else f"stratified random subset of {len(subset)} of {len(labels)} test images (seed {seed})"
    )
    return {
        "images": len(kept),
        "subset": subset_note,
        "applied": "to the decoded radiograph before the shared preprocessing, then quantised to 8 bits",
        "clean": clean,
        "perturbations": per_perturbation,
        "seconds": round(seconds, 1),
    }
