"""Model bundles: a folder with ``model.keras`` and ``metadata.json``, described by one typed record.

Field names follow MONAI bundle metadata where they fit (name, version, changelog, description,
intended_use, authors, data_source, references, network_data_format); the rest is what this
application needs to use a model safely: class order, operating thresholds, preprocessing,
Grad-CAM layer, calibration temperature and the OOD gate.

``parse_bundle`` is the one place that turns the JSON into a ``ModelBundle`` and refuses what is
wrong, naming the field. ``write_bundle`` / ``write_metadata`` are the one writer: they stamp an
integrity record (the sha256 of every field of ``metadata.json`` and of every file the bundle
uses), so a threshold edited by hand, a deleted OOD entry or a swapped gate file is refused at
load time instead of silently changing what a clinician is shown.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Protocol

from cxr_desktop.core.atomic import atomic_path
from cxr_desktop.core.errors import BundleError
from cxr_desktop.core.preprocessing import PreprocessingSpec
from cxr_desktop.core.resources import app_root

MODEL_FILE = "model.keras"
METADATA_FILE = "metadata.json"
SCHEMA = "cxr-desktop-bundle/2"
INTEGRITY = "integrity"
BUNDLED_MODELS = ("densenet121-3class", "densenet121-binary")
DEFAULT_MODEL = BUNDLED_MODELS[0]

REQUIRED_FIELDS = (
    "schema",
    "name",
    "version",
    "changelog",
    "description",
    "intended_use",
    "classes",
    "thresholds",
    "preprocessing",
    "network_data_format",
    "gradcam_layer",
    "feature_layer",
    "logits_layer",
    "calibration",
    INTEGRITY,
)


class SavableModel(Protocol):
    """What the writer needs of a Keras model (the core never imports Keras)."""

    def save(self, filepath: Path) -> Any: ...


@dataclass(frozen=True)
class OodEntry:
    """The ``ood`` entry: which file holds the gate and its thresholds (``core.ood`` reads the arrays)."""

    file: str
    sha256: str
    threshold: float
    layout_threshold: float | None


@dataclass(frozen=True)
class OnnxEntry:
    """The ``onnx`` entry: the network exported for the TensorFlow-free runtimes.

    ``file`` is the float32 graph (inputs: images; outputs: ``logits``, ``features``, ``cams``);
    ``int8_file`` a quantised copy, used by default only where ``int8_default`` says it passed the
    accuracy gate recorded in the metadata.
    """

    file: str
    int8_file: str | None
    int8_default: bool


@dataclass(frozen=True)
class ModelBundle:
    """A validated bundle on disk; the Keras model itself is loaded by the engine.

    ``metadata`` is the JSON as read, for the writers of model cards and reports; everything the
    application acts on is a typed field, checked by ``parse_bundle``.
    """

    folder: Path
    name: str
    version: str
    description: str
    intended_use: str
    classes: list[str]
    thresholds: Mapping[str, float]
    preprocessing: PreprocessingSpec
    gradcam_layer: str
    feature_layer: str
    logits_layer: str
    temperature: float
    ood: OodEntry | None
    onnx: OnnxEntry | None
    metrics: Mapping[str, Any]
    files: Mapping[str, str]
    metadata: Mapping[str, Any] = field(repr=False)

    @property
    def title(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def model_path(self) -> Path:
        return self.folder / MODEL_FILE

    @property
    def sha256(self) -> str:
        """The weights' sha256, as recorded when the bundle was written."""
        return self.files[MODEL_FILE]


def models_dir() -> Path:
    """Where named bundles live: $CXR_MODELS_DIR, else ``models/`` beside the app's resources."""
    override = os.environ.get("CXR_MODELS_DIR")
    if override:
        return Path(override)
    return app_root() / "models"


def resolve_bundle_path(model: str | Path) -> Path:
    """Accept a bundled model's name (``densenet121-3class``) or a path to any bundle folder."""
    candidate = Path(model).expanduser()
    if candidate.is_dir():
        return candidate
    named = models_dir() / str(model)
    if named.is_dir():
        return named
    known = ", ".join(BUNDLED_MODELS)
    raise BundleError(f"model '{model}' not found: give a bundle folder or one of: {known}")


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def field_sha256(value: Any) -> str:
    """Hash of one metadata field's value, independent of the file's layout and key order."""
    canonical = json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return hashlib.sha256(canonical.encode("utf-8")).hexdigest()


