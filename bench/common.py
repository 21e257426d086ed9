"""Shared by the benchmarks: which bundle to measure and which real images to feed it.

Every benchmark measures all of its variants in one process, on the same images and the same
bundle, so the ratios hold even when the machine is busy; absolute figures only mean something
on an otherwise idle machine.
"""

from __future__ import annotations

import argparse
import logging
import os
import platform
import time
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

log = logging.getLogger("bench")

REAL_MODEL = "densenet121-3class"
CLASSES3 = ["covid", "pneumonia", "normal"]


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--model",
        default=None,
        help=f"bundle name or folder (default: {REAL_MODEL} if present, else a random-weight"
        " DenseNet121 stand-in with the same architecture, hence the same speed)",
    )
    parser.add_argument("--quick", action="store_true", help="a short smoke run (fewer images and repeats)")


def speed_bundle(folder: Path):
    """A DenseNet121 at 224 px with random weights, written through the real bundle writer.

    Same architecture and input size as the bundled model, so the same speed; its probabilities
    mean nothing, so no accuracy claim may rest on it.
    """
    import keras

    from cxr_desktop.core.bundle import write_bundle
    from cxr_desktop.core.preprocessing import PreprocessingSpec
    from trainer.backbones import build_classifier

    keras.utils.set_random_seed(0)
    model, gradcam_layer, _ = build_classifier("densenet121", len(CLASSES3), size=224)
    metadata = {
        "name": "densenet121-speed-standin",
        "version": "0.0.1",
        "changelog": {"0.0.1": "benchmark stand-in"},
        "description": "random-weight DenseNet121 with the bundled model's architecture, for timing only",
        "intended_use": "benchmarks only",
        "authors": ["bench"],
        "data_source": "none",
        "references": [],
        "network_data_format": {
            "inputs": {"image": {"num_channels": 3, "spatial_shape": [224, 224], "value_range": [0, 1]}},
            "outputs": {"pred": {"num_channels": len(CLASSES3)}},
        },
        "classes": CLASSES3,
        "thresholds": {c: 0.5 for c in CLASSES3},
        "preprocessing": PreprocessingSpec(size=224).to_metadata(),
        "gradcam_layer": gradcam_layer,
        "feature_layer": "pooled",
        "logits_layer": "logits",
        "calibration": {"temperature": 1.0},
    }
    return write_bundle(folder, model, metadata)


def resolve_bundle(model: str | None):
    """The bundle named on the command line, else the real bundled model, else a stand-in."""
    from cxr_desktop.core.bundle import load_bundle, models_dir

    if model is not None:
        return load_bundle(model)
    if (models_dir() / REAL_MODEL / "metadata.json").is_file():
        return load_bundle(REAL_MODEL)
    folder = Path(tempfile.mkdtemp(prefix="cxr-bench-")) / "densenet121-standin"
    log.warning("%s not found: timing a random-weight DenseNet121 stand-in in %s", REAL_MODEL, folder)
    return speed_bundle(folder)


def real_images(count: int, *, cycle: bool = False) -> list[Path]:
    """``count`` real cxr3 radiographs, interleaved across the classes in a fixed order.

    ``cycle`` repeats the list to reach ``count`` when the data set is smaller (memory runs).
    """
    from trainer.data import default_data_dir

    root = default_data_dir()
    by_class = [sorted((root / label).glob("*.jpg")) for label in CLASSES3]
    interleaved = [p for group in zip(*by_class) for p in group]
    interleaved += [p for group in by_class for p in group[min(map(len, by_class)) :]]
    if not interleaved:
        raise SystemExit(f"no real images found under {root}; set CXR_DATA_DIR")
    if cycle:
        return [interleaved[i % len(interleaved)] for i in range(count)]
    return interleaved[:count]


def machine() -> str:
    """One line naming the machine, for the record next to every figure."""
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from cxr_desktop.engine.device import cpu_has_bf16, usable_cores

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return (
        f"{model or platform.processor()} | {usable_cores()} usable cores | avx512_bf16={cpu_has_bf16()}"
        f" | load average {load:.2f} | Python {platform.python_version()}"
    )


def forward_gflop(graph: Path, size: int) -> float:
    """Floating-point operations (2 per multiply-add) of one film through the graph's convolutions and products."""
    import numpy as np
    import openvino as ov

    model = ov.Core().read_model(str(graph))
    model.reshape({model.inputs[0].any_name: [1, size, size, 3]})
    macs = 0
    for op in model.get_ordered_ops():
        kind = op.get_type_name()
        if kind == "Convolution":
            weights = op.input(1).get_shape()
            macs += int(np.prod(op.output(0).get_shape())) * int(np.prod(list(weights)[1:]))
        elif kind == "MatMul":
            left, right = op.input(0).get_shape(), op.input(1).get_shape()
            macs += int(np.prod(list(left))) * int(right[-1] if not op.get_transpose_b() else right[-2])
    return 2 * macs / 1e9


def gemm_gflops(threads: int, side: int = 2048, repeats: int = 10) -> float:
    """What OpenVINO sustains here on the friendliest fp32 work there is, one large matrix product.

    A network can approach this rate but not pass it: it is the ceiling for any fp32 forward pass
    on this CPU with this runtime.
    """
    import numpy as np
    import openvino as ov
    import openvino.opset13 as ops

    left = ops.parameter([side, side], np.float32)
    right = ops.constant(np.random.default_rng(0).standard_normal((side, side), dtype=np.float32))
    compiled = ov.Core().compile_model(
        ov.Model([ops.matmul(left, right, False, False)], [left]),
        "CPU",
        {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32"},
    )
    data = np.random.default_rng(1).standard_normal((side, side), dtype=np.float32)
    compiled(data)
    started = time.perf_counter()
    for _ in range(repeats):
        compiled(data)
    return 2 * side**3 * repeats / (time.perf_counter() - started) / 1e9


def table(rows: list[tuple[str, ...]], header: tuple[str, ...]) -> str:
    """A plain fixed-width table for the terminal and for pasting into bench/README.md."""
    widths = [max(len(str(r[i])) for r in (header, *rows)) for i in range(len(header))]
    lines = ["  ".join(str(c).ljust(w) for c, w in zip(header, widths))]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(str(c).ljust(w) for c, w in zip(row, widths)) for row in rows]
    return "\n".join(lines)
