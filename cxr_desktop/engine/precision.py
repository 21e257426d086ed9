"""Run a float32 bundle in reduced precision (bfloat16 on CPU, float16 on GPU) for speed.

Bundles are always stored in float32. For inference the network is rebuilt with a Keras mixed
policy: weights stay float32, convolutions and matrix products run in the reduced format, and the
head (logits, softmax) stays float32 so probabilities are not rounded. This is kept only because
probabilities stay within 0.01 of float32 on real images (``tests/engine/test_precision.py``).
"""

from __future__ import annotations

#: Mixed Keras policy per reduced precision.
MIXED_POLICIES = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def with_precision(model, precision: str, keep_float32: tuple[str, ...]):
    """Return ``model`` itself for float32, else a clone computing in ``precision`` with the same weights.

    ``keep_float32`` names layers that stay float32 (the logits and the softmax).
    """
    if precision == "float32":
        return model
    import keras

    policy = MIXED_POLICIES[precision]

    def rebuild(layer):
        config = layer.get_config()
        if layer.name not in keep_float32 and not isinstance(layer, keras.layers.InputLayer):
            config["dtype"] = policy
        return layer.__class__.from_config(config)

    clone = keras.models.clone_model(model, clone_function=rebuild)
    for layer in model.layers:
        for target, source in zip(clone.get_layer(layer.name).weights, layer.weights, strict=True):
            target.assign(source)
    return clone
