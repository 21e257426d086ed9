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


def _edit_metadata(folder: Path, edit) -> None:
    meta_path = folder / "metadata.json"
    metadata = json.loads(meta_path.read_text())
    edit(metadata)
    meta_path.write_text(json.dumps(metadata))


def test_recorded_weights_hash_mismatch_is_refused(bundle_copy):
    _edit_metadata(bundle_copy, lambda m: m["integrity"]["files"].update({MODEL_FILE: "0" * 64}))
    with pytest.raises(BundleError, match="model.keras does not match the sha256"):
        load_bundle(bundle_copy)


def test_an_edited_threshold_is_refused(bundle_copy):
    _edit_metadata(bundle_copy, lambda m: m["thresholds"].update(covid=0.9))
    with pytest.raises(BundleError, match="'thresholds' in metadata.json was changed after the bundle was written"):
        load_bundle(bundle_copy)


def test_a_missing_class_threshold_is_refused(bundle_copy):
    _edit_metadata(bundle_copy, lambda m: m["thresholds"].pop("pneumonia"))
    with pytest.raises(BundleError, match="'thresholds' has no threshold for class 'pneumonia'"):
        load_bundle(bundle_copy)


def test_the_writer_refuses_a_missing_class_threshold_too(tiny_bundle, tmp_path):
    from cxr_desktop.core.bundle import write_metadata

    folder = tmp_path / "copy"
    shutil.copytree(tiny_bundle.folder, folder)
    metadata = dict(tiny_bundle.metadata, thresholds={"covid": 0.2, "normal": 0.5})
    with pytest.raises(BundleError, match="no threshold for class 'pneumonia'"):
        write_metadata(folder, metadata)


def test_a_removed_ood_entry_is_refused(tiny_bundle, tiny_engine, tmp_path):
    import numpy as np

    from trainer.ood_fit import fit_gate, store_gate

    folder = tmp_path / "gated"
    shutil.copytree(tiny_bundle.folder, folder)
    features = tiny_engine.score(np.zeros((1, 64, 64, 3), np.float32)).features.shape[1]
    gate = fit_gate(np.random.default_rng(0).normal(size=(200, features)), 8)
    store_gate(load_bundle(folder), gate, {"method": "ppca-mahalanobis", "file": "ood.npz", "threshold": 5.0})
    assert load_bundle(folder).ood is not None
    _edit_metadata(folder, lambda m: m.pop("ood"))
    with pytest.raises(BundleError, match="'ood' was removed from metadata.json after the bundle was written"):
        load_bundle(folder)


def test_an_unknown_added_field_is_refused(bundle_copy):
    _edit_metadata(bundle_copy, lambda m: m.update(note="edited by hand"))
    with pytest.raises(BundleError, match="'note' was added"):
        load_bundle(bundle_copy)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "thresholds",
            {"covid": 2, "pneumonia": 0.5, "normal": 0.5},
            "'thresholds' for class 'covid' must be a number",
        ),
        ("calibration", {}, "'calibration' must give a positive 'temperature'"),
        ("classes", ["covid"], "'classes' must list at least two"),
        ("schema", "cxr-desktop-bundle/1", "'schema' is 'cxr-desktop-bundle/1'"),
    ],
)
def test_invalid_fields_are_refused_naming_the_field(tiny_bundle, field, value, message):
    from cxr_desktop.core.bundle import parse_bundle

    with pytest.raises(BundleError, match=message):
        parse_bundle(dict(tiny_bundle.metadata, **{field: value}), tiny_bundle.folder)


def test_the_bundle_description_is_typed_and_frozen(tiny_bundle):
    import dataclasses

    assert tiny_bundle.classes == ["covid", "pneumonia", "normal"]
    assert dict(tiny_bundle.thresholds) == {"covid": 0.5, "pneumonia": 0.5, "normal": 0.5}
    assert tiny_bundle.temperature == 1.0 and tiny_bundle.ood is None
    assert set(tiny_bundle.files) == {MODEL_FILE}
    with pytest.raises(dataclasses.FrozenInstanceError):
        tiny_bundle.name = "other"
    with pytest.raises(TypeError):
        tiny_bundle.thresholds["covid"] = 0.1


