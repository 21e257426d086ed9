"""Shortcut probes: does the model read the lungs, or the hospital, the age and the projection?

Run on the bundle's test films through the application's engine:
(a) ``source_probe``: a linear probe (logistic regression, patient-grouped 5-fold) on the pooled
    features predicting the film's source. Accuracy far above chance means the features carry the
    hospital; the figure that matters is the probe *within one class* (normal films only), where
    the source says nothing about the disease.
(b) ``lung_probes``: lungs hidden. Each film is scored again with its lung fields (from the lung
    U-Net, ``trainer.lungs``) blacked out; a model that reads the lungs loses most of its
    confidence in the true class; one that reads the corners keeps it.
(c) normal AP vs normal PA score AUC: ``trainer.population.pneumonia_figures``.
(d) ``lung_probes``: the share of the Grad-CAM mass of the headline class that falls inside the
    lung fields, beside the share of the film the lung fields cover (what a uniform map would get).
"""

from __future__ import annotations

import logging
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GroupKFold, cross_val_predict
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from cxr_desktop.core.errors import CxrError
from cxr_desktop.core.preprocessing import square_stretch, suppress_shortcuts
from cxr_desktop.core.radiograph import load_radiograph
from trainer.lungs import lung_fields, predict_lungs
from trainer.population import Film

log = logging.getLogger(__name__)


def source_probe(features: np.ndarray, films: Sequence[Film], groups: Sequence[str]) -> dict:
    """Cross-validated accuracy of a linear probe predicting the source, vs the majority share."""

    def probe(index: np.ndarray) -> dict | None:
        sources = np.array([films[i].source for i in index])
        counts = Counter(sources.tolist())
        if len(counts) < 2 or min(counts.values()) < 5:
            keep = np.array([counts[s] >= 5 for s in sources])
            index, sources = index[keep], sources[keep]
            counts = Counter(sources.tolist())
            if len(counts) < 2:
                return None
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        folds = GroupKFold(n_splits=5)
        predicted = cross_val_predict(model, features[index], sources, cv=folds, groups=np.asarray(groups)[index])
        return {
            "accuracy": float(np.mean(predicted == sources)),
            "chance": float(max(counts.values()) / len(sources)),
            "n": int(len(sources)),
            "sources": dict(counts),
        }

    everyone = np.arange(len(films))
    normals = np.array([i for i, f in enumerate(films) if f.label == "normal"])
    return {"all_films": probe(everyone), "normal_films_only": probe(normals) if len(normals) else None}


def _stage1(path: Path, spec) -> np.ndarray | None:
    try:
        return square_stretch(load_radiograph(path).pixels, spec)
    except CxrError as exc:
        log.warning("probe skipped %s", exc)
        return None


def _inputs(squares: np.ndarray, spec) -> np.ndarray:
    images = np.stack([suppress_shortcuts(s, spec) for s in squares])
    return np.repeat(images[..., None], spec.channels, axis=-1).astype(np.float32)


