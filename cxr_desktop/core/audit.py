"""Audit trail: an append-only JSON-lines log of every image scored and every export.

A radiologist (or an auditor) must be able to answer later: who scored which file, with which
model, what did it say, what warnings were shown, and where did the results go. One JSON object per
line in ``audit.jsonl`` in the per-user data folder (``$CXR_AUDIT_DIR`` overrides it). The file is
rotated by size (``audit.jsonl.1`` ... ``.N``, oldest dropped); the file being written is never
deleted. Size check, rotation and write happen under an exclusive lock on the audit folder itself
(``flock`` where the platform has it), because the GUI and a ``screen`` run append at once: without it two
processes rotated the same file and one record was lost.

API for the CLI and the GUI (all three are safe to call from any thread):

- ``record_scored(row, bundle)`` after each ``ScreeningRow`` (scored or failed);
- ``record_export(what, target, rows=..., identifiers=...)`` after each CSV/PDF/PNG export;
- ``read_audit(limit=...)`` for a history view, newest entry first.

Logging must never stop clinical work: a failed write is logged as a warning and swallowed.
"""

from __future__ import annotations

import getpass
import json
import logging
import math
import os
import threading
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Iterator

from cxr_desktop.core.bundle import ModelBundle, file_sha256
from cxr_desktop.core.scoring import ScreeningRow

log = logging.getLogger(__name__)

AUDIT_ENV = "CXR_AUDIT_DIR"
LOG_NAME = "audit.jsonl"
MAX_BYTES = 5 * 1024 * 1024
BACKUPS = 10

_locks: dict[str, threading.Lock] = {}
_locks_guard = threading.Lock()


def audit_dir() -> Path:
    override = os.environ.get(AUDIT_ENV)
    if override:
        return Path(override)
    from cxr_desktop.core.appdirs import user_data_dir

    return user_data_dir() / "audit"


def _lock_for(folder: Path) -> threading.Lock:
    with _locks_guard:
        return _locks.setdefault(str(folder.resolve()), threading.Lock())


def _user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # noqa: BLE001 - getuser raises OSError/KeyError where no name is set
        return f"uid:{os.getuid()}" if hasattr(os, "getuid") else "unknown"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds")


def _number(value: float) -> float | None:
    return None if value is None or not math.isfinite(value) else round(float(value), 6)


def append(
    entry: dict[str, Any], folder: Path | None = None, *, max_bytes: int = MAX_BYTES, backups: int = BACKUPS
) -> bool:
    """Append one entry (time and user added); returns False when it could not be written."""
    folder = folder or audit_dir()
    record = {"time": _now(), "user": _user(), **entry}
    # A file name that is not valid UTF-8 reaches Python as text with lone surrogates, which strict
    # UTF-8 refuses (that stopped a batch). Written as JSON escapes (``\udcff``) the line stays
    # valid UTF-8 and ``json.loads`` gives back the very text ``os.fsencode`` turns into the name.
    text = json.dumps(record, ensure_ascii=False, allow_nan=False, default=str) + "\n"
    line = text.encode("utf-8", "backslashreplace")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with _lock_for(folder), _file_lock(folder):
            current = folder / LOG_NAME
            if current.exists() and current.stat().st_size + len(line) > max_bytes:
                _rotate(folder, backups)
            fd = os.open(current, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                os.write(fd, line)
            finally:
                os.close(fd)
    except OSError as exc:
        log.warning("audit trail not written to %s: %s", folder, exc)
        return False
    return True


@contextmanager
def _file_lock(folder: Path) -> Iterator[None]:
    """Lock the folder for every process on this computer (Windows: threads only).

    The folder, not a file in it: rotation renames the files, and a lock on a renamed file
    protects nothing.
    """
    try:
        import fcntl
    except ImportError:
        yield
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _rotate(folder: Path, backups: int) -> None:
    """audit.jsonl -> .1 -> .2 ... -> .N; only the oldest backup is ever removed."""
    oldest = folder / f"{LOG_NAME}.{backups}"
    oldest.unlink(missing_ok=True)
    for index in range(backups - 1, 0, -1):
        source = folder / f"{LOG_NAME}.{index}"
        if source.exists():
            os.replace(source, folder / f"{LOG_NAME}.{index + 1}")
    os.replace(folder / LOG_NAME, folder / f"{LOG_NAME}.1")


def model_fields(bundle: ModelBundle | None) -> dict[str, str] | None:
    if bundle is None:
        return None
    return {"name": bundle.name, "version": bundle.version, "sha256": bundle.sha256}


def record_scored(
    row: ScreeningRow, bundle: ModelBundle | None, *, pseudonym: str = "", source: str = "", folder: Path | None = None
) -> bool:
    """Log one ``ScreeningRow``: file, hash, DICOM UIDs, model, probabilities, warnings."""
    radiograph = row.radiograph
    warnings = list(radiograph.warnings) if radiograph is not None else []
    if row.out_of_distribution:
        warnings.insert(0, "out of distribution: not recognised as a frontal chest radiograph")
    entry: dict[str, Any] = {
        "event": "scored" if row.ok else "failed",
        "path": os.path.abspath(row.path),
        "sha256": row.sha256 or _sha256_or_empty(Path(row.path)),
        "status": row.status,
        "prediction": row.prediction,
        "probabilities": {k: _number(v) for k, v in row.probabilities.items()},
        "risk": _number(row.risk),
        "flagged": list(row.flagged),
        "ood_score": _number(row.ood_score),
        "warnings": warnings,
        "message": row.message,
        "model": model_fields(bundle),
    }
    if radiograph is not None and radiograph.dicom is not None:
        info = radiograph.dicom
        entry["dicom"] = {
            "study_uid": info.study_uid,
            "series_uid": info.series_uid,
            "sop_instance_uid": info.sop_instance_uid,
        }
    if pseudonym:
        entry["pseudonym"] = pseudonym
    if source:
        entry["source"] = source
    return append(entry, folder)


def _sha256_or_empty(path: Path) -> str:
    """Hash of a file that failed to load, when it can be read at all (empty otherwise)."""
    try:
        return file_sha256(path) if path.is_file() else ""
    except OSError:
        return ""


def record_export(
    what: str,
    target: str | Path,
    *,
    rows: int | None = None,
    identifiers: str = "",
    bundle: ModelBundle | None = None,
    source: str = "",
    folder: Path | None = None,
) -> bool:
    """Log an export: ``what`` is e.g. "csv", "pdf", "png", "heatmaps"; ``target`` where it went."""
    entry: dict[str, Any] = {"event": "export", "what": what, "target": os.path.abspath(target)}
    if rows is not None:
        entry["rows"] = rows
    if identifiers:
        entry["identifiers"] = identifiers
    if bundle is not None:
        entry["model"] = model_fields(bundle)
    if source:
        entry["source"] = source
    return append(entry, folder)


def read_audit(limit: int | None = 200, folder: Path | None = None) -> list[dict[str, Any]]:
    """The most recent entries, newest first, across rotated files; unreadable lines are skipped."""
    folder = folder or audit_dir()
    files = [folder / LOG_NAME] + sorted(
        (p for p in folder.glob(f"{LOG_NAME}.*") if p.suffix[1:].isdigit()), key=lambda p: int(p.suffix[1:])
    )
    entries: list[dict[str, Any]] = []
    for path in files:
        try:
            lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
        except OSError:
            continue
        for line in reversed(lines):
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                log.warning("skipped a damaged line in %s", path)
                continue
            if isinstance(entry, dict):
                entries.append(entry)
                if limit is not None and len(entries) >= limit:
                    return entries
    return entries