def test_untouched_copy_loads(bundle_copy):
    assert load_bundle(bundle_copy).sha256 == load_bundle(bundle_copy, verify_hash=True).sha256


def test_bundle_with_a_lambda_layer_is_refused_by_safe_mode(tiny_bundle, tmp_path):
    """A Lambda layer carries arbitrary Python (marshalled bytecode): safe mode must refuse it."""
    import keras

    from cxr_desktop.engine.tensorflow_engine import Engine

    size = tiny_bundle.preprocessing.size
    inputs = keras.Input((size, size, 3), name="image")
    x = keras.layers.Lambda(lambda t: t * 2.0, name="evil")(inputs)
    x = keras.layers.Conv2D(4, 3, name="last_conv")(x)
    x = keras.layers.GlobalAveragePooling2D(name="pooled")(x)
    logits = keras.layers.Dense(3, name="logits")(x)
    outputs = keras.layers.Activation("softmax", name="probabilities")(logits)
    model = keras.Model(inputs, outputs)
    bundle = write_bundle(tmp_path / "lambda", model, dict(tiny_bundle.metadata, gradcam_layer="last_conv"))
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
    forbidden = re.compile(
        r"\bimport\s+(c?pickle|dill|joblib|shelve)\b|\bpickle\.|allow_pickle\s*=\s*True|"
        r"torch\.load|pd\.read_pickle|safe_mode\s*=\s*False"
    )
    offenders = [
        f"{p.relative_to(ROOT)}:{n}: {line.strip()}"
        for p in _project_sources()
        for n, line in enumerate(p.read_text(encoding="utf-8", errors="replace").splitlines(), 1)
        if forbidden.search(line)
    ]
    assert not offenders, "\n".join(offenders)
    assert len(_project_sources()) > 20


def test_every_numpy_load_refuses_pickles():
    """np.load defaults to allow_pickle=False; project code that loads .npz says so explicitly."""
    for path in _project_sources():
        text = path.read_text(encoding="utf-8", errors="replace")
        for call in re.findall(r"np\.load\([^)]*\)", text):
            assert "allow_pickle=True" not in call, f"{path}: {call}"


def test_tampered_ood_gate_is_reported_not_trusted(tiny_bundle, tiny_engine, tmp_path, sample_images):
    """A gate file that does not match its hash refuses the bundle; a gate that still cannot be used
    (checked by the gate reader itself) becomes a note on every row, never a crash."""
    import numpy as np

    from cxr_desktop.core.bundle import load_bundle as reload
    from cxr_desktop.core.ood import load_gate
    from cxr_desktop.core.scoring import bundle_gate
    from trainer.ood_fit import fit_gate, store_gate

    folder = tmp_path / "gated"
    shutil.copytree(tiny_bundle.folder, folder)
    bundle = reload(folder)
    rng = np.random.default_rng(0)
    gate = fit_gate(
        rng.normal(size=(200, tiny_engine.score(np.zeros((1, 64, 64, 3), np.float32)).features.shape[1])), 8
    )
    store_gate(bundle, gate, {"method": "ppca-mahalanobis", "file": "ood.npz", "threshold": 5.0, "l2_normalise": True})
    assert load_gate(reload(folder)) is not None
    with open(folder / "ood.npz", "ab") as handle:
        handle.write(b"\0")
    with pytest.raises(BundleError, match="ood.npz does not match the sha256"):
        reload(folder)
    unverified = reload(folder, verify_hash=False)
    with pytest.raises(BundleError, match="does not match the sha256"):
        load_gate(unverified)
    found = bundle_gate(unverified)
    assert found.gate is None and "out-of-distribution check unavailable" in found.note
