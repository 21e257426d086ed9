"""``cxr-train retrain-top``: the version-2 recipe, from a committed bundle to a new one.

Steps, each resumable from the work folder:
1. decode every film once (``trainer.train.prepare_data``; split by patient with the same seed as
   the initial bundle, so its test patients stay test patients);
2. cache the initial bundle's trunk outputs for each preprocessing/augmentation variant
   (``trainer.feature_cache``);
3. train the last dense block and the head for each recipe (``trainer.top_training``), and write
   an ablation table (within-source figures on validation and test, per recipe) to
   ``<work>/ablation.json``;
4. the chosen recipe's network is saved whole as ``<work>/<recipe>/best.keras`` for export.
"""

from __future__ import annotations

import json
import logging
from dataclasses import asdict
from pathlib import Path
from typing import Sequence

import numpy as np

from cxr_desktop.core.bundle import write_json_atomic
from cxr_desktop.core.preprocessing import PreprocessingSpec, shortcut_suppressing_spec
from trainer import population
from trainer.config import TrainConfig
from trainer.feature_cache import cache_variant, split_model
from trainer.top_training import TopRecipe, evaluate, predict_top, train_top

log = logging.getLogger(__name__)

ALL_LABELS = ["covid", "pneumonia", "normal", "other_abnormal"]


def variant_spec(name: str, size: int) -> PreprocessingSpec:
    """``v1_*`` variants use preprocessing version 1 (no low-pass, no mask), others version 2."""
    return PreprocessingSpec(size=size) if name.startswith("v1") else shortcut_suppressing_spec(size)


def variant_seed(name: str) -> int | None:
    return int(name.split("aug", 1)[1]) if "aug" in name else None


def load_initial(init: str):
    import keras

    from cxr_desktop.core.bundle import load_bundle

    bundle = load_bundle(init)
    return keras.saving.load_model(bundle.model_path, safe_mode=True, compile=False)


def full_model(init_model, classes: Sequence[str], init_classes: Sequence[str], dropout: float = 0.2):
    """A fresh DenseNet121 classifier for ``classes`` carrying every weight of ``init_model``; the
    logits rows of classes the initial model also had are kept, new classes start at zero."""
    from trainer.backbones import build_classifier

    model, _, _ = build_classifier("densenet121", len(classes), size=init_model.input.shape[1], dropout=dropout)
    for layer in init_model.layers:
        if layer.weights and layer.name != "logits":
            model.get_layer(layer.name).set_weights(layer.get_weights())
    kernel, bias = init_model.get_layer("logits").get_weights()
    new_kernel, new_bias = np.zeros((kernel.shape[0], len(classes)), np.float32), np.zeros(len(classes), np.float32)
    for j, name in enumerate(classes):
        if name in init_classes:
            new_kernel[:, j], new_bias[j] = kernel[:, init_classes.index(name)], bias[init_classes.index(name)]
    model.get_layer("logits").set_weights([new_kernel, new_bias])
    return model


def prepare(work: Path, data: str, init: str, variants: Sequence[str], seed: int = 1234):
    """Samples, stage-1 arrays and the cached trunk features of every variant."""
    from trainer.train import prepare_data

    config = TrainConfig(data=data, classes=ALL_LABELS, out="", work_dir=str(work), seed=seed, init=init)
    samples, arrays, dedup = prepare_data(config, work)
    trunk, _ = split_model(load_initial(init))
    features = {
        name: cache_variant(
            trunk,
            arrays,
            variant_spec(name, arrays.shape[1]),
            work / "features" / f"{name}.npy",
            augment_seed=variant_seed(name),
        )
        for name in variants
    }
    return samples, arrays, dedup, features


def rows_of(samples, split: str) -> np.ndarray:
    return np.array([i for i, s in enumerate(samples) if s.split == split], dtype=np.int64)


