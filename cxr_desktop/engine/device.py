"""Which device TensorFlow will run on, said in words a user understands."""

from __future__ import annotations

import os


def describe_devices(tf) -> tuple[str, str]:
    """Return (TensorFlow device string, human description): the first GPU if any, else the CPU."""
    gpus = tf.config.list_physical_devices("GPU")
    if gpus:
        details = tf.config.experimental.get_device_details(gpus[0])
        return "/GPU:0", f"GPU ({details.get('device_name', gpus[0].name)})"
    return "/CPU:0", f"CPU ({os.cpu_count()} cores)"
