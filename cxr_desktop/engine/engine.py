"""Engine: owns TensorFlow, loads a bundle once, and scores and explains batches.

Two traced functions with a fixed input signature (so nothing retraces per call):
``score`` returns calibrated probabilities and pooled features (for the OOD gate); ``explain``
also returns Grad-CAM maps for every class from the bundle's Grad-CAM layer, computed in the same
forward pass (the backward pass only runs through the head, from the logits to that layer).

Precision: ``auto`` computes in bfloat16 on CPUs with native bf16 and in float16 on a GPU (see
``engine.precision``), float32 elsewhere; outputs are always float32.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

import numpy as np

from cxr_desktop.core.bundle import ModelBundle
from cxr_desktop.core.errors import BundleError

log = logging.getLogger(__name__)

CAM_EPSILON = 1e-7


@dataclass(frozen=True)
class Scores:
    """Engine output for a batch of N preprocessed images and C classes."""

    probabilities: np.ndarray
    features: np.ndarray
    cams: np.ndarray | None = None


def _import_tf():
    import os

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import tensorflow as tf

    return tf


class Engine:
    """A loaded, verified, warmed-up model. Not thread-safe: use it from one worker thread."""

    def __init__(self, bundle: ModelBundle, *, warm_up: bool = True, precision: str = "auto") -> None:
        from cxr_desktop.engine import device as devices
        from cxr_desktop.engine.precision import with_precision

        started = time.perf_counter()
        tf = _import_tf()
        import keras

        self.bundle = bundle
        self.spec = bundle.preprocessing
        self.classes = bundle.classes
        self._tf = tf
        self.device = devices.select_device(tf)
        self.precision = devices.select_precision(precision, self.device)
        self.device_description = devices.describe(tf, self.device, self.precision)
        meta = bundle.metadata
        try:
            with tf.device(self.device):
                model = keras.saving.load_model(bundle.model_path, safe_mode=True, compile=False)
        except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad file
            raise BundleError(f"model of bundle {bundle.title} cannot be loaded: {exc}") from None
        self._check_against_metadata(model)
        with tf.device(self.device):
            model = with_precision(model, self.precision, keep_float32=(meta["logits_layer"], *model.output_names))
        try:
            probe = keras.Model(
                model.inputs,
                [model.get_layer(meta["gradcam_layer"]).output,
                 model.get_layer(meta["feature_layer"]).output,
                 model.get_layer(meta["logits_layer"]).output],
            )
        except ValueError as exc:
            raise BundleError(f"bundle {bundle.title}: layer named in metadata not found ({exc})") from None
        self._probe = probe
        self._inverse_temperature = tf.constant(1.0 / bundle.temperature, tf.float32)
        signature = [tf.TensorSpec((None, self.spec.size, self.spec.size, self.spec.channels), tf.float32)]
        self._score_fn = tf.function(self._score_graph, input_signature=signature)
        self._explain_fn = tf.function(self._explain_graph, input_signature=signature)
        if warm_up:
            self.warm_up()
        self.load_seconds = time.perf_counter() - started
        log.info("loaded %s on %s in %.1fs", bundle.title, self.device_description, self.load_seconds)

    def _check_against_metadata(self, model) -> None:
        input_shape = tuple(model.inputs[0].shape[1:])
        expected = (self.spec.size, self.spec.size, self.spec.channels)
        if input_shape != expected:
            raise BundleError(
                f"bundle {self.bundle.title}: network input {input_shape} does not match metadata {expected}"
            )
        outputs = int(model.outputs[0].shape[-1])
        if outputs != len(self.classes):
            raise BundleError(
                f"bundle {self.bundle.title}: network has {outputs} outputs but metadata lists"
                f" {len(self.classes)} classes"
            )

    def _score_graph(self, images):
        tf = self._tf
        _, features, logits = self._probe(images, training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32) * self._inverse_temperature)
        return probabilities, tf.cast(features, tf.float32)

    def _explain_graph(self, images):
        tf = self._tf
        with tf.GradientTape() as tape:
            activations, features, logits = self._probe(images, training=False)
        # d logits / d activations for every class at once: (N, C, h, w, K)
        jacobian = tf.cast(tape.batch_jacobian(logits, activations), tf.float32)
        channel_weights = tf.reduce_mean(jacobian, axis=[2, 3])
        cams = tf.nn.relu(tf.einsum("nck,nhwk->nchw", channel_weights, tf.cast(activations, tf.float32)))
        peak = tf.reduce_max(cams, axis=[2, 3], keepdims=True)
        cams = cams / (peak + CAM_EPSILON)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32) * self._inverse_temperature)
        return probabilities, tf.cast(features, tf.float32), cams

    def warm_up(self) -> None:
        """Trace both functions once so the first real image is as fast as the rest."""
        blank = np.zeros((1, self.spec.size, self.spec.size, self.spec.channels), np.float32)
        self._score_fn(blank)
        self._explain_fn(blank)

    def score(self, images: np.ndarray) -> Scores:
        """Calibrated probabilities and pooled features for a (N, S, S, C) float32 batch."""
        with self._tf.device(self.device):
            probabilities, features = self._score_fn(np.asarray(images, np.float32))
        return Scores(probabilities.numpy(), features.numpy())

    def explain(self, images: np.ndarray) -> Scores:
        """As ``score``, plus Grad-CAM maps (N, C, h, w) in [0, 1] at feature-map resolution."""
        with self._tf.device(self.device):
            probabilities, features, cams = self._explain_fn(np.asarray(images, np.float32))
        return Scores(probabilities.numpy(), features.numpy(), cams.numpy())
