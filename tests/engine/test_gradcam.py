"""Grad-CAM: the closed form the engine uses equals Grad-CAM from the gradient (issue 6).

For the trainer's head (global average pooling, dropout, linear dense) the engine computes Grad-CAM
from the forward pass alone. The evidence that this is still Grad-CAM is the real bundled model on
real radiographs: the maps match those from the gradient of the logits. Other heads must fall back
to the gradient.
"""

from __future__ import annotations

import numpy as np
import pytest

from cxr_desktop.core.preprocessing import preprocess
from cxr_desktop.core.radiograph import load_radiograph


@pytest.fixture(scope="module")
def real_batch(cxr3, bundle_3class):
    spec = bundle_3class.preprocessing
    paths = [p for label in ("covid", "pneumonia", "normal") for p in sorted((cxr3 / label).glob("*.jpg"))[:4]]
    return np.stack([preprocess(load_radiograph(p).pixels, spec) for p in paths])


@pytest.fixture(scope="module")
def float32_engine(bundle_3class):
    from cxr_desktop.engine.tensorflow_engine import Engine

    return Engine(bundle_3class, precision="float32")


def test_bundled_model_gets_the_closed_form(float32_engine, engine_3class):
    assert float32_engine.gradcam_method == engine_3class.gradcam_method == "closed form"


def test_closed_form_equals_gradcam_from_the_gradient_on_real_films(float32_engine, real_batch):
    import tensorflow as tf

    closed = float32_engine.explain(real_batch)
    probabilities, features, cams = tf.function(float32_engine._gradient_graph)(real_batch)
    np.testing.assert_allclose(closed.probabilities, probabilities.numpy(), atol=1e-6)
    np.testing.assert_allclose(closed.features, features.numpy(), atol=1e-5)
    np.testing.assert_allclose(closed.cams, cams.numpy(), atol=1e-4)
    assert (closed.cams.reshape(len(real_batch), 3, -1).max(axis=2) > 0.99).mean() > 0.9


def test_score_and_explain_agree_on_the_shared_function(engine_3class, real_batch):
    scored, explained = engine_3class.score(real_batch), engine_3class.explain(real_batch)
    assert scored.cams is None
    np.testing.assert_array_equal(scored.probabilities, explained.probabilities)


def _nonlinear_head_bundle(folder, size: int = 32):
    import keras

    from cxr_desktop.core.bundle import write_bundle
    from tests.bundles import CLASSES3, tiny_metadata

    keras.utils.set_random_seed(0)
    inputs = keras.Input((size, size, 3))
    x = keras.layers.Conv2D(8, 3, padding="same", name="conv0")(inputs)
    x = keras.layers.Activation("relu", name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pooled")(x)
    x = keras.layers.Dense(8, activation="relu", name="hidden")(x)
    logits = keras.layers.Dense(3, name="logits")(x)
    outputs = keras.layers.Activation("softmax", name="probabilities")(logits)
    return write_bundle(folder, keras.Model(inputs, outputs), tiny_metadata(CLASSES3, size, "last_conv"))


def test_other_heads_fall_back_to_the_gradient(tmp_path, sample_images, tiny_engine):
    from cxr_desktop.engine.tensorflow_engine import Engine

    assert tiny_engine.gradcam_method == "closed form"
    engine = Engine(_nonlinear_head_bundle(tmp_path / "hidden-head"), precision="float32")
    assert engine.gradcam_method == "gradient"
    batch = np.stack([preprocess(load_radiograph(p).pixels, engine.spec) for p in sample_images])
    explained = engine.explain(batch)
    np.testing.assert_allclose(engine.score(batch).probabilities, explained.probabilities, atol=1e-6)
    assert explained.cams.shape[:2] == (len(batch), 3)
    assert np.isfinite(explained.cams).all() and 0.0 <= explained.cams.min() and explained.cams.max() <= 1.0 + 1e-6
