"""Network builders. Every model maps [0, 1] grey-as-RGB input to named, serialisable outputs.

The input normalisation each backbone expects lives inside the model (built-in layers only, so the
bundle loads in Keras safe mode), which keeps the shared preprocessing identical for all backbones.
Layer names the engine relies on: ``pooled`` (features for the OOD gate), ``logits``,
``probabilities``, and the Grad-CAM layer returned alongside the model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)


@dataclass(frozen=True)
class Backbone:
    """How to build one backbone, where its Grad-CAM layer is, and which blocks fine-tuning opens."""

    name: str
    gradcam_layer: str
    build: Callable[..., Any]
    normalise: str
    top_blocks: tuple[str, ...] = ()


def _normaliser(kind: str, keras):
    if kind == "torch":
        return keras.layers.Normalization(
            mean=list(IMAGENET_MEAN), variance=[s * s for s in IMAGENET_STD], name="input_norm"
        )
    if kind == "caffe":
        return keras.Sequential(
            [keras.layers.Rescaling(255.0), keras.layers.Normalization(mean=list(CAFFE_MEAN_BGR), variance=[1.0] * 3)],
            name="input_norm",
        )
    return keras.layers.Rescaling(2.0, offset=-1.0, name="input_norm")


def _small_cnn(input_tensor, weights=None, **_):
    import keras

    x = input_tensor
    for index, filters in enumerate((32, 64, 128, 256)):
        x = keras.layers.Conv2D(filters, 3, padding="same", use_bias=False, name=f"conv{index}")(x)
        x = keras.layers.BatchNormalization(name=f"bn{index}")(x)
        x = keras.layers.Activation("relu", name="last_conv" if index == 3 else f"relu{index}")(x)
        if index < 3:
            x = keras.layers.MaxPooling2D(name=f"pool{index}")(x)
    return keras.Model(keras.utils.get_source_inputs(input_tensor), x, name="small_cnn")


def backbones() -> dict[str, Backbone]:
    import keras

    apps = keras.applications
    return {
        "densenet121": Backbone("densenet121", "relu", apps.DenseNet121, "torch", ("conv5", "bn", "relu")),
        "resnet50": Backbone("resnet50", "conv5_block3_out", apps.ResNet50, "caffe", ("conv5",)),
        "vgg16": Backbone("vgg16", "block5_conv3", apps.VGG16, "caffe", ("block5",)),
        "inceptionv3": Backbone("inceptionv3", "mixed10", apps.InceptionV3, "tf", ("mixed9", "mixed10")),
        "small_cnn": Backbone("small_cnn", "last_conv", _small_cnn, "torch"),
    }


BACKBONE_NAMES = ("densenet121", "resnet50", "vgg16", "inceptionv3", "small_cnn")


def build_classifier(
    backbone: str,
    num_classes: int,
    *,
    size: int | None,
    channels: int = 3,
    weights: str | None = None,
    dropout: float = 0.2,
):
    """Backbone + global average pooling + dropout + dense logits + softmax, one flat graph.

    ``size=None`` builds a resolution-agnostic graph (used for progressive resizing); ``weights``
    is None, ``"imagenet"`` or a path to a weights file, as keras.applications accepts.
    Returns (model, gradcam_layer_name).
    """
    import keras

    spec = backbones()[backbone]
    inputs = keras.Input(shape=(size, size, channels), name="image")
    normalised = _normaliser(spec.normalise, keras)(inputs)
    base = spec.build(include_top=False, weights=weights, input_tensor=normalised)
    x = keras.layers.GlobalAveragePooling2D(name="pooled")(base.output)
    x = keras.layers.Dropout(dropout, name="head_dropout")(x)
    logits = keras.layers.Dense(num_classes, name="logits", dtype="float32")(x)
    outputs = keras.layers.Activation("softmax", name="probabilities", dtype="float32")(logits)
    return keras.Model(inputs, outputs, name=f"{backbone}_cxr"), spec.gradcam_layer, base
