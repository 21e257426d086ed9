"""Engine: owns TensorFlow, loads a bundle once, and scores and explains batches.

Traced functions with a fixed input signature (so nothing retraces per call): ``score`` returns
calibrated probabilities and pooled features (for the OOD gate); ``explain`` also returns Grad-CAM
maps for every class from the bundle's Grad-CAM layer. When the head on that layer is global
average pooling, dropout and a linear dense layer (every bundle the trainer writes), Grad-CAM has a
closed form and comes out of the forward pass itself, so one traced function serves both; other
heads get Grad-CAM from the gradient of the logits, traced separately.

Precision: ``auto`` computes in bfloat16 on CPUs with native bf16 and in float16 on a GPU (see
``engine.precision``), float32 elsewhere; outputs are always float32.
"""

from __future__ import annotations

import logging
import os
import sys
import tempfile
import time
from contextlib import contextmanager

import numpy as np

from cxr_desktop.core.bundle import ModelBundle
from cxr_desktop.core.errors import BundleError
from cxr_desktop.core.scoring import Scores

log = logging.getLogger(__name__)

CAM_EPSILON = 1e-7

#: Modules Keras imports at start-up for features the engine does not use (see import_tensorflow).
KERAS_EXTRAS = ("sklearn", "matplotlib.pyplot")


