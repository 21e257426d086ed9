"""What "the same bundle on every worker" means, without importing dask."""

from __future__ import annotations

from cxr_desktop.core.bundle import INTEGRITY, ModelBundle, field_sha256, load_bundle


def bundle_hash(bundle: ModelBundle) -> str:
    """One hash for everything a worker scores with.

    The integrity record holds the sha256 of every metadata field and of every file the bundle
    uses, and ``load_bundle`` has checked the folder against it, so two workers with the same
    record score with the same weights, graphs, thresholds, preprocessing and OOD gate.
    """
    record = bundle.metadata[INTEGRITY]
    return field_sha256({"files": dict(record["files"]), "fields": dict(record["fields"])})


def local_bundle_hash(model: str) -> str:
    """The hash of ``model`` as this machine resolves it (a bundled name or a folder path)."""
    return bundle_hash(load_bundle(model))
