"""Inference engines behind one interface; ``load_engine`` picks the backend for this machine.

Only this package touches an inference runtime (TensorFlow, ONNX Runtime, OpenVINO), always lazily
inside functions, so importing it costs nothing.
"""

from __future__ import annotations

from typing import Any

from cxr_desktop.core.bundle import ModelBundle


def load_engine(bundle: ModelBundle, *, backend: str = "auto", precision: str = "auto", warm_up: bool = True) -> Any:
    """A loaded, verified, warmed-up engine for ``bundle``: what the GUI, ``screen`` and the tests call."""
    from cxr_desktop.engine.engine import Engine

    return Engine(bundle, warm_up=warm_up, precision=precision)
