"""Lung fields: a small U-Net for the shortcut probes ("lungs hidden", heat-map mass in the lungs).

No lung segmenter ships in any package reachable here. What does ship: the torchxrayvision wheel
carries 517 hand-drawn lung masks by V7 Labs (``data/semantic_masks_v7labs_lungs.zip``), 272 of which
are masks of ieee8023 films that are in cxr3 (matched by the original file name in the manifest's
``source_path``). A U-Net of ~0.5 M parameters at 128 px trained on those in a few CPU minutes is
enough to say where the lung fields are; it is checked on adult normal and paediatric films
(``lung_sheet``), which it never saw, before its masks are trusted. The masks are used by the
trainer only; no mask or image from the zip is copied into the project.

Getting the masks: ``pip download --no-deps torchxrayvision==1.5.7`` then unzip
``torchxrayvision/data/semantic_masks_v7labs_lungs.zip`` from the wheel (do not install it).
"""

from __future__ import annotations

import csv
import logging
import math
from pathlib import Path

import cv2
import numpy as np

from cxr_desktop.core.errors import CxrError
from cxr_desktop.core.preprocessing import PreprocessingSpec, square_stretch
from cxr_desktop.core.radiograph import load_radiograph

log = logging.getLogger(__name__)

SIZE = 128
MASK_SUFFIXES = {".jpg", ".jpeg", ".png"}


