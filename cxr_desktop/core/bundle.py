"""Model bundles: a folder with ``model.keras`` and ``metadata.json``, read through one function.

Field names follow MONAI bundle metadata where they fit (name, version, changelog, description,
intended_use, authors, data_source, references, network_data_format); the rest is what this
application needs to use a model safely: class order, operating thresholds, preprocessing,
Grad-CAM layer, calibration temperature, OOD gate and the sha256 of the weights.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from cxr_desktop.core.atomic import atomic_path
from cxr_desktop.core.errors import BundleError
from cxr_desktop.core.preprocessing import PreprocessingSpec
from cxr_desktop.core.resources import app_root

MODEL_FILE = "model.keras"
METADATA_FILE = "metadata.json"
SCHEMA = "cxr-desktop-bundle/1"
BUNDLED_MODELS = ("densenet121-3class", "densenet121-binary")
DEFAULT_MODEL = BUNDLED_MODELS[0]

REQUIRED_FIELDS = (
    "schema", "name", "version", "changelog", "description", "intended_use", "classes",
    "thresholds", "preprocessing", "network_data_format", "gradcam_layer", "feature_layer",
    "logits_layer", "calibration", "model_sha256",
)


@dataclass(frozen=True)
class ModelBundle:
    """A validated bundle on disk; the Keras model itself is loaded by the engine."""

    folder: Path
    metadata: dict[str, Any]

    @property
    def name(self) -> str:
        return str(self.metadata["name"])

    @property
    def version(self) -> str:
        return str(self.metadata["version"])

    @property
    def title(self) -> str:
        return f"{self.name} v{self.version}"

    @property
    def classes(self) -> list[str]:
        return list(self.metadata["classes"])

    @property
    def thresholds(self) -> dict[str, float]:
        return {k: float(v) for k, v in self.metadata["thresholds"].items()}

    @property
    def preprocessing(self) -> PreprocessingSpec:
        return PreprocessingSpec.from_metadata(self.metadata["preprocessing"])

    @property
    def temperature(self) -> float:
        return float(self.metadata["calibration"].get("temperature", 1.0))

    @property
    def model_path(self) -> Path:
        return self.folder / MODEL_FILE

    @property
    def sha256(self) -> str:
        return str(self.metadata["model_sha256"])


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


def load_bundle(model: str | Path, *, verify_hash: bool = True) -> ModelBundle:
    """Read and validate a bundle; every problem is a ``BundleError`` saying what is wrong."""
    folder = resolve_bundle_path(model)
    meta_path = folder / METADATA_FILE
    if not meta_path.is_file():
        raise BundleError(f"no {METADATA_FILE} in bundle folder {folder}")
    try:
        metadata = json.loads(meta_path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise BundleError(f"{METADATA_FILE} in {folder} cannot be read: {exc}") from None
    validate_metadata(metadata, folder)
    bundle = ModelBundle(folder=folder, metadata=metadata)
    if not bundle.model_path.is_file():
        raise BundleError(f"bundle {folder} has no {MODEL_FILE}")
    if verify_hash and file_sha256(bundle.model_path) != bundle.sha256:
        raise BundleError(
            f"bundle {bundle.title} failed its integrity check: {MODEL_FILE} does not match the"
            " sha256 in its metadata (modified or corrupted); refusing to load it"
        )
    return bundle


def validate_metadata(metadata: Any, folder: Path) -> None:
    if not isinstance(metadata, dict):
        raise BundleError(f"{METADATA_FILE} in {folder} is not a JSON object")
    missing = [key for key in REQUIRED_FIELDS if key not in metadata]
    if missing:
        raise BundleError(f"{METADATA_FILE} in {folder} lacks: {', '.join(missing)}")
    if metadata["schema"] != SCHEMA:
        raise BundleError(f"bundle schema {metadata['schema']!r} is not supported (expected {SCHEMA})")
    classes = metadata["classes"]
    if not isinstance(classes, list) or len(classes) < 2 or len(set(classes)) != len(classes):
        raise BundleError(f"bundle {folder}: 'classes' must list at least two distinct names")
    if set(metadata["thresholds"]) != set(classes):
        raise BundleError(f"bundle {folder}: 'thresholds' must give one threshold per class")
    if str(metadata["version"]) not in metadata["changelog"]:
        raise BundleError(f"bundle {folder}: version {metadata['version']} is missing from its changelog")
    try:
        PreprocessingSpec.from_metadata(metadata["preprocessing"])
    except (TypeError, ValueError) as exc:
        raise BundleError(f"bundle {folder}: {exc}") from None


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON so a reader never sees half a file."""
    with atomic_path(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def write_bundle(folder: Path, model: Any, metadata: dict[str, Any]) -> ModelBundle:
    """Save a Keras model and its metadata as a bundle, stamping the weights' sha256.

    ``model`` is a Keras model; only its ``save`` method is used, so the core stays TensorFlow-free.
    """
    folder.mkdir(parents=True, exist_ok=True)
    model.save(folder / MODEL_FILE)
    stamped = dict(metadata, schema=SCHEMA, model_file=MODEL_FILE)
    stamped["model_sha256"] = file_sha256(folder / MODEL_FILE)
    validate_metadata(stamped, folder)
    write_json_atomic(folder / METADATA_FILE, stamped)
    return load_bundle(folder, verify_hash=False)
