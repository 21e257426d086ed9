"""The screening CSV: the contract other tools rely on, written atomically as the batch goes.

The whole file is rewritten to a temporary file and renamed into place at most once per
``flush_interval`` seconds and at the end, so a crash, a kill or a cancel leaves a valid CSV of
everything already scored (at most one interval lost) and a reader never sees a half-written row.
"""

from __future__ import annotations

import csv
import io
import math
import time
from collections.abc import Mapping
from pathlib import Path

from cxr_desktop.core.atomic import write_bytes_atomic
from cxr_desktop.core.privacy import display_path, installation_key, path_labeller
from cxr_desktop.core.scoring import ScreeningRow


#: Which model and which engine computed the rows: the same for every row of one run, so a CSV
#: passed on says what produced it (e.g. "densenet121-3class v2.0.0", "OpenVINO float32").
PROVENANCE = ("model", "engine")


def csv_columns(classes: list[str]) -> list[str]:
    return [
        "path",
        "status",
        "prediction",
        *[f"p_{c}" for c in classes],
        "risk",
        "flagged",
        "message",
        "sha256",
        *PROVENANCE,
    ]


def csv_record(
    row: ScreeningRow,
    classes: list[str],
    *,
    path_text: str | None = None,
    provenance: Mapping[str, str] | None = None,
) -> dict[str, str]:
    record = {
        "path": display_path(row.path) if path_text is None else path_text,
        "status": row.status,
        "prediction": row.prediction,
        "risk": "" if math.isnan(row.risk) else f"{row.risk:.4f}",
        "flagged": ";".join(row.flagged),
        "message": row.message,
        "sha256": row.sha256,
        **{name: (provenance or {}).get(name, "") for name in PROVENANCE},
    }
    for name in classes:
        value = row.probabilities.get(name)
        record[f"p_{name}"] = "" if value is None else f"{value:.4f}"
    return record


def _writer(classes: list[str]) -> tuple[io.StringIO, csv.DictWriter]:
    buffer = io.StringIO()
    return buffer, csv.DictWriter(buffer, fieldnames=csv_columns(classes), lineterminator="\n")


def render_csv(
    rows: list[ScreeningRow],
    classes: list[str],
    *,
    identifiers: str = "keep",
    key: bytes | None = None,
    provenance: Mapping[str, str] | None = None,
) -> bytes:
    """The CSV bytes; ``identifiers`` is "keep", "pseudonymise" or "omit" (see ``core.privacy``)."""
    label = path_labeller(identifiers, key)
    buffer, writer = _writer(classes)
    writer.writeheader()
    for row in rows:
        writer.writerow(csv_record(row, classes, path_text=label(row.path), provenance=provenance))
    return buffer.getvalue().encode("utf-8", "backslashreplace")


class ResultsCsv:
    """Keeps ``target`` a valid, up-to-date CSV while a batch runs.

    Each row is kept as its rendered CSV line, not as the row object, so a 5,000-image batch holds
    about a megabyte of text and a rewrite is a join rather than re-formatting every row.
    """

    def __init__(
        self,
        target: str | Path,
        classes: list[str],
        flush_interval: float = 1.0,
        *,
        identifiers: str = "keep",
        provenance: Mapping[str, str] | None = None,
    ) -> None:
        self.target = Path(target)
        self.classes = classes
        self.provenance = provenance
        self.key = installation_key() if identifiers == "pseudonymise" else None
        self.flush_interval = flush_interval
        self.count = 0
        self.errors = 0
        self._label = path_labeller(identifiers, self.key)
        self._buffer, self._writer = _writer(classes)
        self._writer.writeheader()
        self._lines = [self._take_line()]
        self._last_flush = 0.0
        self.flush()

    def _take_line(self) -> str:
        line = self._buffer.getvalue()
        self._buffer.seek(0)
        self._buffer.truncate()
        return line

    def add(self, row: ScreeningRow) -> str:
        """Record ``row``; returns the path column as written (the pseudonym in that mode)."""
        path_text = self._label(row.path)
        self._writer.writerow(csv_record(row, self.classes, path_text=path_text, provenance=self.provenance))
        self._lines.append(self._take_line())
        self.count += 1
        self.errors += not row.ok
        if time.monotonic() - self._last_flush >= self.flush_interval:
            self.flush()
        return path_text

    def flush(self) -> None:
        write_bytes_atomic(self.target, "".join(self._lines).encode("utf-8", "backslashreplace"))
        self._last_flush = time.monotonic()