def load_bundle(model: str | Path, *, verify_hash: bool = True) -> ModelBundle:
    """Read, validate and integrity-check a bundle; every problem is a ``BundleError`` saying what.

    ``verify_hash=False`` skips re-hashing the files (the writer has just hashed them); the fields
    of ``metadata.json`` are always checked against the integrity record, which is cheap.
    """
    folder = resolve_bundle_path(model)
    meta_path = folder / METADATA_FILE
    if not meta_path.is_file():
        raise BundleError(f"no {METADATA_FILE} in bundle folder {folder}")
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{METADATA_FILE} in {folder} cannot be read: {exc}") from None
    bundle = parse_bundle(metadata, folder)
    _check_fields(bundle)
    _check_files(bundle, hash_files=verify_hash)
    return bundle


def _require(condition: bool, folder: Path, name: str, problem: str) -> None:
    if not condition:
        raise BundleError(f"bundle {folder.name} refused: '{name}' {problem}")


def _text(metadata: Mapping[str, Any], name: str, folder: Path) -> str:
    value = metadata[name]
    _require(isinstance(value, str) and bool(value.strip()), folder, name, "must be a non-empty text")
    return str(value)


def _number(value: Any) -> float | None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        return None
    return float(value)


def parse_bundle(metadata: Any, folder: Path) -> ModelBundle:
    """The one validation of a bundle description: JSON -> ``ModelBundle`` or a ``BundleError``.

    Every message names the field at fault. Nothing falls back to a default: a class without a
    threshold is an error, not 0.5.
    """
    if not isinstance(metadata, dict):
        raise BundleError(f"{METADATA_FILE} in {folder} is not a JSON object")
    _require(
        metadata.get("schema") == SCHEMA,
        folder,
        "schema",
        f"is {metadata.get('schema')!r}; this version reads {SCHEMA!r} (re-export the bundle with cxr-train)",
    )
    missing = [key for key in REQUIRED_FIELDS if key not in metadata]
    if missing:
        raise BundleError(f"bundle {folder.name} refused: {METADATA_FILE} lacks {', '.join(map(repr, missing))}")
    version = _text(metadata, "version", folder)
    _require(
        isinstance(metadata["changelog"], dict) and version in metadata["changelog"],
        folder,
        "changelog",
        f"has no entry for version {version}",
    )
    classes = metadata["classes"]
    _require(
        isinstance(classes, list)
        and len(classes) >= 2
        and len(set(classes)) == len(classes)
        and all(isinstance(c, str) and c for c in classes),
        folder,
        "classes",
        "must list at least two distinct class names",
    )
    thresholds = _thresholds(metadata["thresholds"], classes, folder)
    try:
        spec = PreprocessingSpec.from_metadata(metadata["preprocessing"])
    except (TypeError, ValueError) as exc:
        raise BundleError(f"bundle {folder.name} refused: 'preprocessing' {exc}") from None
    _check_data_format(metadata["network_data_format"], spec, len(classes), folder)
    calibration = metadata["calibration"]
    temperature = _number(calibration.get("temperature")) if isinstance(calibration, dict) else None
    _require(temperature is not None and temperature > 0, folder, "calibration", "must give a positive 'temperature'")
    metrics = metadata.get("metrics", {})
    _require(isinstance(metrics, dict), folder, "metrics", "must be an object")
    return ModelBundle(
        folder=folder,
        name=_text(metadata, "name", folder),
        version=version,
        description=str(metadata["description"]),
        intended_use=_text(metadata, "intended_use", folder),
        classes=list(classes),
        thresholds=MappingProxyType(thresholds),
        preprocessing=spec,
        gradcam_layer=_text(metadata, "gradcam_layer", folder),
        feature_layer=_text(metadata, "feature_layer", folder),
        logits_layer=_text(metadata, "logits_layer", folder),
        temperature=float(temperature or 1.0),
        ood=_ood_entry(metadata.get("ood"), folder),
        onnx=_onnx_entry(metadata.get("onnx"), folder),
        metrics=MappingProxyType(metrics),
        files=MappingProxyType(_integrity(metadata, folder)["files"]),
        metadata=metadata,
    )


