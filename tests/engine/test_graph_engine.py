"""The TensorFlow-free engine: the bundle's ONNX graph on ONNX Runtime and OpenVINO (issue 14).

The evidence that the exported graph is the same model is the real bundled network on real films,
compared with the TensorFlow reference engine's Grad-CAM from the gradient of the logits (not the
closed form both sides share), so an error in the CAM algebra would show here.
"""

from __future__ import annotations

import shutil
import subprocess
import sys

import numpy as np
import pytest

from cxr_desktop.core.bundle import load_bundle
from cxr_desktop.core.errors import BundleError
from cxr_desktop.core.preprocessing import preprocess
from cxr_desktop.core.radiograph import load_radiograph
from cxr_desktop.engine import choose_backend, load_engine

RUNTIMES = ("onnxruntime", "openvino")


@pytest.fixture(scope="module")
def test_films(cxr3, bundle_3class):
    """Real films of the bundle's own test split, every class and source, fixed order."""
    import csv

    with (bundle_3class.folder / "split.csv").open(encoding="utf-8") as handle:
        rows = [row for row in csv.DictReader(handle) if row["split"] == "test"]
    chosen = rows[:: max(1, len(rows) // 24)][:24]
    return np.stack(
        [preprocess(load_radiograph(cxr3 / row["path"]).pixels, bundle_3class.preprocessing) for row in chosen]
    )


@pytest.fixture(scope="module")
def reference(bundle_3class, test_films):
    """TensorFlow float32, Grad-CAM from the gradient."""
    import tensorflow as tf

    from cxr_desktop.engine.tensorflow_engine import Engine

    engine = Engine(bundle_3class, precision="float32", warm_up=False)
    probabilities, _, cams = tf.function(engine._gradient_graph)(test_films)
    return probabilities.numpy(), cams.numpy()


@pytest.mark.parametrize("runtime", RUNTIMES)
def test_graph_matches_tensorflow_gradcam_on_real_films(runtime, bundle_3class, test_films, reference):
    engine = load_engine(bundle_3class, backend=runtime, precision="float32")
    explained = engine.explain(test_films)
    probabilities, cams = reference
    assert np.abs(explained.probabilities - probabilities).max() <= 1e-4
    assert (explained.probabilities.argmax(1) == probabilities.argmax(1)).all()
    flat, ref = explained.cams.reshape(-1, cams[0, 0].size), cams.reshape(-1, cams[0, 0].size)
    live = ref.std(axis=1) > 0
    correlations = [np.corrcoef(a, b)[0, 1] for a, b in zip(flat[live], ref[live], strict=True)]
    assert min(correlations) >= 0.99
    assert np.abs(flat[~live] - ref[~live]).max(initial=0.0) <= 1e-4


def test_score_is_explain_without_the_maps(bundle_3class, test_films):
    engine = load_engine(bundle_3class, backend="onnxruntime")
    scored, explained = engine.score(test_films[:4]), engine.explain(test_films[:4])
    assert scored.cams is None
    np.testing.assert_array_equal(scored.probabilities, explained.probabilities)
    np.testing.assert_array_equal(scored.features, explained.features)


def test_engine_names_backend_and_precision(bundle_3class):
    engine = load_engine(bundle_3class, backend="onnxruntime", precision="float32")
    assert engine.backend == "onnxruntime" and engine.precision == "float32"
    assert "ONNX Runtime" in engine.device_description and "float32" in engine.device_description


def test_auto_prefers_the_faster_cpu_runtime_and_honours_the_override(bundle_3class, monkeypatch):
    monkeypatch.delenv("CXR_ENGINE", raising=False)
    monkeypatch.setattr("cxr_desktop.engine.nvidia_gpu_present", lambda: False)
    assert choose_backend(bundle_3class) == ("openvino", False)
    monkeypatch.setenv("CXR_ENGINE", "onnxruntime")
    assert choose_backend(bundle_3class) == ("onnxruntime", False)
    monkeypatch.setattr("cxr_desktop.engine.installed", lambda module: module != "tensorflow")
    with pytest.raises(BundleError, match=r"pip install \.\[trainer\]"):
        choose_backend(bundle_3class, "tensorflow")


def test_bundle_without_graph_goes_to_tensorflow(tiny_bundle, monkeypatch):
    monkeypatch.delenv("CXR_ENGINE", raising=False)
    assert tiny_bundle.onnx is None
    assert choose_backend(tiny_bundle)[0] == "tensorflow"
    with pytest.raises(BundleError, match="cxr-train export-onnx"):
        load_engine(tiny_bundle, backend="onnxruntime")


def test_bundle_hash_covers_the_graph(bundle_3class, tmp_path):
    folder = tmp_path / "bundle"
    shutil.copytree(bundle_3class.folder, folder, ignore=shutil.ignore_patterns("report", "split.csv"))
    graph = folder / "model.onnx"
    data = bytearray(graph.read_bytes())
    data[len(data) // 2] ^= 0xFF
    graph.write_bytes(bytes(data))
    with pytest.raises(BundleError, match="model.onnx does not match"):
        load_bundle(folder)


def test_scoring_imports_no_tensorflow(sample_images):
    """The app's install has no TensorFlow: the default engine must never import it."""
    code = (
        "import sys\n"
        "from cxr_desktop.core.bundle import load_bundle\n"
        "from cxr_desktop.core.screening import screen\n"
        "from cxr_desktop.engine import load_engine\n"
        "bundle = load_bundle('densenet121-3class')\n"
        "engine = load_engine(bundle)\n"
        f"rows = list(screen([{str(sample_images[0])!r}], engine, thresholds=bundle.thresholds, explain=True))\n"
        "assert rows[0].ok, rows[0].message\n"
        "assert not [m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')], 'TensorFlow imported'\n"
        "print(engine.device_description)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert "OpenVINO" in done.stdout or "ONNX Runtime" in done.stdout


def test_int8_graph_is_the_default_only_where_the_gate_passed(bundle_3class, tmp_path, monkeypatch):
    from cxr_desktop.core.bundle import write_metadata

    monkeypatch.delenv("CXR_ENGINE", raising=False)
    monkeypatch.setattr("cxr_desktop.engine.nvidia_gpu_present", lambda: False)
    folder = tmp_path / "bundle"
    shutil.copytree(bundle_3class.folder, folder, ignore=shutil.ignore_patterns("report", "split.csv"))
    shutil.copy(folder / "model.onnx", folder / "model.int8.onnx")
    metadata = dict(bundle_3class.metadata)
    for passed in (False, True):
        metadata["onnx"] = {**bundle_3class.metadata["onnx"], "int8": {"file": "model.int8.onnx", "default": passed}}
        engine = load_engine(write_metadata(folder, metadata), backend="onnxruntime")
        assert engine.precision == ("int8" if passed else "float32")


def test_calibration_films_cover_every_class_and_source():
    from pathlib import Path

    from trainer.data import Sample
    from trainer.quantise import calibration_films

    samples = [
        Sample(Path(f"{label}/{source}-{i}.jpg"), label, f"{source}:{i}", source)
        for label in ("covid", "normal")
        for source in ("a", "b", "c")
        for i in range(20)
    ]
    chosen = calibration_films(samples, 12)
    assert len(chosen) == 12
    assert {(s.label, s.source) for s in chosen} == {
        (label, source) for label in ("covid", "normal") for source in "abc"
    }
