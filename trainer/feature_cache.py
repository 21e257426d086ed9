"""Cached trunk features: the frozen lower part of a network, computed once per image variant.

Why: on a 2-core CPU in fp32 the DenseNet121 trunk up to dense block 3 runs at ~10 images/s,
while training the last dense block and the head on its 7 x 7 x 512 output runs at hundreds per
second. Retraining the top of the network from the committed bundle on cached trunk outputs makes
a full retrain (and every shortcut ablation) fit in one session. The price: the frozen trunk keeps
what the earlier model learned below block 4, and augmentation has to be drawn before caching, as
a fixed number of augmented copies of each film.

Variants (one cache file each, written in chunks and resumable):
- ``clean``: the bundle's full preprocessing, no augmentation;
- ``aug<k>``: augmentation drawn with seed k between the two preprocessing stages;
- any variant under another ``PreprocessingSpec`` (e.g. version 1, for the masking ablation).
"""

from __future__ import annotations

import json
import logging
import time
from pathlib import Path

import numpy as np

from cxr_desktop.core.preprocessing import PreprocessingSpec, suppress_shortcuts

log = logging.getLogger(__name__)

TRUNK_OUTPUT = "pool4_pool"
CHUNK = 64


def split_model(model, layer: str = TRUNK_OUTPUT):
    """(trunk, top): the trunk maps the image to ``layer``'s output, the top maps that to the
    probabilities. Both share the layers (and weights) of ``model``: training ``top`` trains
    ``model``, which is then saved whole."""
    import keras

    cut = model.get_layer(layer).output
    return keras.Model(model.input, cut, name="trunk"), keras.Model(cut, model.output, name="top")


def _model_inputs(stage1: np.ndarray, spec: PreprocessingSpec) -> np.ndarray:
    images = np.stack([suppress_shortcuts(image.astype(np.float32), spec) for image in stage1])
    return np.repeat(images[..., None], spec.channels, axis=-1)


def cache_variant(
    trunk, stage1: np.ndarray, spec: PreprocessingSpec, path: Path, *, augment_seed: int | None = None
) -> np.ndarray:
    """Trunk outputs for every stage-1 image (``square_stretch`` output), resumable by chunk.

    A ``.progress.json`` beside the ``.npy`` records how many rows are done, so an interrupted
    run continues where it stopped; the finished array is returned memory-mapped.
    """
    import tensorflow as tf

    from trainer.augment import make_augmenter

    progress_path = path.with_suffix(".progress.json")
    n = len(stage1)
    shape = (n, *trunk.output.shape[1:])
    done = 0
    if path.is_file() and progress_path.is_file():
        done = int(json.loads(progress_path.read_text())["done"])
        out = np.lib.format.open_memmap(path, mode="r+")
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
        out = np.lib.format.open_memmap(path, mode="w+", dtype=np.float16, shape=shape)
    if done >= n:
        return np.load(path, mmap_mode="r")
    forward = tf.function(lambda x: trunk(x, training=False), reduce_retracing=True)
    start = time.perf_counter()
    for begin in range(done, n, CHUNK):
        batch = np.asarray(stage1[begin : begin + CHUNK], dtype=np.float32)
        if augment_seed is not None:
            augmenter = make_augmenter(spec.size, augment_seed * 100_003 + begin)
            batch = augmenter(tf.constant(batch[..., None])).numpy()[..., 0]
        out[begin : begin + len(batch)] = forward(_model_inputs(batch, spec)).numpy().astype(np.float16)
        out.flush()
        progress_path.write_text(json.dumps({"done": begin + len(batch)}))
        rate = (begin + len(batch) - done) / (time.perf_counter() - start)
        log.info("%s: %d/%d (%.1f img/s)", path.name, begin + len(batch), n, rate)
    del out
    return np.load(path, mmap_mode="r")