def mask_pairs(mask_dir: Path, data_dir: Path, size: int = SIZE) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images (N, S, S), masks (N, S, S), patient ids) for every mask whose film is in ``data_dir``.

    Masks are drawn on the original film; the cxr3 copy keeps its aspect ratio, so squashing both
    to the model's square puts them on one grid.
    """
    with open(Path(data_dir) / "manifest.csv", newline="", encoding="utf-8") as handle:
        by_name = {Path(row["source_path"]).name: row for row in csv.DictReader(handle)}
    images, masks, patients = [], [], []
    spec = PreprocessingSpec(size=size, channels=1)
    for path in sorted(Path(mask_dir).iterdir()):
        row = by_name.get(path.name)
        if path.suffix.lower() not in MASK_SUFFIXES or row is None:
            continue
        try:
            pixels = load_radiograph(Path(data_dir) / row["file"]).pixels
        except CxrError as exc:
            log.warning("skipped %s", exc)
            continue
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            continue
        images.append(square_stretch(pixels, spec))
        masks.append(cv2.resize((mask > 127).astype(np.float32), (size, size), interpolation=cv2.INTER_AREA))
        patients.append(row["patient_id"])
    return np.stack(images), np.stack(masks), patients


def build_unet(size: int = SIZE, widths: tuple[int, ...] = (16, 32, 64, 128)):
    import keras
    from keras import layers

    def block(x, width, name):
        for i in range(2):
            x = layers.Conv2D(width, 3, padding="same", use_bias=False, name=f"{name}_conv{i}")(x)
            x = layers.BatchNormalization(name=f"{name}_bn{i}")(x)
            x = layers.Activation("relu", name=f"{name}_relu{i}")(x)
        return x

    inputs = keras.Input((size, size, 1), name="image")
    x, skips = inputs, []
    for level, width in enumerate(widths[:-1]):
        x = block(x, width, f"down{level}")
        skips.append(x)
        x = layers.MaxPooling2D(name=f"pool{level}")(x)
    x = block(x, widths[-1], "bottom")
    for level, width in reversed(list(enumerate(widths[:-1]))):
        x = layers.UpSampling2D(name=f"up{level}")(x)
        x = layers.Concatenate(name=f"skip{level}")([x, skips[level]])
        x = block(x, width, f"dec{level}")
    outputs = layers.Conv2D(1, 1, activation="sigmoid", name="lungs")(x)
    return keras.Model(inputs, outputs, name="lung_unet")


def _augment(images: np.ndarray, masks: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Same random affine for film and mask, photometric changes on the film only. Children's
    chests fill less of the film and sit at other angles than these adult films: scale and shift
    ranges are wide for that reason."""
    out_i, out_m = np.empty_like(images), np.empty_like(masks)
    size = images.shape[1]
    for k, (image, mask) in enumerate(zip(images, masks)):
        angle = rng.uniform(-10, 10)
        scale = rng.uniform(0.75, 1.15)
        matrix = cv2.getRotationMatrix2D((size / 2, size / 2), angle, scale)
        matrix[:, 2] += rng.uniform(-0.08, 0.08, size=2) * size
        out_i[k] = cv2.warpAffine(image, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
        out_m[k] = cv2.warpAffine(mask, matrix, (size, size), flags=cv2.INTER_LINEAR, borderValue=0.0)
        gamma = math.exp(rng.uniform(math.log(0.6), math.log(1.6)))
        out_i[k] = np.clip(out_i[k], 0, 1) ** gamma
    return out_i, out_m


def soft_dice_loss(y_true, y_pred):
    """Soft Dice plus pixel cross-entropy: Dice alone is slow to start from a blank prediction."""
    import keras

    ops = keras.ops
    inter = ops.sum(y_true * y_pred, axis=(1, 2, 3))
    total = ops.sum(y_true, axis=(1, 2, 3)) + ops.sum(y_pred, axis=(1, 2, 3))
    soft_dice = 1.0 - (2.0 * inter + 1.0) / (total + 1.0)
    return soft_dice + ops.mean(keras.losses.binary_crossentropy(y_true, y_pred), axis=(1, 2))


def dice(a: np.ndarray, b: np.ndarray) -> float:
    a, b = a > 0.5, b > 0.5
    return float(2 * (a & b).sum() / max(a.sum() + b.sum(), 1))


def train_unet(
    images: np.ndarray, masks: np.ndarray, patients: list[str], out: Path, epochs: int = 40, seed: int = 1234
) -> dict:
    """Train on patient-grouped 85 %, report Dice on the held-out 15 %, save to ``out``."""
    import keras

    from trainer.data import patient_unit

    keras.utils.set_random_seed(seed)
    held = np.array([patient_unit(p, seed) < 0.15 for p in patients])
    model = build_unet(images.shape[1])
    model.compile(optimizer=keras.optimizers.Adam(2e-3), loss=soft_dice_loss)
    rng = np.random.default_rng(seed)
    x_train, y_train = images[~held], masks[~held]
    for epoch in range(epochs):
        model.optimizer.learning_rate.assign(2e-3 * 0.5 * (1 + math.cos(math.pi * epoch / epochs)))
        xa, ya = _augment(x_train, y_train, rng)
        model.fit(xa[..., None], ya[..., None], batch_size=16, epochs=1, verbose=0, shuffle=True)
    predicted = predict_lungs(model, images[held])
    scores = [dice(p, m) for p, m in zip(predicted, masks[held])]
    out.parent.mkdir(parents=True, exist_ok=True)
    model.save(out)
    result = {
        "train_films": int((~held).sum()),
        "held_out_films": int(held.sum()),
        "held_out_dice_mean": float(np.mean(scores)),
        "held_out_dice_min": float(np.min(scores)),
    }
    log.info(
        "lung U-Net: held-out Dice %.3f (min %.3f) on %d films",
        result["held_out_dice_mean"],
        result["held_out_dice_min"],
        result["held_out_films"],
    )
    return result


def predict_lungs(model, squares: np.ndarray, batch_size: int = 32) -> np.ndarray:
    """(N, S, S) stage-1 squares at any size -> (N, S, S) lung probability at that size."""
    size = squares.shape[1]
    small = (
        np.stack([cv2.resize(np.asarray(s, np.float32), (SIZE, SIZE), interpolation=cv2.INTER_AREA) for s in squares])
        if size != SIZE
        else np.asarray(squares, np.float32)
    )
    out = np.concatenate(
        [
            np.asarray(model(small[i : i + batch_size, ..., None], training=False))[..., 0]
            for i in range(0, len(small), batch_size)
        ]
    )
    if size != SIZE:
        out = np.stack([cv2.resize(o, (size, size), interpolation=cv2.INTER_LINEAR) for o in out])
    return out.astype(np.float32)


def lung_fields(probability: np.ndarray, dilate: float = 0.03) -> np.ndarray:
    """Binary lung fields from the U-Net's probability, slightly dilated (the pleura and the
    costophrenic angles are part of what a reader looks at)."""
    size = probability.shape[-1]
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (max(1, int(dilate * size)) * 2 + 1,) * 2)
    return np.stack([cv2.dilate((p > 0.5).astype(np.uint8), kernel) for p in probability]).astype(bool)


def lung_sheet(model, paths: list[Path], out: Path, columns: int = 6) -> Path:
    """A contact sheet of films with their lung fields outlined: the check, by eye, that the
    U-Net (trained on adult COVID-19 films) finds the lungs of normal adults and of children."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    spec = PreprocessingSpec(size=224, channels=1)
    squares = np.stack([square_stretch(load_radiograph(p).pixels, spec) for p in paths])
    fields = lung_fields(predict_lungs(model, squares))
    rows = math.ceil(len(paths) / columns)
    figure = Figure(figsize=(2.2 * columns, 2.4 * rows))
    FigureCanvasAgg(figure)
    for index, (path, square, field) in enumerate(zip(paths, squares, fields)):
        axes = figure.add_subplot(rows, columns, index + 1)
        axes.imshow(square, cmap="gray", vmin=0, vmax=1)
        axes.contour(field.astype(float), levels=[0.5], colors="yellow", linewidths=0.8)
        axes.set_title(path.stem[:22], fontsize=6)
        axes.axis("off")
    figure.tight_layout()
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=110)
    return out
