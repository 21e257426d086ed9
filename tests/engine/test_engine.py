"""Engine plumbing on the tiny stand-in bundle, fed real radiographs.

The tiny network has random weights, so these tests prove shapes, ranges, calibration and device
bookkeeping only; what the bundled model answers is tested in ``test_precision.py`` and elsewhere.
"""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest

from cxr_desktop.core.bundle import load_bundle, write_metadata
from cxr_desktop.core.errors import BundleError
from cxr_desktop.core.overlay import heatmap_to_image
from cxr_desktop.core.preprocessing import preprocess
from cxr_desktop.core.radiograph import load_radiograph
from cxr_desktop.engine import device as devices


@pytest.fixture(scope="module")
def radiographs(sample_images):
    return [load_radiograph(path) for path in sample_images]


@pytest.fixture(scope="module")
def batch(radiographs, tiny_engine):
    return np.stack([preprocess(r.pixels, tiny_engine.spec) for r in radiographs])


def test_score_gives_one_probability_per_class_summing_to_one(tiny_engine, batch):
    scores = tiny_engine.score(batch)
    assert scores.probabilities.shape == (len(batch), len(tiny_engine.classes))
    assert scores.probabilities.dtype == np.float32
    np.testing.assert_allclose(scores.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert scores.features.ndim == 2 and scores.features.shape[0] == len(batch)
    assert scores.cams is None


def test_explain_agrees_with_score_and_gives_cams_in_unit_range(tiny_engine, batch):
    scored = tiny_engine.score(batch)
    explained = tiny_engine.explain(batch)
    np.testing.assert_allclose(explained.probabilities, scored.probabilities, atol=1e-5)
    n, c, h, w = explained.cams.shape
    assert (n, c) == (len(batch), len(tiny_engine.classes)) and h > 1 and w > 1
    assert np.isfinite(explained.cams).all()
    assert explained.cams.min() >= 0.0 and explained.cams.max() <= 1.0 + 1e-6


def test_batch_size_does_not_change_the_answer(tiny_engine, batch):
    together = tiny_engine.score(batch).probabilities
    alone = np.concatenate([tiny_engine.score(batch[i : i + 1]).probabilities for i in range(len(batch))])
    np.testing.assert_allclose(alone, together, atol=1e-5)


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0])
def test_flat_image_is_never_nan(tiny_engine, value):
    spec = tiny_engine.spec
    flat = preprocess(np.full((300, 250), value, np.float32), spec)[None]
    scores = tiny_engine.explain(flat)
    assert np.isfinite(scores.probabilities).all()
    assert np.isfinite(scores.cams).all()
    assert scores.cams.min() >= 0.0 and scores.cams.max() <= 1.0 + 1e-6


def test_cams_map_back_to_the_image_resolution(tiny_engine, radiographs, batch):
    cams = tiny_engine.explain(batch).cams
    for radiograph, cam in zip(radiographs, cams):
        heatmap = heatmap_to_image(cam[0], radiograph.width, radiograph.height)
        assert heatmap.shape == radiograph.pixels.shape
        assert np.isfinite(heatmap).all() and heatmap.min() >= 0.0 and heatmap.max() <= 1.0


def test_calibration_temperature_is_applied(tiny_bundle, tiny_engine, batch, tmp_path):
    folder = tmp_path / "hot"
    shutil.copytree(tiny_bundle.folder, folder)
    meta = json.loads((folder / "metadata.json").read_text())
    meta["calibration"] = {"temperature": 2.5}
    write_metadata(folder, meta)  # a re-exported bundle, not a hand edit (that is refused)
    from cxr_desktop.engine.tensorflow_engine import Engine

    hot = Engine(load_bundle(folder), precision=tiny_engine.precision).score(batch).probabilities
    cold = tiny_engine.score(batch).probabilities
    expected = np.exp(np.log(cold) / 2.5)
    expected /= expected.sum(axis=1, keepdims=True)
    np.testing.assert_allclose(hot, expected, atol=1e-4)
    assert (hot.max(axis=1) <= cold.max(axis=1) + 1e-6).all()


