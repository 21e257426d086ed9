"""Scoring on the bundle's exported ONNX graph with ONNX Runtime or OpenVINO: no TensorFlow.

The graph already returns logits, pooled features and the class activation maps (see
``trainer.onnx_export``), so scoring and explaining are one forward pass; what is left here is the
calibration (softmax of logits over the bundle's temperature), which stays in ``metadata.json`` so
the graph never has to be re-exported when a bundle is recalibrated.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from cxr_desktop.core.bundle import ModelBundle
from cxr_desktop.core.errors import BundleError
from cxr_desktop.core.scoring import Scores
from cxr_desktop.engine import RUNTIME_NAMES
from cxr_desktop.engine.device import usable_cores

log = logging.getLogger(__name__)


GraphRunner = Callable[[np.ndarray], tuple[np.ndarray, np.ndarray, np.ndarray]]


def onnxruntime_runner(path: Path, threads: int, *, gpu: bool, bf16: bool) -> tuple[GraphRunner, str]:
    """An ONNX Runtime session on the CUDA provider where asked and present, else the CPU (it
    computes this graph in float32 only: ``GraphEngine`` refuses bf16 for it)."""
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    providers = ["CPUExecutionProvider"]
    if gpu and "CUDAExecutionProvider" in ort.get_available_providers():
        providers.insert(0, "CUDAExecutionProvider")
    session = ort.InferenceSession(str(path), options, providers=providers)
    device = "GPU (CUDA)" if session.get_providers()[0] == "CUDAExecutionProvider" else "CPU"

    def run(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        logits, features, cams = session.run(["logits", "features", "cams"], {"images": images})
        return logits, features, cams

    return run, device


def openvino_runner(path: Path, threads: int, *, gpu: bool, bf16: bool) -> tuple[GraphRunner, str]:
    """An OpenVINO model compiled for the CPU (``gpu`` is not used: the GPU goes to ONNX Runtime or
    TensorFlow), in float32 unless ``bf16`` (OpenVINO's own default on CPUs with native bf16 would
    be bf16 whatever the engine was asked for)."""
    import openvino as ov

    hint = "bf16" if bf16 else "f32"
    compiled = ov.Core().compile_model(
        str(path),
        "CPU",
        {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": hint, "PERFORMANCE_HINT": "LATENCY"},
    )
    request = compiled.create_infer_request()
    outputs = [compiled.output(name) for name in ("logits", "features", "cams")]

    def run(images: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        result = request.infer({"images": images})
        logits, features, cams = (np.array(result[port]) for port in outputs)
        return logits, features, cams

    return run, "CPU"


RUNNERS: dict[str, Callable[..., tuple[GraphRunner, str]]] = {
    "onnxruntime": onnxruntime_runner,
    "openvino": openvino_runner,
}


def softmax(logits: np.ndarray, inverse_temperature: float) -> np.ndarray:
    scaled = logits.astype(np.float64) * inverse_temperature
    scaled -= scaled.max(axis=1, keepdims=True)
    exp = np.exp(scaled)
    return (exp / exp.sum(axis=1, keepdims=True)).astype(np.float32)


class GraphEngine:
    """A loaded, warmed-up exported graph. Not thread-safe: use it from one worker thread."""

    def __init__(
        self,
        bundle: ModelBundle,
        *,
        runtime: str = "onnxruntime",
        precision: str = "float32",
        gpu: bool = False,
        threads: int | None = None,
        warm_up: bool = True,
    ) -> None:
        started = time.perf_counter()
        if bundle.onnx is None:
            raise BundleError(
                f"bundle {bundle.title} has no ONNX graph; export it with `cxr-train export-onnx {bundle.folder}`"
                " or install the trainer extra to score it with TensorFlow"
            )
        if precision == "int8" and bundle.onnx.int8_file is None:
            raise BundleError(f"bundle {bundle.title} has no int8 graph")
        if precision == "bfloat16" and runtime != "openvino":
            raise BundleError(f"{RUNTIME_NAMES[runtime]} computes this graph in float32 or int8, not bfloat16")
        self.bundle = bundle
        self.spec = bundle.preprocessing
        self.classes = bundle.classes
        self.precision = precision
        self.backend = runtime
        self.gradcam_method = "closed form"
        file = bundle.onnx.int8_file if precision == "int8" else bundle.onnx.file
        self.threads = threads or usable_cores()
        try:
            runner = RUNNERS[runtime]
            self._run, device = runner(bundle.folder / str(file), self.threads, gpu=gpu, bf16=precision == "bfloat16")
        except (OSError, RuntimeError, ValueError) as exc:
            raise BundleError(
                f"graph of bundle {bundle.title} cannot be loaded by {RUNTIME_NAMES[runtime]}: {exc}"
            ) from None
        self._inverse_temperature = 1.0 / bundle.temperature
        if device == "CPU":
            cores = f"{self.threads} core{'s' if self.threads != 1 else ''}"
            self.device_description = f"CPU ({cores}, {RUNTIME_NAMES[runtime]}, {precision})"
        else:
            self.device_description = f"{device} ({RUNTIME_NAMES[runtime]}, {precision})"
        if warm_up:
            self.warm_up()
        self.load_seconds = time.perf_counter() - started
        log.info("loaded %s on %s in %.2fs", bundle.title, self.device_description, self.load_seconds)

    def warm_up(self) -> None:
        """Run one blank image so the first real one does not pay for memory planning."""
        self.explain(np.zeros((1, self.spec.size, self.spec.size, self.spec.channels), np.float32))

    def explain(self, images: np.ndarray) -> Scores:
        """Calibrated probabilities, pooled features and CAMs (N, C, h, w) in [0, 1]."""
        logits, features, cams = self._run(np.ascontiguousarray(images, np.float32))
        return Scores(softmax(logits, self._inverse_temperature), features.astype(np.float32), cams)

    def score(self, images: np.ndarray) -> Scores:
        """As ``explain`` without the maps: they come from the same forward pass, so this costs the same."""
        scores = self.explain(images)
        return Scores(scores.probabilities, scores.features)