def _thresholds(value: Any, classes: list[str], folder: Path) -> dict[str, float]:
    _require(isinstance(value, dict), folder, "thresholds", "must map each class to a threshold")
    for name in classes:
        _require(name in value, folder, "thresholds", f"has no threshold for class '{name}'")
        number = _number(value[name])
        _require(
            number is not None and 0.0 <= number <= 1.0,
            folder,
            "thresholds",
            f"for class '{name}' must be a number from 0 to 1",
        )
    extra = [name for name in value if name not in classes]
    _require(not extra, folder, "thresholds", f"names classes the bundle does not have: {', '.join(extra)}")
    return {name: float(value[name]) for name in classes}


def _check_data_format(value: Any, spec: PreprocessingSpec, classes: int, folder: Path) -> None:
    """MONAI's check: the declared input and output shapes agree with preprocessing and classes."""
    try:
        image = value["inputs"]["image"]
        declared = (int(image["num_channels"]), [int(s) for s in image["spatial_shape"]])
        outputs = int(value["outputs"]["pred"]["num_channels"])
    except (KeyError, TypeError, ValueError):
        raise BundleError(
            f"bundle {folder.name} refused: 'network_data_format' must declare inputs.image"
            " (num_channels, spatial_shape) and outputs.pred (num_channels)"
        ) from None
    _require(
        declared == (spec.channels, [spec.size, spec.size]),
        folder,
        "network_data_format",
        f"declares input {declared} but preprocessing makes {spec.channels} x {spec.size} x {spec.size}",
    )
    _require(outputs == classes, folder, "network_data_format", f"declares {outputs} outputs for {classes} classes")


def _ood_entry(value: Any, folder: Path) -> OodEntry | None:
    if value is None:
        return None
    _require(isinstance(value, dict), folder, "ood", "must be an object")
    file, sha256 = value.get("file"), value.get("sha256")
    _require(
        isinstance(file, str) and Path(file).name == file and bool(file),
        folder,
        "ood",
        "must name its gate file (no folders)",
    )
    _require(isinstance(sha256, str) and len(sha256) == 64, folder, "ood", "must give the gate file's sha256")
    threshold = _number(value.get("threshold"))
    _require(threshold is not None and threshold > 0, folder, "ood", "must give a positive 'threshold'")
    layout = value.get("layout_threshold")
    _require(layout is None or _number(layout) is not None, folder, "ood", "'layout_threshold' must be a number")
    return OodEntry(str(file), str(sha256), float(threshold or 0.0), _number(layout))


def _file_name(value: Any) -> bool:
    return isinstance(value, str) and bool(value) and Path(value).name == value


def _onnx_entry(value: Any, folder: Path) -> OnnxEntry | None:
    if value is None:
        return None
    _require(isinstance(value, dict), folder, "onnx", "must be an object")
    _require(_file_name(value.get("file")), folder, "onnx", "must name its graph file (no folders)")
    int8 = value.get("int8")
    _require(int8 is None or isinstance(int8, dict), folder, "onnx", "'int8' must be an object")
    if int8 is None:
        return OnnxEntry(str(value["file"]), None, False)
    _require(_file_name(int8.get("file")), folder, "onnx", "'int8' must name its graph file (no folders)")
    _require(isinstance(int8.get("default"), bool), folder, "onnx", "'int8' must say whether it is the default")
    return OnnxEntry(str(value["file"]), str(int8["file"]), bool(int8["default"]))


def _integrity(metadata: Mapping[str, Any], folder: Path) -> dict[str, dict[str, str]]:
    record = metadata[INTEGRITY]
    valid = (
        isinstance(record, dict)
        and isinstance(record.get("files"), dict)
        and isinstance(record.get("fields"), dict)
        and MODEL_FILE in record["files"]
    )
    _require(valid, folder, INTEGRITY, f"must hold the sha256 of {MODEL_FILE} and of every metadata field")
    return {"files": dict(record["files"]), "fields": dict(record["fields"])}


