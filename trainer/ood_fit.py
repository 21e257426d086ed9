"""Fit a bundle's out-of-distribution gate and measure it on a labelled set of non-radiographs.

``fit_ood_gate`` computes pooled features of the bundle's own training and validation images
through the real loader, preprocessing and Engine (the same path as screening), fits the feature
model and the layout check (radiographs against rotated, inverted and corner-cropped copies of
themselves) on both splits, and writes ``ood.npz`` plus a readable ``ood`` entry into
``metadata.json`` (both atomically; ``model.keras`` and its sha256 are untouched).

Thresholds must hold on hospitals the gate has never seen: the version-1 gates, set at the 99.5th
percentile of out-of-fold scores, flagged 17% of real COVID-19 films from an unseen hospital and
64% of adult films. So each check's threshold is the 99.5th percentile of the fitted films' own
scores plus a margin measured leave-one-source-out (fit without a source, score that source): the
smallest margin that keeps those flags at <= 1% of all films and <= 3% of every source. Whether
the gate still catches non-radiographs at that threshold is then measured, not assumed.

How well a fitted gate catches non-radiographs is measured by ``trainer.ood_evaluation``.
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from cxr_desktop.core.atomic import atomic_path
from cxr_desktop.core.bundle import METADATA_FILE, ModelBundle, file_sha256, load_bundle, write_metadata
from cxr_desktop.core.errors import CxrError
from cxr_desktop.core.ood import OOD_FILE, OodGate, describe, layout_thumbnails, normalise_rows
from cxr_desktop.core.preprocessing import preprocess
from cxr_desktop.core.radiograph import load_radiograph
from trainer import data as datalib
from trainer.ood_evaluation import evaluate_gate
from trainer.model_card import write_model_card

log = logging.getLogger(__name__)

DEFAULT_COMPONENTS = 64
DEFAULT_PERCENTILE = 99.5
FOLDS = 5
LAYOUT_C = 1.0


def extract_features(
    engine, paths: list[Path], batch_size: int = 32
) -> tuple[np.ndarray, list[Path], np.ndarray, np.ndarray]:
    """What the gate is fitted on, from one decode of each file: pooled features through the real
    loader + preprocessing + engine, the layout thumbnails of the same model inputs, and the
    (N, 4, D) thumbnails of each radiograph's unusable copies. Unreadable files are skipped."""

    def load(path: Path) -> tuple[np.ndarray, np.ndarray] | None:
        try:
            pixels = load_radiograph(path).pixels
        except CxrError as exc:
            log.warning("skipped %s", exc)
            return None
        return pixels, preprocess(pixels, engine.spec)

    features, kept, thumbnails, negatives = [], [], [], []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, len(paths), batch_size):
            chunk = paths[start : start + batch_size]
            good = [(p, loaded) for p, loaded in zip(chunk, pool.map(load, chunk)) if loaded is not None]
            if good:
                batch = np.stack([tensor for _, (_, tensor) in good])
                features.append(engine.score(batch).features)
                thumbnails.append(layout_thumbnails(batch))
                negatives += [
                    copies_thumbnails(pixels, len(kept) + j, engine.spec) for j, (_, (pixels, _)) in enumerate(good)
                ]
                kept.extend(p for p, _ in good)
    return np.concatenate(features).astype(np.float64), kept, np.concatenate(thumbnails), np.stack(negatives)


