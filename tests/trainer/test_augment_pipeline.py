"""Augmentation and the tf.data pipeline, on real radiographs preprocessed by the shared core."""

from __future__ import annotations

import numpy as np
import pytest

from cxr_desktop.core.preprocessing import PreprocessingSpec
from trainer.data import Sample, load_arrays

SIZE = 64


@pytest.fixture(scope="module")
def images(sample_images) -> np.ndarray:
    samples = [Sample(path=p, label="normal", patient_id=p.stem) for p in sample_images]
    _, arrays, _ = load_arrays(samples, PreprocessingSpec(size=SIZE))
    return arrays


def _augment(batch: np.ndarray, seed: int = 3) -> np.ndarray:
    from trainer.augment import make_augmenter

    augmenter = make_augmenter(SIZE, seed)
    return augmenter(batch[..., None].astype(np.float32)).numpy()


def test_augmentation_keeps_shape_and_range_and_changes_the_image(images):
    out = _augment(np.repeat(images, 4, axis=0))
    assert out.shape == (len(images) * 4, SIZE, SIZE, 1)
    assert out.dtype == np.float32
    assert np.isfinite(out).all() and out.min() >= 0.0 and out.max() <= 1.0
    difference = np.abs(out[..., 0] - np.repeat(images, 4, axis=0).astype(np.float32)).mean(axis=(1, 2))
    assert (difference > 0.01).all()
    # random: the four copies of one film come out different
    assert np.abs(out[0] - out[len(images)]).mean() > 0.01


def test_augmentation_never_mirrors_a_film(images):
    """A film darkened on its left third must stay dark on the left after augmentation.

    With horizontal flips about half of the copies would come out dark on the right.
    """
    film = images[0].astype(np.float32).copy()
    film[:, : SIZE // 3] *= 0.2
    out = _augment(np.repeat(film[None], 128, axis=0))[..., 0]
    left = out[:, :, : SIZE // 3].mean(axis=(1, 2))
    right = out[:, :, -SIZE // 3 :].mean(axis=(1, 2))
    assert (left < right).mean() > 0.97
    mean_image = out.mean(axis=0)
    assert (
        np.corrcoef(mean_image.ravel(), film.ravel())[0, 1]
        > np.corrcoef(mean_image.ravel(), film[:, ::-1].ravel())[0, 1] + 0.2
    )


def test_training_pipeline_batches(images):
    from trainer.data import class_weights
    from trainer.train import make_dataset

    y = np.array([0, 0, 1, 1, 2, 2])
    weights = class_weights(y, 3)
    train = make_dataset(
        images, y, 3, batch_size=4, size=48, channels=3, training=True, augment=True, seed=0, weights=weights
    )
    batches = list(train)
    assert [b[0].shape[0] for b in batches] == [4, 2]
    x, one_hot, w = batches[0]
    assert x.shape == (4, 48, 48, 3) and x.dtype.name == "float32"
    assert one_hot.shape == (4, 3) and w.shape == (4,)
    np.testing.assert_array_equal(x[..., 0].numpy(), x[..., 2].numpy())
    assert float(x.numpy().min()) >= 0.0 and float(x.numpy().max()) <= 1.0 + 1e-5  # area resize rounding
    np.testing.assert_allclose(np.sort(np.concatenate([b[2].numpy() for b in batches])), np.sort(weights[y]))


def test_validation_pipeline_is_the_plain_preprocessed_image(images):
    from trainer.train import make_dataset

    y = np.arange(len(images)) % 3
    val = make_dataset(images, y, 3, batch_size=32, size=SIZE, channels=3, training=False, augment=True, seed=0)
    ((x, one_hot),) = list(val)
    np.testing.assert_allclose(x.numpy()[..., 1], images.astype(np.float32))
    np.testing.assert_array_equal(one_hot.numpy().argmax(axis=1), y)