def _check_fields(bundle: ModelBundle) -> None:
    """Every field of metadata.json must be exactly as the writer stamped it."""
    stamped = bundle.metadata[INTEGRITY]["fields"]
    present = {key for key in bundle.metadata if key != INTEGRITY}
    for key in sorted(set(stamped) - present):
        raise BundleError(
            f"bundle {bundle.title} refused: '{key}' was removed from {METADATA_FILE} after the"
            " bundle was written (integrity check failed)"
        )
    for key in sorted(present):
        if key not in stamped:
            raise BundleError(
                f"bundle {bundle.title} refused: '{key}' was added to {METADATA_FILE} after the"
                " bundle was written (integrity check failed)"
            )
        if field_sha256(bundle.metadata[key]) != stamped[key]:
            raise BundleError(
                f"bundle {bundle.title} refused: '{key}' in {METADATA_FILE} was changed after the"
                " bundle was written (integrity check failed)"
            )


def _check_files(bundle: ModelBundle, *, hash_files: bool) -> None:
    used = used_files(bundle.metadata)
    unrecorded = [name for name in used if name not in bundle.files]
    if unrecorded:
        raise BundleError(f"bundle {bundle.title} refused: '{INTEGRITY}' has no sha256 for {', '.join(unrecorded)}")
    for name in used:
        path = bundle.folder / name
        if not path.is_file():
            raise BundleError(f"bundle {bundle.title} has no {name}")
        if hash_files and file_sha256(path) != bundle.files[name]:
            raise BundleError(
                f"bundle {bundle.title} failed its integrity check: {name} does not match the sha256 in its"
                " metadata (modified or corrupted); refusing to load it"
            )


def used_files(metadata: Mapping[str, Any]) -> list[str]:
    """The files the application reads from a bundle: the weights, the exported graphs and the OOD
    gate, each where there is one."""
    entries = [metadata.get("ood"), metadata.get("onnx")]
    onnx = metadata.get("onnx")
    if isinstance(onnx, dict):
        entries.append(onnx.get("int8"))
    named = [str(entry["file"]) for entry in entries if isinstance(entry, dict) and isinstance(entry.get("file"), str)]
    return [MODEL_FILE, *named]


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so a reader never sees half a file. Read-only mappings (a parsed bundle's
    metadata is one) are written as the plain objects they wrap."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2, default=_plain) + "\n", encoding="utf-8")


def _plain(value: Any) -> dict[str, Any]:
    if isinstance(value, Mapping):
        return dict(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def write_bundle(folder: Path, model: SavableModel, metadata: Mapping[str, Any]) -> ModelBundle:
    """Save a Keras model and its metadata as a bundle (the one writer of new bundles).

    ``model`` is a Keras model; only its ``save`` method is used, so the core stays TensorFlow-free.
    """
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / MODEL_FILE)
    return write_metadata(folder, metadata)


def write_metadata(folder: Path, metadata: Mapping[str, Any]) -> ModelBundle:
    """Validate ``metadata``, stamp its integrity record and write it atomically into ``folder``.

    Used for a new bundle and whenever a bundle's description changes (an OOD gate fitted, a
    bundle re-stamped), so no metadata.json is ever written without a matching record. The files
    named by the metadata must already be in place: their sha256 goes into the record.
    """
    content = {key: value for key, value in metadata.items() if key not in {INTEGRITY, "model_sha256"}}
    content.update(schema=SCHEMA, model_file=MODEL_FILE)
    files = {}
    for name in used_files(content):
        path = folder / name
        if not path.is_file():
            raise BundleError(f"bundle {folder.name} refused: {name} is missing")
        files[name] = file_sha256(path)
    content[INTEGRITY] = {
        "algorithm": "sha256",
        "files": files,
        "fields": {key: field_sha256(value) for key, value in sorted(content.items())},
    }
    parse_bundle(content, folder)
    write_json_atomic(folder / METADATA_FILE, content)
    return load_bundle(folder, verify_hash=False)
