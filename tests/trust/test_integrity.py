"""Model integrity and safe loading: a modified bundle is refused, code never unpickles.

The tiny bundle is enough here: what is tested is the refusal path, not what the model predicts.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest

from cxr_desktop.core.bundle import MODEL_FILE, load_bundle, write_bundle
from cxr_desktop.core.errors import BundleError

ROOT = Path(__file__).resolve().parents[2]
PROJECT_CODE = ("cxr_desktop", "trainer", "scripts")


@pytest.fixture()
def bundle_copy(tiny_bundle, tmp_path) -> Path:
    target = tmp_path / "copy"
    shutil.copytree(tiny_bundle.folder, target)
    return target


def test_one_flipped_byte_in_the_weights_is_refused(bundle_copy):
    model = bundle_copy / MODEL_FILE
    data = bytearray(model.read_bytes())
    data[len(data) // 2] ^= 0x01
    model.write_bytes(bytes(data))
    with pytest.raises(BundleError) as caught:
        load_bundle(bundle_copy)
    assert "failed its integrity check" in str(caught.value)
    assert "refusing to load" in caught.value.reason


def test_metadata_hash_mismatch_is_refused(bundle_copy):
    meta_path = bundle_copy / "metadata.json"
    metadata = json.loads(meta_path.read_text())
    metadata["model_sha256"] = "0" * 64
    meta_path.write_text(json.dumps(metadata))
    with pytest.raises(BundleError, match="does not match the sha256"):
        load_bundle(bundle_copy)


def test_untouched_copy_loads(bundle_copy):
    assert load_bundle(bundle_copy).sha256 == load_bundle(bundle_copy, verify_hash=True).sha256


def test_bundle_with_a_lambda_layer_is_refused_by_safe_mode(tiny_bundle, tmp_path):
    """A Lambda layer carries arbitrary Python (marshalled bytecode): safe mode must refuse it."""
    import keras

    from cxr_desktop.engine.engine import Engine

    size = tiny_bundle.preprocessing.size
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Lambda(lambda t: t * 2.0, name="evil")(inputs)
    x = keras.layers.Conv2D(4, 3, name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pooled")(x)
    logits = keras.layers.Dense(3, name="logits")(x)
    outputs = keras.layers.Activation("softmax", name="probabilities")(logits)
    model = keras.Model(inputs, outputs)
    metadata = {k: v for k, v in tiny_bundle.metadata.items() if k not in {"model_sha256", "schema", "model_file"}}
    bundle = write_bundle(tmp_path / "lambda", model, dict(metadata, gradcam_layer="last_conv"))
    with pytest.raises(BundleError) as caught:
        Engine(bundle, warm_up=False)
    assert "cannot be loaded" in caught.value.reason
    assert "lambda" in caught.value.reason.lower() or "safe" in caught.value.reason.lower()


def _project_sources() -> list[Path]:
    files = []
    for top in PROJECT_CODE:
        files += [p for p in (ROOT / top).rglob("*") if p.suffix in {".py", ".sh"} and p.is_file()]
    return files


def test_no_pickle_anywhere_in_project_code():
    """Unpickling runs code chosen by whoever wrote the file; no loader of ours may do it."""
    forbidden = re.compile(r"\bimport\s+(c?pickle|dill|joblib|shelve)\b|\bpickle\.|allow_pickle\s*=\s*True|"
                           r"torch\.load|pd\.read_pickle|safe_mode\s*=\s*False")
    offenders = [f"{p.relative_to(ROOT)}:{n}: {line.strip()}" for p in _project_sources()
                 for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
                 if forbidden.search(line)]
    assert not offenders, "\n".join(offenders)
    assert len(_project_sources()) > 20


def test_every_numpy_load_refuses_pickles():
    """np.load defaults to allow_pickle=False; project code that loads .npz says so explicitly."""
    for path in _project_sources():
        text = path.read_text(encoding="utf-8", errors="replace")
        for call in re.findall(r"np\.load\([^)]*\)", text):
            assert "allow_pickle=True" not in call, f"{path}: {call}"


def test_tampered_ood_gate_is_reported_not_trusted(tiny_bundle, tiny_engine, tmp_path, sample_images):
    """A gate file that does not match its metadata hash is refused, and screening says so per row."""
    import numpy as np

    from cxr_desktop.core.bundle import load_bundle as reload
    from cxr_desktop.core.ood import load_gate
    from cxr_desktop.core.screening import bundle_gate
    from trainer.ood_fit import fit_gate, store_gate

    folder = tmp_path / "gated"
    shutil.copytree(tiny_bundle.folder, folder)
    bundle = reload(folder)
    rng = np.random.default_rng(0)
    gate = fit_gate(rng.normal(size=(200, tiny_engine.score(np.zeros((1, 64, 64, 3), np.float32)).features.shape[1])), 8)
    store_gate(bundle, gate, {"method": "ppca-mahalanobis", "file": "ood.npz", "threshold": 5.0, "l2_normalise": True})
    assert load_gate(reload(folder)) is not None
    with open(folder / "ood.npz", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="does not match the sha256"):
        load_gate(reload(folder))

    class Tampered:
        bundle = reload(folder)

    gate, note = bundle_gate(Tampered())
    assert gate is None and "out-of-distribution check unavailable" in note
