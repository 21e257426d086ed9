"""Run a float32 bundle in reduced precision (bfloat16 on CPU, float16 on GPU) for speed.

Bundles are always stored in float32. For inference each layer of the loaded network is switched,
in place, to a Keras mixed policy: weights stay float32, convolutions and matrix products run in
the reduced format, and the head (logits, softmax) stays float32 so probabilities are not rounded.
Switching the policy in place costs milliseconds, where cloning the network into a new one cost
~0.9 s of the cold start. Reduced precision is kept only because probabilities stay within 0.01
of float32 on real images (``tests/engine/test_precision.py``).
"""

from __future__ import annotations

#: Mixed Keras policy per reduced precision.
MIXED_POLICIES = {"bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


def set_precision(model, precision: str, keep_float32: tuple[str, ...]) -> None:
    """Make ``model`` compute in ``precision`` from its next trace on; float32 leaves it unchanged.

    ``keep_float32`` names layers that stay float32 (the logits and the softmax). The model must
    not have been traced yet: a traced function keeps the dtypes it was traced with.
    """
    if precision == "float32":
        return
    import keras

    policy = MIXED_POLICIES[precision]
    for layer in model.layers:
        if layer.name not in keep_float32 and not isinstance(layer, keras.layers.InputLayer):
            layer.dtype_policy = policy