def lung_probes(engine, unet, paths: Sequence[Path], films: Sequence[Film], batch_size: int = 32) -> dict:
    """Probes (b) and (d) in one pass over the films; also returns the pooled features for (a)."""
    spec = engine.spec
    classes = list(engine.classes)
    intact, hidden, features, cam_mass, lung_share, kept = [], [], [], [], [], []
    with ThreadPoolExecutor(max_workers=2) as pool:
        for start in range(0, len(paths), batch_size):
            chunk = list(range(start, min(start + batch_size, len(paths))))
            loaded = list(pool.map(lambda i: _stage1(paths[i], spec), chunk))
            good = [(i, s) for i, s in zip(chunk, loaded) if s is not None]
            if not good:
                continue
            squares = np.stack([s for _, s in good])
            lungs = lung_fields(predict_lungs(unet, squares))
            scores = engine.explain(_inputs(squares, spec))
            blacked = engine.score(_inputs(squares * ~lungs, spec))
            for k, (i, _) in enumerate(good):
                top = int(np.argmax(scores.probabilities[k]))
                cam = cv2.resize(
                    np.asarray(scores.cams[k, top], np.float32), (spec.size, spec.size), interpolation=cv2.INTER_LINEAR
                )
                cam_mass.append(float((cam * lungs[k]).sum() / max(cam.sum(), 1e-9)))
                lung_share.append(float(lungs[k].mean()))
                kept.append(i)
            intact.append(scores.probabilities)
            hidden.append(blacked.probabilities)
            features.append(scores.features)
    p_intact, p_hidden = np.concatenate(intact), np.concatenate(hidden)
    labels = [films[i].label for i in kept]
    survival = {}
    for name in classes:
        who = np.array([lab == name for lab in labels])
        if who.sum() == 0:
            continue
        j = classes.index(name)
        survival[name] = {
            "n": int(who.sum()),
            "mean_p_intact": float(p_intact[who, j].mean()),
            "mean_p_lungs_hidden": float(p_hidden[who, j].mean()),
            "probability_surviving": float(p_hidden[who, j].mean() / max(p_intact[who, j].mean(), 1e-9)),
            "read_as_true_class_intact": float(np.mean(np.argmax(p_intact[who], 1) == j)),
            "read_as_true_class_lungs_hidden": float(np.mean(np.argmax(p_hidden[who], 1) == j)),
        }
    mass = np.array(cam_mass)
    share = np.array(lung_share)
    by_class = {}
    for name in sorted(set(labels)):
        who = np.array([lab == name for lab in labels])
        by_class[name] = {
            "n": int(who.sum()),
            "cam_mass_in_lungs": float(mass[who].mean()),
            "lung_area_share": float(share[who].mean()),
        }
    return {
        "films": len(kept),
        "lungs_hidden": survival,
        "gradcam_mass_in_lungs": {
            "all": {"cam_mass_in_lungs": float(mass.mean()), "lung_area_share": float(share.mean())},
            **by_class,
        },
        "_features": np.concatenate(features),
        "_probabilities": p_intact,
        "_kept": kept,
    }


def probe_bundle(bundle_folder: Path, data_dir: Path, unet_path: Path) -> dict:
    """Run every probe on a bundle's test split, store them in its metadata, rewrite report and card."""
    import json

    import keras

    from cxr_desktop.core.bundle import load_bundle, write_metadata
    from cxr_desktop.engine.tensorflow_engine import Engine
    from trainer import data as datalib
    from trainer import population
    from trainer.model_card import write_model_card
    from trainer.report import REPORT_DIR, PREDICTIONS_FILE, read_predictions_csv, write_report

    bundle = load_bundle(bundle_folder)
    test = [s for s in datalib.read_split(bundle.folder / "split.csv", data_dir) if s.split == "test"]
    films = population.films_of(test)
    engine = Engine(bundle, precision="float32", warm_up=False)
    unet = keras.saving.load_model(unet_path, compile=False, safe_mode=True)
    lung = lung_probes(engine, unet, [s.path for s in test], films)
    kept, features, probabilities = lung.pop("_kept"), lung.pop("_features"), lung.pop("_probabilities")
    metadata = json.loads(json.dumps(dict(bundle.metadata)))
    figures = population.pneumonia_figures([films[i] for i in kept], probabilities, bundle.classes)
    metadata["metrics"]["probes"] = {
        "source_probe": source_probe(features, [films[i] for i in kept], [test[i].patient_id for i in kept]),
        **lung,
        "normal_ap_vs_pa_score_auc": figures["auc_normal_ap_vs_pa_score"],
        "lung_model": {"file": str(unet_path), "note": "U-Net trained on V7 Labs lung masks (trainer.lungs)"},
    }
    bundle = write_metadata(bundle.folder, metadata)
    report = bundle.folder / REPORT_DIR
    write_report(report, bundle.metadata, read_predictions_csv(report / PREDICTIONS_FILE))
    config_path = bundle.folder / "train_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8")) if config_path.is_file() else None
    write_model_card(bundle.folder, bundle.metadata, config)
    return metadata["metrics"]["probes"]
