"""Which device and number format TensorFlow will run on, said in words a user understands."""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger(__name__)

#: Number formats the engine can compute in. Weights stay float32 in every case.
PRECISIONS = ("auto", "float32", "bfloat16", "float16")

#: Set to one of ``PRECISIONS`` to override the automatic choice (e.g. ``float32`` to rule out
#: reduced precision when comparing against another tool).
PRECISION_ENV = "CXR_PRECISION"

#: Set to 1 to keep TensorFlow's grappler graph rewrites on a CPU, where the engine turns them off.
GRAPH_REWRITES_ENV = "CXR_GRAPH_REWRITES"


def usable_cores() -> int:
    """Cores this process may run on (the affinity mask), not the machine's total."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


def cpu_has_bf16(cpuinfo: Path = Path("/proc/cpuinfo")) -> bool:
    """True where the CPU multiplies bfloat16 natively (AVX512-BF16 or AMX); elsewhere bf16 is slower."""
    try:
        flags = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return "avx512_bf16" in flags or "amx_bf16" in flags


def select_device(tf) -> str:
    """The TensorFlow device string: the first GPU if TensorFlow sees one, else the CPU."""
    return "/GPU:0" if tf.config.list_physical_devices("GPU") else "/CPU:0"


def configure_graph_rewrites(tf, device: str) -> bool:
    """Turn grappler's graph rewrites off on a CPU; returns whether they stay on.

    For the engine's inference graph on a oneDNN CPU they change neither the probabilities
    (bit-identical) nor the speed, measured side by side (``bench/engine_variants.py --threads``),
    but optimising the ~1,500-op DenseNet graph at the first call costs ~0.9 s of the cold start
    (``bench/single_image_latency.py``). The switch is process-wide, which is why it is left alone
    on a GPU, where the layout rewrite feeds the tensor cores: the app's processes run no other
    graphs, and the trainer builds its training graphs in processes that start no engine first.
    """
    keep = device.startswith("/GPU") or os.environ.get(GRAPH_REWRITES_ENV, "") == "1"
    if not keep:
        tf.config.optimizer.set_experimental_options({"disable_meta_optimizer": True})
    return keep


def select_precision(requested: str, device: str) -> str:
    """Resolve ``auto``: float16 on a GPU, bfloat16 on a CPU with native bf16, else float32.

    Reduced precision is only chosen automatically because the bundled models' probabilities stay
    within 0.01 of float32 on real images in it (``tests/engine/test_precision.py`` checks this).
    """
    if requested not in PRECISIONS:
        raise ValueError(f"unknown precision {requested!r}; choose one of {', '.join(PRECISIONS)}")
    override = os.environ.get(PRECISION_ENV, "")
    if override in PRECISIONS:
        requested = override
    elif override:
        log.warning("ignoring %s=%r: choose one of %s", PRECISION_ENV, override, ", ".join(PRECISIONS))
    if requested != "auto":
        return requested
    if device.startswith("/GPU"):
        return "float16"
    return "bfloat16" if cpu_has_bf16() else "float32"


def describe(tf, device: str, precision: str) -> str:
    """What the engine runs on, e.g. ``CPU (2 cores, TensorFlow, bfloat16)`` or ``GPU (NVIDIA H100, TensorFlow,
    float16)``: the status bar, the CSV and the report name the backend and the precision."""
    if device.startswith("/GPU"):
        gpu = tf.config.list_physical_devices("GPU")[0]
        name = tf.config.experimental.get_device_details(gpu).get("device_name", gpu.name)
        return f"GPU ({name}, TensorFlow, {precision})"
    cores = usable_cores()
    return f"CPU ({cores} core{'s' if cores != 1 else ''}, TensorFlow, {precision})"
