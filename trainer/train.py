"""Training: data -> patient split -> cached tensors -> tf.data -> fit with checkpoints -> export.

Resumable: every epoch writes ``last.keras`` (weights and optimiser state) and ``state.json`` to
the work folder; running the same command again continues from there.
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import keras
import numpy as np

from cxr_desktop.core.bundle import write_json_atomic
from cxr_desktop.core.preprocessing import PreprocessingSpec
from cxr_desktop.engine.device import cpu_has_bf16
from trainer import data as datalib
from trainer.backbones import backbones
from trainer.config import TrainConfig

log = logging.getLogger(__name__)


def select_precision(mode: str) -> str:
    """bf16 on CPUs with native bf16 (AVX512-BF16/AMX), fp16 on GPUs, else fp32."""
    import tensorflow as tf

    if mode == "off":
        return "float32"
    if tf.config.list_physical_devices("GPU"):
        return "mixed_float16"
    if mode == "on" or cpu_has_bf16():
        return "mixed_bfloat16"
    return "float32"


def prepare_data(config: TrainConfig, work: Path):
    """Scan, decode once through the shared core, merge duplicates, split by patient (cached)."""
    spec = PreprocessingSpec(size=config.size)
    data_dir = Path(config.data)
    cache = work / "cache"
    split_path = work / "split.csv"
    if (cache / "arrays.npy").is_file() and split_path.is_file():
        samples = datalib.read_split(split_path, data_dir)
        arrays = np.load(cache / "arrays.npy", mmap_mode="r")
        dedup = json.loads((cache / "dedup.json").read_text())
        return samples, np.asarray(arrays), dedup
    samples = datalib.scan_dataset(
        data_dir, config.classes, Path(config.manifest) if config.manifest else None, config.where
    )
    if config.max_images:
        rng = np.random.default_rng(config.seed)
        samples = [samples[i] for i in sorted(rng.permutation(len(samples))[: config.max_images])]
    log.info("decoding %d images once (preprocessing %s at %d px)", len(samples), spec.id, spec.size)
    samples, arrays, hashes = datalib.load_arrays(samples, spec)
    samples, keep, dedup = datalib.merge_duplicates(samples, hashes)
    arrays = arrays[keep]
    samples = datalib.split_by_patient(
        samples,
        config.classes,
        val_fraction=config.val_fraction,
        test_fraction=config.test_fraction,
        seed=config.seed,
        min_patients=config.min_val_patients,
    )
    cache.mkdir(parents=True, exist_ok=True)
    np.save(cache / "arrays.npy", arrays)
    (cache / "dedup.json").write_text(json.dumps(dedup))
    datalib.write_split(samples, split_path, data_dir)
    return samples, arrays, dedup


def split_arrays(samples, arrays, classes, split):
    index = np.array([i for i, s in enumerate(samples) if s.split == split], dtype=np.int64)
    labels = np.array([classes.index(samples[i].label) for i in index], dtype=np.int64)
    return arrays[index], labels, index


def make_dataset(x, y, num_classes, *, batch_size, size, channels, training, augment, seed, weights=None):
    """tf.data over decoded tensors held in memory: no JPEG work during training."""
    import tensorflow as tf

    from trainer.augment import make_augmenter

    one_hot = np.eye(num_classes, dtype=np.float32)[y]
    columns = (x, one_hot) if weights is None else (x, one_hot, weights[y])
    ds = tf.data.Dataset.from_tensor_slices(columns)
    if training:
        ds = ds.shuffle(len(y), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)
    augmenter = make_augmenter(x.shape[1], seed) if training and augment else None

    def finish(images, *rest):
        images = tf.cast(images[..., None], tf.float32)
        if augmenter is not None:
            images = augmenter(images)
        if size != x.shape[1]:
            images = tf.image.resize(images, [size, size], method="area")
        images = tf.repeat(images, channels, axis=-1)
        return (images, *rest)

    return ds.map(finish, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


class EpochLine(keras.callbacks.Callback):
    """One progress line per epoch, readable in a terminal or a log file."""

    def __init__(self, stage: str, total: int) -> None:
        super().__init__()
        self.stage, self.total, self.start = stage, total, 0.0

    def on_epoch_begin(self, epoch, logs=None):
        self.start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        lr = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        fields = "  ".join(
            f"{key} {logs[key]:.4f}"
            for key in ("loss", "accuracy", "val_loss", "val_accuracy", "val_auc")
            if key in logs
        )
        print(
            f"[{self.stage}] epoch {epoch + 1}/{self.total}  {fields}  lr {lr:.2e}"
            f"  {time.perf_counter() - self.start:.0f}s",
            flush=True,
        )


class ResumeState(keras.callbacks.Callback):
    """``last.keras`` + ``state.json`` after every epoch, so a killed run loses at most one epoch."""

    def __init__(self, work: Path) -> None:
        super().__init__()
        self.work = work

    def on_epoch_end(self, epoch, logs=None):
        partial = self.work / "last.partial.keras"
        self.model.save(partial)
        partial.replace(self.work / "last.keras")
        state = load_state(self.work)
        state["epoch"] = epoch + 1
        state.setdefault("history", []).append({k: float(v) for k, v in (logs or {}).items()})
        write_json_atomic(self.work / "state.json", state)


def load_state(work: Path) -> dict:
    path = work / "state.json"
    return json.loads(path.read_text()) if path.is_file() else {"epoch": 0}


def compile_model(model, learning_rate: float, weight_decay: float):
    model.compile(
        optimizer=keras.optimizers.AdamW(learning_rate=learning_rate, weight_decay=weight_decay),
        loss=keras.losses.CategoricalCrossentropy(),
        metrics=[keras.metrics.CategoricalAccuracy(name="accuracy"), keras.metrics.AUC(name="auc")],
    )


def build_initial_model(config: TrainConfig, num_classes: int):
    """Model for the chosen initialisation: none, imagenet, a weights file, or an existing bundle."""
    from trainer.backbones import build_classifier

    graph_size = None if config.warmup_epochs else config.size
    init = config.init
    if Path(init).is_dir():
        from cxr_desktop.core.bundle import load_bundle

        bundle = load_bundle(init)
        source = keras.saving.load_model(bundle.model_path, safe_mode=True, compile=False)
        model, _, _ = build_classifier(config.backbone, num_classes, size=graph_size, dropout=config.dropout)
        transferable = [layer for layer in source.layers if layer.name not in {"logits", "probabilities"}]
        for layer in transferable:
            if layer.weights:
                model.get_layer(layer.name).set_weights(layer.get_weights())
        if bundle.classes == config.classes:
            model.get_layer("logits").set_weights(source.get_layer("logits").get_weights())
        gradcam = bundle.metadata["gradcam_layer"]
        return model, gradcam, None, False
    weights = None if init == "none" else init
    model, gradcam, base = build_classifier(
        config.backbone, num_classes, size=graph_size, weights=weights, dropout=config.dropout
    )
    pretrained = weights is not None
    return model, gradcam, base, pretrained


def run_training(config: TrainConfig) -> Path:
    """Train per ``config``; returns the path of the best checkpoint."""
    import tensorflow as tf

    work = Path(config.work_dir)
    work.mkdir(parents=True, exist_ok=True)
    config.save(work / "config.json")
    keras.utils.set_random_seed(config.seed)
    policy = select_precision(config.mixed_precision)
    keras.mixed_precision.set_global_policy(policy)
    log.info("precision policy %s; devices %s", policy, [d.name for d in tf.config.list_physical_devices()])

    samples, arrays, _ = prepare_data(config, work)
    classes = config.classes
    x_train, y_train, _ = split_arrays(samples, arrays, classes, "train")
    x_val, y_val, _ = split_arrays(samples, arrays, classes, "val")
    weights = datalib.class_weights(y_train, len(classes))
    print(
        f"train {len(y_train)} / val {len(y_val)} images; class weights "
        + ", ".join(f"{c} {w:.2f}" for c, w in zip(classes, weights)),
        flush=True,
    )

    def datasets(size):
        common = dict(batch_size=config.batch_size, size=size, channels=3, seed=config.seed)
        train_ds = make_dataset(
            x_train, y_train, len(classes), training=True, augment=config.augment, weights=weights, **common
        )
        val_ds = make_dataset(x_val, y_val, len(classes), training=False, augment=False, **common)
        return train_ds, val_ds

    state = load_state(work)
    best_path = work / "best.keras"
    if (work / "last.keras").is_file() and state["epoch"] > 0:
        print(f"resuming from epoch {state['epoch']}", flush=True)
        model = keras.saving.load_model(work / "last.keras", safe_mode=True)
        pretrained = False
    else:
        model, _, base, pretrained = build_initial_model(config, len(classes))
        if pretrained and config.feature_extraction_epochs:
            base.trainable = False
            compile_model(model, config.learning_rate, config.weight_decay)
            train_ds, val_ds = datasets(config.size)
            print("phase 1: feature extraction (frozen backbone, new head)", flush=True)
            model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=config.feature_extraction_epochs,
                verbose=0,
                shuffle=False,
                callbacks=[EpochLine("features", config.feature_extraction_epochs)],
            )
            base.trainable = True
            top_blocks = backbones()[config.backbone].top_blocks
            for layer in base.layers:
                layer.trainable = layer.name.startswith(top_blocks)
            print("phase 2: fine-tuning the top blocks", flush=True)
        lr = config.fine_tune_learning_rate if pretrained else config.learning_rate
        compile_model(model, lr, config.weight_decay)

    start = int(state["epoch"])
    callbacks_common = [ResumeState(work), keras.callbacks.CSVLogger(str(work / "log.csv"), append=True)]
    if start < config.warmup_epochs:
        train_ds, val_ds = datasets(config.warmup_size)
        model.fit(
            train_ds,
            validation_data=val_ds,
            initial_epoch=start,
            epochs=config.warmup_epochs,
            verbose=0,
            shuffle=False,
            callbacks=[EpochLine(f"{config.warmup_size}px", config.epochs), *callbacks_common],
        )
        start = config.warmup_epochs
    train_ds, val_ds = datasets(config.size)
    best = min((h["val_loss"] for h in state.get("history", [])[config.warmup_epochs :]), default=None)
    checkpoint = keras.callbacks.ModelCheckpoint(
        str(best_path), monitor="val_loss", save_best_only=True, initial_value_threshold=best
    )
    callbacks = [
        EpochLine(f"{config.size}px", config.epochs),
        checkpoint,
        keras.callbacks.ReduceLROnPlateau(monitor="val_loss", factor=0.3, patience=2, min_lr=1e-6),
        keras.callbacks.EarlyStopping(monitor="val_loss", patience=config.patience),
        keras.callbacks.TensorBoard(str(work / "tensorboard"), write_graph=False),
        *callbacks_common,
    ]
    if start < config.epochs:
        model.fit(
            train_ds,
            validation_data=val_ds,
            initial_epoch=start,
            epochs=config.epochs,
            verbose=0,
            shuffle=False,
            callbacks=callbacks,
        )
    if not best_path.is_file():
        model.save(best_path)
    return best_path
