"""Export a bundle's Keras network as an ONNX graph, so the app can score without TensorFlow.

The graph has one input (``images``, N x S x S x C float32, preprocessed) and three outputs:
``logits`` (N x C, before calibration: the temperature stays in ``metadata.json``), ``features``
(N x K pooled, for the OOD gate) and ``cams`` (N x C x h x w, in [0, 1]). The class maps come out of
the forward pass: for a global-average-pooling + linear head Grad-CAM equals CAM from the dense
kernel (``cxr_desktop.engine.tensorflow_engine.linear_head_kernel``), so the runtimes need no gradient.
Existing bundles are re-exported, never retrained: the weights are the ones in ``model.keras``.
"""

from __future__ import annotations

import logging
from pathlib import Path

from cxr_desktop.core.atomic import atomic_path
from cxr_desktop.core.bundle import MODEL_FILE, ModelBundle, load_bundle, write_metadata
from cxr_desktop.core.errors import BundleError

log = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
OPSET = 17
OUTPUTS = ("logits", "features", "cams")


def inference_function(bundle: ModelBundle):
    """The TensorFlow function the graph is traced from: images -> (logits, features, cams)."""
    import keras

    from cxr_desktop.engine.tensorflow_engine import CAM_EPSILON, import_tensorflow, linear_head_kernel

    tf = import_tensorflow()
    model = keras.saving.load_model(bundle.model_path, safe_mode=True, compile=False)
    kernel = linear_head_kernel(model, bundle)
    if kernel is None:
        raise BundleError(
            f"bundle {bundle.title}: its head is not global pooling + a linear layer, so its heat-map needs a"
            " gradient and cannot be exported to ONNX; use the TensorFlow engine for it"
        )
    probe = keras.Model(
        model.inputs,
        [
            model.get_layer(bundle.gradcam_layer).output,
            model.get_layer(bundle.feature_layer).output,
            model.get_layer(bundle.logits_layer).output,
        ],
    )
    cam_kernel = tf.cast(kernel, tf.float32)
    spec = bundle.preprocessing

    @tf.function(input_signature=[tf.TensorSpec((None, spec.size, spec.size, spec.channels), tf.float32)])
    def forward(images):
        activations, features, logits = probe(images, training=False)
        cams = tf.nn.relu(tf.einsum("nhwk,kc->nchw", activations, cam_kernel))
        cams = cams / (tf.reduce_max(cams, axis=[2, 3], keepdims=True) + CAM_EPSILON)
        return logits, features, cams

    return forward


def convert(bundle: ModelBundle, out: Path) -> None:
    """Trace, freeze and convert the network; outputs renamed to ``OUTPUTS``."""
    import onnx
    import tf2onnx
    from tensorflow.python.framework.convert_to_constants import convert_variables_to_constants_v2

    frozen = convert_variables_to_constants_v2(inference_function(bundle).get_concrete_function())
    graph, _ = tf2onnx.convert.from_graph_def(
        frozen.graph.as_graph_def(),
        input_names=[tensor.name for tensor in frozen.inputs],
        output_names=[tensor.name for tensor in frozen.outputs],
        opset=OPSET,
    )
    renames = {output.name: name for output, name in zip(graph.graph.output, OUTPUTS, strict=True)}
    renames[graph.graph.input[0].name] = "images"
    for value in [*graph.graph.output, *graph.graph.input]:
        value.name = renames[value.name]
    for node in graph.graph.node:
        node.input[:] = [renames.get(name, name) for name in node.input]
        node.output[:] = [renames.get(name, name) for name in node.output]
    onnx.checker.check_model(graph)
    with atomic_path(out) as tmp:
        onnx.save(graph, str(tmp))


def export_onnx(folder: Path) -> ModelBundle:
    """Write ``model.onnx`` into the bundle at ``folder`` and record it (and its hash) in the metadata.

    A quantised copy recorded earlier is dropped: it was made from the previous graph.
    """
    bundle = load_bundle(folder)
    convert(bundle, folder / ONNX_FILE)
    metadata = dict(bundle.metadata)
    metadata["onnx"] = {
        "file": ONNX_FILE,
        "opset": OPSET,
        "inputs": {"images": "N x S x S x C float32, preprocessed as in 'preprocessing'"},
        "outputs": {
            "logits": "N x C before calibration (divide by calibration.temperature, then softmax)",
            "features": "N x K pooled features of feature_layer (the OOD gate's input)",
            "cams": "N x C x h x w class activation maps of gradcam_layer, ReLU, each scaled to peak 1",
        },
        "exported_from": {MODEL_FILE: bundle.sha256},
    }
    log.info("exported %s to %s", bundle.title, folder / ONNX_FILE)
    return write_metadata(folder, metadata)