def run_recipe(name: str, recipe: TopRecipe, work: Path, samples, features: dict, init: str) -> dict:
    """Train one recipe; save its whole network and return its validation and test figures."""
    import keras

    keras.utils.set_random_seed(recipe.seed)
    init_model = load_initial(init)
    from cxr_desktop.core.bundle import load_bundle

    model = full_model(init_model, recipe.classes, load_bundle(init).classes)
    _, top = split_model(model)
    films = population.films_of(samples)
    held_out = np.array([s.source in recipe.exclude_sources for s in samples])
    train_rows, val_rows, test_rows = (rows_of(samples, s) for s in ("train", "val", "test"))
    train_rows, val_rows = train_rows[~held_out[train_rows]], val_rows[~held_out[val_rows]]
    train_x = np.concatenate([np.asarray(features[v][train_rows]) for v in recipe.variants])
    train_films = [films[i] for i in train_rows] * len(recipe.variants)
    evaluation_variant = recipe.variants[0]
    val_x = np.asarray(features[evaluation_variant][val_rows])
    history, best_epoch = train_top(top, train_x, train_films, val_x, [films[i] for i in val_rows], recipe)
    folder = work / name
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / "best.keras")
    test_probs = predict_top(top, np.asarray(features[evaluation_variant][test_rows]))
    val_probs = predict_top(top, val_x)
    np.save(folder / "test_probs.npy", test_probs)
    np.save(folder / "val_probs.npy", val_probs)
    result = {
        "recipe": {**asdict(recipe), "classes": list(recipe.classes), "variants": list(recipe.variants)},
        "best_epoch": best_epoch,
        "history": history,
        "validation": evaluate([films[i] for i in val_rows], val_probs, recipe.classes),
        "test": evaluate([films[i] for i in test_rows], test_probs, recipe.classes),
    }
    if recipe.exclude_sources:
        result["unseen_sources"] = unseen_source_figures(
            top, samples, films, features[evaluation_variant], held_out, val_rows, val_probs, recipe
        )
    result["validation_selection_score"] = population.selection_score(result["validation"])
    result["test_selection_score"] = population.selection_score(result["test"])
    write_json_atomic(folder / "result.json", result)
    return result


def unseen_source_figures(top, samples, films, features, held_out, val_rows, val_probs, recipe) -> dict:
    """Sensitivity at the validation operating point on every film of sources kept out of training
    and validation: what a hospital the model never saw gets (issue #12: COVID-19 >= 0.93)."""
    from trainer.evaluation import choose_thresholds

    classes = list(recipe.classes)
    known = np.array([films[i].label in classes for i in val_rows])
    labels = np.array([classes.index(films[i].label) for i in val_rows[known]])
    thresholds = choose_thresholds(val_probs[known], labels, classes, 0.95)
    rows = np.flatnonzero(held_out)
    probs = predict_top(top, np.asarray(features[rows]))
    out: dict = {"sources": list(recipe.exclude_sources), "thresholds": thresholds}
    for name in classes:
        positive = np.array([samples[i].label == name for i in rows])
        if positive.sum() and name in thresholds and name != population.NEGATIVE_CLASS:
            column = classes.index(name)
            flagged = probs[positive, column] >= thresholds[name]
            headline = np.argmax(probs[positive], axis=1) == column
            n = int(positive.sum())
            out[f"{name}_sensitivity"] = {"value": float(np.mean(flagged)), "n": n}
            out[f"{name}_read_as_{name}"] = {"value": float(np.mean(headline)), "n": n}
    return out


def run_recipes(work: Path, data: str, init: str, recipes: dict[str, TopRecipe]) -> dict:
    """Every recipe, resumable: a recipe with a ``result.json`` is not trained again. The ablation
    table is rebuilt from every recipe folder of the work folder (runs in parallel processes add up)."""
    variants = sorted({v for r in recipes.values() for v in r.variants})
    samples, _, _, features = prepare(work, data, init, variants)
    for name, recipe in recipes.items():
        done = work / name / "result.json"
        result = (
            json.loads(done.read_text()) if done.is_file() else run_recipe(name, recipe, work, samples, features, init)
        )
        log.info("%s: validation within-source score %.4f", name, result["validation_selection_score"])
    table = {path.parent.name: json.loads(path.read_text()) for path in sorted(work.glob("*/result.json"))}
    write_json_atomic(work / "ablation.json", table)
    return table
