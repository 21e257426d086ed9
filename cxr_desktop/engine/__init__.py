"""Inference engines behind one interface; ``load_engine`` picks the backend for this machine.

Only this package touches an inference runtime (ONNX Runtime, OpenVINO, TensorFlow), always lazily
inside functions, so importing it costs nothing.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from pathlib import Path
from typing import Any

from cxr_desktop.core.bundle import ModelBundle
from cxr_desktop.core.errors import BundleError

log = logging.getLogger(__name__)

#: ``auto`` or one runtime by name; the CLI's ``--engine`` and the settings use these names.
BACKENDS = ("auto", "onnxruntime", "openvino", "tensorflow")

RUNTIME_NAMES = {"onnxruntime": "ONNX Runtime", "openvino": "OpenVINO", "tensorflow": "TensorFlow"}

#: Set to one of ``BACKENDS`` to override the automatic choice for every engine in the process.
BACKEND_ENV = "CXR_ENGINE"

#: The CPU runtime ``auto`` prefers when both are installed: the faster on the bundled model in
#: ``bench/engine_variants.py`` (AMD EPYC, 2 cores, AVX2, float32).
CPU_PREFERENCE = ("openvino", "onnxruntime")


def installed(module: str) -> bool:
    return importlib.util.find_spec(module) is not None


def nvidia_gpu_present() -> bool:
    """A cheap look for an NVIDIA device node, so no runtime is imported just to learn there is no GPU."""
    return Path("/dev/nvidia0").exists() or Path("/proc/driver/nvidia/gpus").is_dir()


def cuda_onnxruntime() -> bool:
    if not installed("onnxruntime"):
        return False
    import onnxruntime

    return "CUDAExecutionProvider" in onnxruntime.get_available_providers()


def choose_backend(bundle: ModelBundle, requested: str = "auto") -> tuple[str, bool]:
    """(backend, on GPU): the runtime that will score ``bundle`` here, and whether it uses the GPU."""
    override = os.environ.get(BACKEND_ENV, "")
    if requested == "auto" and override:
        requested = override
    if requested not in BACKENDS:
        raise BundleError(f"unknown backend {requested!r}; choose one of {', '.join(BACKENDS)}")
    gpu = nvidia_gpu_present()
    if requested == "auto":
        if bundle.onnx is None:
            requested = "tensorflow"
        elif gpu and cuda_onnxruntime():
            return "onnxruntime", True
        elif gpu and installed("tensorflow"):
            requested = "tensorflow"
        else:
            requested = next((name for name in CPU_PREFERENCE if installed(name)), "onnxruntime")
    package = {"onnxruntime": "onnxruntime", "openvino": "openvino", "tensorflow": "tensorflow"}[requested]
    if not installed(package):
        extra = "trainer" if requested == "tensorflow" else requested
        raise BundleError(f"the {requested} backend is not installed (pip install .[{extra}])")
    return requested, gpu and requested != "openvino"


def resolve(bundle: ModelBundle, backend: str = "auto", precision: str = "auto") -> tuple[str, str, bool]:
    """(backend, precision, on GPU) that ``load_engine`` will use, without loading anything: a Dask
    client names the engine its workers run, and every engine choice is made here."""
    from cxr_desktop.engine.device import select_precision

    chosen, gpu = choose_backend(bundle, backend)
    if chosen == "tensorflow":
        return chosen, select_precision(precision, "/GPU:0" if gpu else "/CPU:0"), gpu
    if precision == "auto":
        precision = graph_precision(bundle, chosen, gpu)
    if precision not in ("float32", "int8", "bfloat16"):
        raise BundleError(f"the {chosen} backend computes in float32, int8 or bfloat16, not {precision}")
    return chosen, precision, gpu


def provenance(bundle: ModelBundle, backend: str, precision: str) -> dict[str, str]:
    """The CSV's ``model`` and ``engine`` columns for results of ``bundle`` on this engine, e.g.
    ``densenet121-3class v2.0.0`` and ``OpenVINO float32`` (no core count: a Dask worker pinned to
    one core and a serial run on two write the same CSV)."""
    return {"model": bundle.title, "engine": f"{RUNTIME_NAMES[backend]} {precision}"}


def load_engine(bundle: ModelBundle, *, backend: str = "auto", precision: str = "auto", warm_up: bool = True) -> Any:
    """A loaded, verified, warmed-up engine for ``bundle``: what the GUI, ``screen`` and the tests call.

    Every engine offers ``spec``, ``classes``, ``bundle``, ``score``, ``explain``, ``precision``,
    ``backend`` and ``device_description`` (what the status bar and the report name).
    """
    chosen, resolved, gpu = resolve(bundle, backend, precision)
    if chosen == "tensorflow":
        from cxr_desktop.engine.tensorflow_engine import Engine

        return Engine(bundle, warm_up=warm_up, precision=precision)
    from cxr_desktop.engine.graph_engine import GraphEngine

    return GraphEngine(bundle, runtime=chosen, precision=resolved, gpu=gpu, warm_up=warm_up)


def graph_precision(bundle: ModelBundle, runtime: str, gpu: bool) -> str:
    """``auto`` for the exported graph: int8 where the bundle's accuracy gate passed, else bfloat16 on
    OpenVINO on a CPU with native bf16 (the same rule as the TensorFlow engine, held to probabilities
    within 0.01 of float32 by tests/engine/test_precision.py), else float32."""
    from cxr_desktop.engine.device import cpu_has_bf16

    if gpu:
        return "float32"
    if bundle.onnx is not None and bundle.onnx.int8_default:
        return "int8"
    return "bfloat16" if runtime == "openvino" and cpu_has_bf16() else "float32"