def unusable_copies(pixels: np.ndarray, index: int) -> list[np.ndarray]:
    """What a frontal film must not be mistaken for: turned 90/180 degrees, inverted, one corner."""
    h, w = pixels.shape
    rows = (slice(0, h // 2), slice(h // 2, h))[index % 2]
    cols = (slice(0, w // 2), slice(w // 2, w))[(index // 2) % 2]
    return [
        np.rot90(pixels, 1 if index % 2 else 3),
        np.rot90(pixels, 2),
        1.0 - pixels,
        np.ascontiguousarray(pixels[rows, cols]),
    ]


def copies_thumbnails(pixels: np.ndarray, index: int, spec) -> np.ndarray:
    """(4, D) thumbnails of the model inputs of one radiograph's unusable copies."""
    return layout_thumbnails(
        np.stack([preprocess(np.ascontiguousarray(c), spec) for c in unusable_copies(pixels, index)])
    )


def fit_layout(positives: np.ndarray, negatives: np.ndarray, c: float = LAYOUT_C) -> tuple[np.ndarray, float]:
    """Logistic regression (balanced classes): radiograph thumbnails vs their unusable copies."""
    from sklearn.linear_model import LogisticRegression

    x = np.concatenate([positives, negatives])
    y = np.r_[np.zeros(len(positives)), np.ones(len(negatives))]
    model = LogisticRegression(C=c, class_weight="balanced", max_iter=5000).fit(x, y)
    return model.coef_[0].astype(np.float64), float(model.intercept_[0])


def fit_gate(train_features: np.ndarray, components: int = DEFAULT_COMPONENTS, l2_normalise: bool = True) -> OodGate:
    """Probabilistic PCA with a Ledoit-Wolf shrunk covariance in the principal subspace.

    The threshold is a placeholder (infinity) until ``with_thresholds`` sets it from held-out scores.
    """
    from sklearn.covariance import LedoitWolf

    x = normalise_rows(train_features) if l2_normalise else np.asarray(train_features, np.float64)
    mean = x.mean(axis=0)
    centred = x - mean
    _, singular, vt = np.linalg.svd(centred, full_matrices=False)
    rank = max(1, min(components, len(singular) - 1))
    basis = vt[:rank].T
    projected = centred @ basis
    precision = LedoitWolf(assume_centered=True).fit(projected).precision_
    eigen = singular**2 / max(len(x) - 1, 1)
    discarded = eigen[rank:]
    residual_variance = float(discarded.sum() / max(x.shape[1] - rank, 1))
    return OodGate(mean, basis, precision, max(residual_variance, 1e-12), float("inf"), l2_normalise)


def fit_full_gate(
    features: np.ndarray, thumbnails: np.ndarray, negatives: np.ndarray, components: int = DEFAULT_COMPONENTS
) -> OodGate:
    """Both checks fitted on the given radiographs; ``negatives`` are their unusable copies."""
    weights, bias = fit_layout(thumbnails, negatives.reshape(-1, negatives.shape[-1]))
    return replace(fit_gate(features, components), layout_weights=weights, layout_bias=bias)


def out_of_fold_scores(
    features: np.ndarray,
    thumbnails: np.ndarray,
    negatives: np.ndarray,
    groups: list[str],
    components: int = DEFAULT_COMPONENTS,
    folds: int = FOLDS,
) -> tuple[np.ndarray, np.ndarray]:
    """Each radiograph's (distance, layout score) from a gate fitted without its patient's films."""
    from sklearn.model_selection import GroupKFold

    distances, layouts = np.empty(len(features)), np.empty(len(features))
    for fitted, held in GroupKFold(n_splits=folds).split(features, groups=groups):
        gate = fit_full_gate(features[fitted], thumbnails[fitted], negatives[fitted], components)
        distances[held] = gate.distance(features[held])
        layouts[held] = gate.layout_scores(thumbnails[held])
    return distances, layouts


def with_thresholds(
    gate: OodGate, distances: np.ndarray, layouts: np.ndarray | None = None, percentile: float = DEFAULT_PERCENTILE
) -> OodGate:
    """Each check's threshold at ``percentile`` of held-out radiographs' scores."""
    threshold = float(np.percentile(distances, percentile))
    layout_threshold = gate.layout_threshold if layouts is None else float(np.percentile(layouts, percentile))
    return replace(gate, threshold=threshold, layout_threshold=layout_threshold)


def leave_one_source_out(
    features: np.ndarray,
    thumbnails: np.ndarray,
    negatives: np.ndarray,
    sources: list[str],
    components: int = DEFAULT_COMPONENTS,
    percentile: float = DEFAULT_PERCENTILE,
    min_films: int = 20,
) -> dict[str, dict[str, np.ndarray]]:
    """For each source: fit both checks without it, and score its films relative to that fit.

    Scores are offsets from the fit's own ``percentile`` of its training films (log-ratio for the
    distance, difference for the layout score), so offsets from different fits are comparable and
    a threshold can be set as "the full gate's percentile plus a margin" that a source the gate has
    never seen would still pass.
    """
    names = np.asarray(sources)
    out: dict[str, dict[str, np.ndarray]] = {}
    for source in sorted(set(sources)):
        held = names == source
        if held.sum() < min_films or (~held).sum() < min_films:
            continue
        gate = fit_full_gate(features[~held], thumbnails[~held], negatives[~held], components)
        own_d = np.percentile(gate.distance(features[~held]), percentile)
        own_l = np.percentile(gate.layout_scores(thumbnails[~held]), percentile)
        out[source] = {
            "distance": np.log(gate.distance(features[held]) / own_d),
            "layout": gate.layout_scores(thumbnails[held]) - own_l,
        }
    return out


def source_margins(
    offsets: dict[str, dict[str, np.ndarray]], overall: float = 0.01, worst: float = 0.03
) -> tuple[float, float]:
    """The smallest (distance, layout) margins that keep the leave-one-source-out flag rate of the
    two checks together under ``overall`` across all films and under ``worst`` on every source.

    Each check gets half of each budget, so their union stays inside it. With fewer than two
    sources there is nothing to hold out: no margin."""
    if not offsets:
        return 0.0, 0.0
    margins = []
    for check in ("distance", "layout"):
        pooled = np.concatenate([o[check] for o in offsets.values()])
        candidates = [np.percentile(pooled, 100 * (1 - overall / 2))]
        candidates += [np.percentile(o[check], 100 * (1 - worst / 2)) for o in offsets.values()]
        margins.append(max(0.0, float(max(candidates))))
    return margins[0], margins[1]


def loso_flag_rates(offsets: dict[str, dict[str, np.ndarray]], margins: tuple[float, float]) -> dict[str, Any]:
    """Share of each held-out source's films that the margins would still flag."""
    if not offsets:
        return {"overall": None, "note": "fewer than two sources with >= 20 films: not measured", "per_source": {}}
    per_source = {
        s: float(np.mean((o["distance"] > margins[0]) | (o["layout"] > margins[1]))) for s, o in offsets.items()
    }
    films = {s: len(o["distance"]) for s, o in offsets.items()}
    overall = sum(per_source[s] * films[s] for s in films) / max(sum(films.values()), 1)
    return {
        "overall": round(overall, 4),
        "worst_source": max(per_source, key=per_source.get),
        "worst_rate": round(max(per_source.values()), 4),
        "per_source": {s: {"films": films[s], "flagged_share": round(r, 4)} for s, r in per_source.items()},
    }


def per_source_cap(samples: list[datalib.Sample], cap: int, seed: int = 0) -> list[datalib.Sample]:
    """At most ``cap`` samples of each source, chosen at random with a fixed seed, order kept."""
    rng = np.random.default_rng(seed)
    keep: set[int] = set()
    for source in sorted({s.source for s in samples}):
        members = [i for i, s in enumerate(samples) if s.source == source]
        keep.update(members if len(members) <= cap else rng.choice(members, size=cap, replace=False).tolist())
    return [s for i, s in enumerate(samples) if i in keep]


def fit_ood_gate(
    bundle_folder: str | Path,
    data_dir: str | Path | None = None,
    *,
    components: int = DEFAULT_COMPONENTS,
    percentile: float = DEFAULT_PERCENTILE,
    evaluate: bool = True,
    max_per_source: int = 400,
) -> dict[str, Any]:
    """Fit, threshold, evaluate and store the gate of a bundle; returns the new ``ood`` entry.

    At most ``max_per_source`` train and validation films per source (a seeded random choice): the
    two largest sources would otherwise dominate both the fit and the CPU time, while what the
    thresholds need is every source, each well represented."""
    from cxr_desktop.engine.tensorflow_engine import Engine

    bundle = load_bundle(bundle_folder)
    data_dir = Path(data_dir or datalib.default_data_dir())
    split_path = bundle.folder / "split.csv"
    if not split_path.is_file():
        raise datalib.DataError(f"bundle {bundle.folder} has no split.csv: cannot tell train from validation")
    samples = datalib.read_split(split_path, data_dir)
    fit_samples = per_source_cap(
        [s for s in samples if s.split in ("train", "val") and s.label in [*bundle.classes, "other_abnormal"]],
        max_per_source,
    )
    patients = {s.path: s.patient_id for s in fit_samples}
    source_of = {s.path: s.source for s in fit_samples}
    engine = Engine(bundle)
    log.info("features of %d train and validation images", len(fit_samples))
    features, kept, thumbnails, negatives = extract_features(engine, [s.path for s in fit_samples])
    groups = [patients[p] for p in kept]
    sources = [source_of[p] for p in kept]
    offsets = leave_one_source_out(features, thumbnails, negatives, sources, components, percentile)
    margins = source_margins(offsets)
    full = fit_full_gate(features, thumbnails, negatives, components)
    own_d = float(np.percentile(full.distance(features), percentile))
    own_l = float(np.percentile(full.layout_scores(thumbnails), percentile))
    distances, layouts = out_of_fold_scores(features, thumbnails, negatives, groups, components)
    gate = replace(
        full,
        threshold=max(own_d * float(np.exp(margins[0])), float(np.percentile(distances, percentile))),
        layout_threshold=max(own_l + margins[1], float(np.percentile(layouts, percentile))),
    )
    held_out_flagged = (distances > gate.threshold) | (layouts > gate.layout_threshold)
    entry = describe(gate) | {
        "feature_layer": bundle.metadata.get("feature_layer", "pooled"),
        "threshold_rule": f"{percentile:g}th percentile of the fitted radiographs' scores for each check, raised"
        " by the smallest margin that keeps leave-one-source-out false flags (fit without a"
        " source, score that source) at <= 1% of all films and <= 3% of every source; never"
        f" below the {percentile:g}th percentile of patient-grouped out-of-fold scores",
        "layout_rule": "logistic regression on 16x16 thumbnails of the model input: radiographs vs copies"
        " rotated 90/180/270 degrees, inverted and cut to one corner quadrant",
        "fitted_on": {
            "train_and_val_images": len(kept),
            "patients": len(set(groups)),
            "max_per_source": max_per_source,
        },
        "margins": {"log_distance": round(margins[0], 4), "layout": round(margins[1], 4)},
        "leave_one_source_out": loso_flag_rates(offsets, margins),
        "out_of_fold_flagged_share": round(float(np.mean(held_out_flagged)), 4),
    }
    if evaluate:
        entry["evaluation"] = evaluate_gate(engine, gate, [s.path for s in samples if s.split == "test"], data_dir)
    store_gate(bundle, gate, entry)
    return entry


def store_gate(bundle: ModelBundle, gate: OodGate, entry: dict[str, Any]) -> None:
    """Write ood.npz, then metadata.json (each atomically), so metadata never names a missing file."""
    target = bundle.folder / OOD_FILE
    with atomic_path(target) as tmp:
        with open(tmp, "wb") as handle:
            np.savez(handle, **gate.arrays())
    metadata = json.loads((bundle.folder / METADATA_FILE).read_text(encoding="utf-8"))
    metadata["ood"] = dict(entry, sha256=file_sha256(target))
    metadata = dict(write_metadata(bundle.folder, metadata).metadata)
    config_path = bundle.folder / "train_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else None
    write_model_card(bundle.folder, metadata, config)