def test_device_description_says_what_actually_runs(tiny_engine):
    import tensorflow as tf

    on_gpu = bool(tf.config.list_physical_devices("GPU"))
    assert tiny_engine.device == ("/GPU:0" if on_gpu else "/CPU:0")
    assert tiny_engine.device_description.startswith("GPU (" if on_gpu else "CPU (")
    assert tiny_engine.precision in tiny_engine.device_description
    if not on_gpu:
        assert f"{devices.usable_cores()} core" in tiny_engine.device_description
    compute = {layer.dtype_policy.compute_dtype for layer in tiny_engine._probe.layers if layer.name.startswith("conv")}
    assert compute == {tiny_engine.precision}


def test_reduced_precision_keeps_weights_float32_and_head_float32(tiny_bundle, batch):
    from cxr_desktop.engine.tensorflow_engine import Engine

    engine = Engine(tiny_bundle, precision="bfloat16")
    layers = {layer.name: layer for layer in engine._probe.layers}
    assert layers["conv0"].dtype_policy.compute_dtype == "bfloat16"
    assert layers["logits"].dtype_policy.compute_dtype == "float32"
    assert all(w.dtype == "float32" for w in engine._probe.weights)
    scores = engine.explain(batch)
    assert scores.probabilities.dtype == scores.features.dtype == scores.cams.dtype == np.float32
    np.testing.assert_allclose(scores.probabilities.sum(axis=1), 1.0, atol=1e-5)
    assert engine.device_description.endswith("bfloat16)")


def test_precision_choice(monkeypatch):
    monkeypatch.delenv(devices.PRECISION_ENV, raising=False)
    assert devices.select_precision("auto", "/GPU:0") == "float16"
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: True)
    assert devices.select_precision("auto", "/CPU:0") == "bfloat16"
    monkeypatch.setattr(devices, "cpu_has_bf16", lambda: False)
    assert devices.select_precision("auto", "/CPU:0") == "float32"
    assert devices.select_precision("bfloat16", "/CPU:0") == "bfloat16"
    monkeypatch.setenv(devices.PRECISION_ENV, "float32")
    assert devices.select_precision("auto", "/GPU:0") == "float32"
    monkeypatch.setenv(devices.PRECISION_ENV, "float8")
    assert devices.select_precision("auto", "/CPU:0") == "float32"
    with pytest.raises(ValueError):
        devices.select_precision("int4", "/CPU:0")


def test_cpu_bf16_detection_reads_the_flags(tmp_path):
    with_bf16 = tmp_path / "with"
    with_bf16.write_text("flags\t\t: fpu sse2 avx512f avx512_bf16 avx512_vnni\n")
    without = tmp_path / "without"
    without.write_text("flags\t\t: fpu sse2 avx2\n")
    assert devices.cpu_has_bf16(with_bf16)
    assert not devices.cpu_has_bf16(without)
    assert not devices.cpu_has_bf16(tmp_path / "missing")


def test_missing_gradcam_layer_is_a_bundle_error(tiny_bundle, tmp_path):
    folder = tmp_path / "bad"
    shutil.copytree(tiny_bundle.folder, folder)
    meta = json.loads((folder / "metadata.json").read_text())
    meta["gradcam_layer"] = "no_such_layer"
    write_metadata(folder, meta)
    from cxr_desktop.engine.tensorflow_engine import Engine

    with pytest.raises(BundleError, match="layer named in metadata not found"):
        Engine(load_bundle(folder), warm_up=False)


def test_graph_rewrites_are_turned_off_on_a_cpu_only(monkeypatch):
    from types import SimpleNamespace

    calls: list[dict] = []
    fake_tf = SimpleNamespace(config=SimpleNamespace(optimizer=SimpleNamespace(set_experimental_options=calls.append)))
    monkeypatch.delenv(devices.GRAPH_REWRITES_ENV, raising=False)
    assert not devices.configure_graph_rewrites(fake_tf, "/CPU:0")
    assert calls == [{"disable_meta_optimizer": True}]
    assert devices.configure_graph_rewrites(fake_tf, "/GPU:0") and len(calls) == 1
    monkeypatch.setenv(devices.GRAPH_REWRITES_ENV, "1")
    assert devices.configure_graph_rewrites(fake_tf, "/CPU:0") and len(calls) == 1
