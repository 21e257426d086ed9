"""Reduced precision is only used where it does not change the answer (issue 6).

The engine computes in bfloat16 on CPUs with native bf16 and in float16 on GPUs. These tests hold
that choice to the rule: on real radiographs and the real bundled model, every probability stays
within 0.01 of float32, and the Grad-CAM maps stay close. If one fails, reduced precision must
not be chosen automatically (``cxr_desktop/engine/device.py: select_precision``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from cxr_desktop.core.preprocessing import preprocess
from cxr_desktop.core.radiograph import load_radiograph

TOLERANCE = 0.01
IMAGES_PER_CLASS = 32


@pytest.fixture(scope="module")
def real_batch(cxr3, bundle_3class):
    """Real radiographs from every class of cxr3 (any split: agreement, not accuracy, is measured)."""
    spec = bundle_3class.preprocessing
    paths = [
        p for label in ("covid", "pneumonia", "normal") for p in sorted((cxr3 / label).glob("*.jpg"))[:IMAGES_PER_CLASS]
    ]
    return np.stack([preprocess(load_radiograph(p).pixels, spec) for p in paths])


@pytest.fixture(scope="module")
def float32_scores(bundle_3class, real_batch):
    from cxr_desktop.engine.tensorflow_engine import Engine

    engine = Engine(bundle_3class, precision="float32")
    return _explain_in_batches(engine, real_batch)


def _explain_in_batches(engine, images, size: int = 16):
    parts = [engine.explain(images[i : i + size]) for i in range(0, len(images), size)]
    return (np.concatenate([p.probabilities for p in parts]), np.concatenate([p.cams for p in parts]))


def _reduced_engine(bundle, precision: str):
    import tensorflow as tf

    from cxr_desktop.engine.tensorflow_engine import Engine

    if precision == "float16" and not tf.config.list_physical_devices("GPU"):
        pytest.skip("float16 is only chosen on a GPU, and TensorFlow sees none here")
    return Engine(bundle, precision=precision)


@pytest.mark.parametrize("precision", ["bfloat16", "float16"])
def test_reduced_precision_probabilities_within_001_of_float32(bundle_3class, real_batch, float32_scores, precision):
    engine = _reduced_engine(bundle_3class, precision)
    probabilities, cams = _explain_in_batches(engine, real_batch)
    reference, reference_cams = float32_scores
    worst = float(np.abs(probabilities - reference).max())
    assert worst <= TOLERANCE, f"{precision} moves a probability by {worst:.4f} (> {TOLERANCE})"
    # a probability moved by <= TOLERANCE can only swap the headline of a near-tie
    top_two = np.sort(reference, axis=1)[:, -2:]
    clear = (top_two[:, 1] - top_two[:, 0]) > 2 * TOLERANCE
    assert (probabilities.argmax(axis=1) == reference.argmax(axis=1))[clear].all()
    assert float(np.abs(cams - reference_cams).mean()) <= 0.05


@pytest.fixture(scope="module")
def tensorflow_engine(bundle_3class):
    """The TensorFlow reference engine with the precision it picks automatically."""
    from cxr_desktop.engine.tensorflow_engine import Engine

    return Engine(bundle_3class)


def test_automatic_precision_is_the_one_checked_above(tensorflow_engine, engine_3class):
    from cxr_desktop.engine import graph_precision
    from cxr_desktop.engine.device import select_precision

    assert tensorflow_engine.precision == select_precision("auto", tensorflow_engine.device)
    assert tensorflow_engine.precision in ("float32", "bfloat16", "float16")
    assert engine_3class.precision == graph_precision(engine_3class.bundle, engine_3class.backend, False)


def test_openvino_bfloat16_probabilities_within_001_of_float32(bundle_3class, real_batch, float32_scores):
    from cxr_desktop.engine import load_engine
    from cxr_desktop.engine.device import cpu_has_bf16

    if not cpu_has_bf16():
        pytest.skip("OpenVINO computes bfloat16 only on CPUs with native bf16 (AVX512-BF16/AMX); this one has none")
    probabilities, _ = _explain_in_batches(
        load_engine(bundle_3class, backend="openvino", precision="bfloat16"), real_batch
    )
    assert float(np.abs(probabilities - float32_scores[0]).max()) <= TOLERANCE


def test_turning_graph_rewrites_off_changes_no_probability(tensorflow_engine, real_batch, tmp_path):
    """The engine turns grappler off on a CPU to start faster; the answers must not move. The
    reference runs in a fresh process with the rewrites on (the switch is process-wide)."""
    import os
    import subprocess
    import sys

    from cxr_desktop.engine.device import GRAPH_REWRITES_ENV

    if not tensorflow_engine.device.startswith("/CPU"):
        pytest.skip("graph rewrites are only turned off on a CPU")
    assert not tensorflow_engine.graph_rewrites
    images = tmp_path / "images.npy"
    np.save(images, real_batch[:32])
    script = (
        "import sys, numpy as np\n"
        "from cxr_desktop.core.bundle import load_bundle\n"
        "from cxr_desktop.engine.tensorflow_engine import Engine\n"
        "engine = Engine(load_bundle(sys.argv[1]))\n"
        "assert engine.graph_rewrites\n"
        "np.save(sys.argv[3], engine.explain(np.load(sys.argv[2])).probabilities)\n"
    )
    out = tmp_path / "probabilities.npy"
    subprocess.run(
        [sys.executable, "-c", script, str(tensorflow_engine.bundle.folder), str(images), str(out)],
        check=True,
        env={**os.environ, GRAPH_REWRITES_ENV: "1"},
        capture_output=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    np.testing.assert_allclose(tensorflow_engine.explain(real_batch[:32]).probabilities, np.load(out), atol=1e-5)
