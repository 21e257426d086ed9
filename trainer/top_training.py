"""Retrain the top of a bundle's network (last dense block + head) on cached trunk features.

The recipe behind the version-2 bundled models (see ``trainer.feature_cache`` for why the trunk is
frozen and cached). What this module adds:

- ``label_targets``: how films of a label outside the model's classes train it. ``other_abnormal``
  films can be a class of their own, a soft target, or left out; the choice is an experiment
  (``scripts/train_bundled_models.sh`` runs them side by side);
- ``balanced_weights``: sampling weights that give every (class, source, view) cell the same total
  weight inside its class, and every class the same total, so that neither the hospital nor the
  projection predicts the label in the sampled training set. Each epoch draws ``draws_per_epoch``
  films with these probabilities (with replacement), which also caps the cost of an epoch: the
  two largest cells (Kermany children, the BIMCV hospital) would otherwise dominate it;
- ``train_top``: fits with AdamW, keeps the epoch with the best within-source validation score
  (``trainer.population.selection_score``), never the best pooled figure.
"""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from trainer import population
from trainer.population import Film

log = logging.getLogger(__name__)

CELL_FLOOR = 25


@dataclass(frozen=True)
class TopRecipe:
    """One variant of the retraining: what the ablation table compares."""

    classes: tuple[str, ...]
    variants: tuple[str, ...] = ("v2_clean", "v2_aug1")
    balanced: bool = True
    source_balance: float = 1.0
    exclude_sources: tuple[str, ...] = ()
    other_target: dict[str, float] | None = None
    epochs: int = 5
    learning_rate: float = 5e-4
    weight_decay: float = 1e-4
    batch_size: int = 64
    draws_per_epoch: int = 2400
    label_smoothing: float = 0.05
    seed: int = 1234
    notes: dict[str, str] = field(default_factory=dict)


def label_targets(labels: Sequence[str], recipe: TopRecipe) -> tuple[np.ndarray, np.ndarray]:
    """(targets (N, C), used (N,) bool): one-hot for the model's classes; ``other_target`` (a
    distribution over the classes) for ``other_abnormal`` films when the model has no such class;
    films of any other label are not used."""
    classes = list(recipe.classes)
    targets = np.zeros((len(labels), len(classes)), dtype=np.float32)
    used = np.zeros(len(labels), dtype=bool)
    for i, label in enumerate(labels):
        if label in classes:
            targets[i, classes.index(label)] = 1.0
            used[i] = True
        elif label == population.OTHER_CLASS and recipe.other_target:
            for name, share in recipe.other_target.items():
                targets[i, classes.index(name)] = share
            used[i] = True
    return targets, used


def balanced_weights(
    films: Sequence[Film], targets: np.ndarray, floor: int = CELL_FLOOR, source_balance: float = 1.0
) -> np.ndarray:
    """Sampling weights, mean 1: every class the same total; inside a class, each source a total
    proportional to ``n_source ** (1 - source_balance)`` (1: every source the same, 0.5: square-root
    of its size); inside a (class, source), every view the same. Cells under ``floor`` films weigh
    proportionally less, so a handful of films is not multiplied a hundredfold."""
    sources = [(f.label, f.source) for f in films]
    cells = [(f.label, f.source, f.view_group) for f in films]
    source_size, cell_size = Counter(sources), Counter(cells)
    views_of: dict[tuple[str, str], set[str]] = {}
    for label, source, view in cell_size:
        views_of.setdefault((label, source), set()).add(view)
    weights = np.array(
        [
            max(source_size[s], floor) ** (1.0 - source_balance) / len(views_of[s]) / max(cell_size[c], floor)
            for s, c in zip(sources, cells)
        ]
    )
    main = np.argmax(targets, axis=1)
    for k in np.unique(main):
        members = main == k
        weights[members] /= weights[members].sum()
    return (weights * len(weights) / weights.sum()).astype(np.float32)


def class_balanced_weights(targets: np.ndarray) -> np.ndarray:
    """The 'off' setting of the ablation: each class the same total weight, nothing more."""
    main = np.argmax(targets, axis=1)
    counts = np.bincount(main, minlength=targets.shape[1]).astype(np.float64)
    weights = len(main) / (targets.shape[1] * np.maximum(counts[main], 1))
    return weights.astype(np.float32)


def predict_top(top, features: np.ndarray, batch_size: int = 256) -> np.ndarray:
    """Probabilities of the top model on cached features (float32)."""
    return np.asarray(
        top.predict(np.asarray(features, dtype=np.float32), batch_size=batch_size, verbose=0), dtype=np.float32
    )


def evaluate(films: Sequence[Film], probs: np.ndarray, classes: Sequence[str]) -> dict:
    if "covid" in classes:
        return population.three_class_figures(films, probs, classes)
    return population.pneumonia_figures(films, probs, classes)


def train_top(
    top,
    train_x: np.ndarray,
    train_films: Sequence[Film],
    val_x: np.ndarray,
    val_films: Sequence[Film],
    recipe: TopRecipe,
) -> tuple[list[dict], int]:
    """Fit ``top`` in place; returns the per-epoch history and the epoch whose weights it keeps."""
    import keras

    targets, used = label_targets([f.label for f in train_films], recipe)
    films = [f for f, u in zip(train_films, used) if u]
    targets = targets[used]
    x_index = np.flatnonzero(used)
    weights = (
        balanced_weights(films, targets, source_balance=recipe.source_balance)
        if recipe.balanced
        else class_balanced_weights(targets)
    )
    if recipe.label_smoothing:
        targets = targets * (1 - recipe.label_smoothing) + recipe.label_smoothing / targets.shape[1]
    top.compile(
        optimizer=keras.optimizers.AdamW(recipe.learning_rate, weight_decay=recipe.weight_decay),
        loss=keras.losses.CategoricalCrossentropy(),
    )
    rng = np.random.default_rng(recipe.seed)
    history: list[dict] = []
    best_score, best_epoch, best_weights = -np.inf, 0, top.get_weights()
    probabilities = weights / weights.sum()
    steps = max(1, recipe.draws_per_epoch // recipe.batch_size)
    for epoch in range(1, recipe.epochs + 1):
        lr = recipe.learning_rate * 0.5 * (1 + np.cos(np.pi * (epoch - 1) / recipe.epochs))
        top.optimizer.learning_rate.assign(lr)
        start, losses = time.perf_counter(), []
        for _ in range(steps):
            pick = np.sort(rng.choice(len(x_index), size=recipe.batch_size, p=probabilities))
            loss = top.train_on_batch(np.asarray(train_x[x_index[pick]], dtype=np.float32), targets[pick])
            losses.append(float(np.asarray(loss).ravel()[0]))
        figures = evaluate(val_films, predict_top(top, val_x), recipe.classes)
        score = population.selection_score(figures)
        history.append(
            {
                "epoch": epoch,
                "loss": float(np.mean(losses)),
                "val_selection_score": score,
                "seconds": time.perf_counter() - start,
            }
        )
        log.info(
            "epoch %d/%d loss %.4f val within-source score %.4f (%.0f s)",
            epoch,
            recipe.epochs,
            history[-1]["loss"],
            score,
            history[-1]["seconds"],
        )
        if score > best_score:
            best_score, best_epoch, best_weights = score, epoch, top.get_weights()
    top.set_weights(best_weights)
    return history, best_epoch