def import_tensorflow():
    """Import TensorFlow and Keras the way the app does, without two modules Keras never needs here.

    At import time Keras loads scikit-learn (with SciPy) only to define its scikit-learn wrappers,
    and ``matplotlib.pyplot`` only for an image-gallery plot; the engine uses neither. Hiding them
    for the length of the import takes ~0.9 s off the cold start (bench/single_image_latency.py);
    importing either later in the same process works as usual.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    hidden = [name for name in KERAS_EXTRAS if name not in sys.modules]
    for name in hidden:
        sys.modules[name] = None
    try:
        with _native_stderr_to_log():
            import keras  # noqa: F401
            import tensorflow as tf
    finally:
        for name in hidden:
            if name in sys.modules and sys.modules[name] is None:
                del sys.modules[name]
    return tf


@contextmanager
def _native_stderr_to_log():
    """Send what native code writes to file descriptor 2 into the log instead of the terminal.

    TensorFlow's C++ start-up prints notices (oneDNN, absl) before its log level applies, so
    ``TF_CPP_MIN_LOG_LEVEL`` cannot silence them and they would clutter the CLI's output.
    """
    try:
        saved = os.dup(2)
    except OSError:
        yield
        return
    with tempfile.TemporaryFile() as capture:
        sys.stderr.flush()
        os.dup2(capture.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            capture.seek(0)
            for line in capture.read().decode("utf-8", "replace").splitlines():
                if line.strip():
                    log.info("tensorflow start-up: %s", line)


def linear_head_kernel(model, bundle: ModelBundle):
    """The logits' kernel (K, C) when Grad-CAM has a closed form for this network, else None.

    With logits = W^T GAP(A) + b (dropout is the identity at inference), every position of the
    feature map A has d logit_c / d A_hwk = W_kc / (h*w), so Grad-CAM's channel weights are W's
    columns up to a constant and Grad-CAM equals CAM (Selvaraju et al. 2017, section 3.1): the maps
    need no backward pass, which halves the cold start's tracing and the cost of an explanation.
    """
    import keras

    try:
        pooled = model.get_layer(bundle.feature_layer)
        logits = model.get_layer(bundle.logits_layer)
        activations = model.get_layer(bundle.gradcam_layer).output
    except ValueError:
        return None
    if not isinstance(pooled, keras.layers.GlobalAveragePooling2D) or pooled.input is not activations:
        return None
    if not isinstance(logits, keras.layers.Dense) or logits.activation is not keras.activations.linear:
        return None
    dropouts = {id(layer.output): layer for layer in model.layers if isinstance(layer, keras.layers.Dropout)}
    tensor = logits.input
    while tensor is not pooled.output:
        if id(tensor) not in dropouts:
            return None
        tensor = dropouts[id(tensor)].input
    return logits.kernel


def _normalise_cams(tf, cams):
    """ReLU, then each map scaled to a peak of 1 (an all-zero map stays zero, never NaN)."""
    cams = tf.nn.relu(cams)
    return cams / (tf.reduce_max(cams, axis=[2, 3], keepdims=True) + CAM_EPSILON)


class Engine:
    """A loaded, verified, warmed-up model. Not thread-safe: use it from one worker thread."""

    def __init__(self, bundle: ModelBundle, *, warm_up: bool = True, precision: str = "auto") -> None:
        from cxr_desktop.engine import device as devices
        from cxr_desktop.engine.precision import set_precision

        started = time.perf_counter()
        tf = import_tensorflow()
        import keras

        self.bundle = bundle
        self.backend = "tensorflow"
        self.spec = bundle.preprocessing
        self.classes = bundle.classes
        self._tf = tf
        self.device = devices.select_device(tf)
        self.graph_rewrites = devices.configure_graph_rewrites(tf, self.device)
        self.precision = devices.select_precision(precision, self.device)
        self.device_description = devices.describe(tf, self.device, self.precision)
        try:
            with tf.device(self.device):
                model = keras.saving.load_model(bundle.model_path, safe_mode=True, compile=False)
        except Exception as exc:  # noqa: BLE001 - Keras raises many types for a bad file
            raise BundleError(f"model of bundle {bundle.title} cannot be loaded: {exc}") from None
        self._check_against_metadata(model)
        set_precision(model, self.precision, keep_float32=(bundle.logits_layer, *model.output_names))
        try:
            probe = keras.Model(
                model.inputs,
                [
                    model.get_layer(bundle.gradcam_layer).output,
                    model.get_layer(bundle.feature_layer).output,
                    model.get_layer(bundle.logits_layer).output,
                ],
            )
        except ValueError as exc:
            raise BundleError(f"bundle {bundle.title}: layer named in metadata not found ({exc})") from None
        self._probe = probe
        self._inverse_temperature = tf.constant(1.0 / bundle.temperature, tf.float32)
        kernel = linear_head_kernel(model, bundle)
        self.gradcam_method = "closed form" if kernel is not None else "gradient"
        signature = [tf.TensorSpec((None, self.spec.size, self.spec.size, self.spec.channels), tf.float32)]
        if kernel is not None:
            self._cam_kernel = tf.cast(kernel, tf.float32)
            self._explain_fn = tf.function(self._closed_form_graph, input_signature=signature)
            self._score_fn = None
        else:
            self._explain_fn = tf.function(self._gradient_graph, input_signature=signature)
            self._score_fn = tf.function(self._score_graph, input_signature=signature)
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

    def _head_outputs(self, features, logits):
        """Calibrated float32 probabilities and float32 pooled features, whatever the compute precision."""
        tf = self._tf
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32) * self._inverse_temperature)
        return probabilities, tf.cast(features, tf.float32)

    def _score_graph(self, images):
        _, features, logits = self._probe(images, training=False)
        return self._head_outputs(features, logits)

    def _gradient_graph(self, images):
        tf = self._tf
        with tf.GradientTape() as tape:
            activations, features, logits = self._probe(images, training=False)
        # d logits / d activations for every class at once: (N, C, h, w, K)
        jacobian = tf.cast(tape.batch_jacobian(logits, activations), tf.float32)
        channel_weights = tf.reduce_mean(jacobian, axis=[2, 3])
        cams = tf.einsum("nck,nhwk->nchw", channel_weights, tf.cast(activations, tf.float32))
        return (*self._head_outputs(features, logits), _normalise_cams(tf, cams))

    def _closed_form_graph(self, images):
        tf = self._tf
        activations, features, logits = self._probe(images, training=False)
        # Grad-CAM's channel weights are the kernel column over h*w here; the scale cancels below.
        cams = tf.einsum("nhwk,kc->nchw", tf.cast(activations, tf.float32), self._cam_kernel)
        return (*self._head_outputs(features, logits), _normalise_cams(tf, cams))

    def warm_up(self) -> None:
        """Trace the functions once so the first real image is as fast as the rest."""
        blank = np.zeros((1, self.spec.size, self.spec.size, self.spec.channels), np.float32)
        self._explain_fn(blank)
        if self._score_fn is not None:
            self._score_fn(blank)

    def score(self, images: np.ndarray) -> Scores:
        """Calibrated probabilities and pooled features for a (N, S, S, C) float32 batch."""
        with self._tf.device(self.device):
            if self._score_fn is None:
                probabilities, features, _ = self._explain_fn(np.asarray(images, np.float32))
            else:
                probabilities, features = self._score_fn(np.asarray(images, np.float32))
        return Scores(probabilities.numpy(), features.numpy())

    def explain(self, images: np.ndarray) -> Scores:
        """As ``score``, plus Grad-CAM maps (N, C, h, w) in [0, 1] at feature-map resolution."""
        with self._tf.device(self.device):
            probabilities, features, cams = self._explain_fn(np.asarray(images, np.float32))
        return Scores(probabilities.numpy(), features.numpy(), cams.numpy())
