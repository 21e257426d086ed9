"""A folder batch's progress on disk, so the GUI can resume a cancelled or crashed batch.

One JSON-lines file in the user's data folder: the first line says what was asked (the items and
root, the model), each further line is one finished row. Lines are appended and flushed as rows
arrive, so a crash loses at most the line being written (a torn last line is ignored on reading).
The file holds real paths, like the audit trail beside it; it never leaves the workstation and is
deleted when its batch completes.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from cxr_desktop.core.appdirs import user_data_dir
from cxr_desktop.core.scoring import ScreeningRow

JOURNAL_NAME = "unfinished-batch.jsonl"


def journal_path() -> Path:
    return user_data_dir() / JOURNAL_NAME


@dataclass(frozen=True)
class BatchPlan:
    items: tuple[Path, ...]
    root: Path | None
    model: str


@dataclass(frozen=True)
class Unfinished:
    plan: BatchPlan
    rows: list[ScreeningRow]


def _row_record(row: ScreeningRow) -> dict[str, Any]:
    return {
        "path": os.fspath(row.path),
        "status": row.status,
        "prediction": row.prediction,
        "probabilities": row.probabilities,
        "risk": None if math.isnan(row.risk) else row.risk,
        "flagged": row.flagged,
        "message": row.message,
        "sha256": row.sha256,
        "ood_score": None if math.isnan(row.ood_score) else row.ood_score,
        "out_of_distribution": row.out_of_distribution,
        "warnings": list(row.warnings),
    }


def _row(record: dict[str, Any]) -> ScreeningRow:
    def number(value: Any) -> float:
        return float("nan") if value is None else float(value)

    return ScreeningRow(
        path=Path(record["path"]),
        status=str(record["status"]),
        prediction=str(record.get("prediction", "")),
        probabilities={str(k): float(v) for k, v in record.get("probabilities", {}).items()},
        risk=number(record.get("risk")),
        flagged=[str(v) for v in record.get("flagged", [])],
        message=str(record.get("message", "")),
        sha256=str(record.get("sha256", "")),
        ood_score=number(record.get("ood_score")),
        out_of_distribution=bool(record.get("out_of_distribution", False)),
        warnings=tuple(str(v) for v in record.get("warnings", [])),
    )


class BatchJournal:
    """Writes one batch's journal; ``close(complete=True)`` removes it."""

    def __init__(self, plan: BatchPlan, rows: list[ScreeningRow] | None = None, path: Path | None = None) -> None:
        self.path = path or journal_path()
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._handle: IO[str] | None = self.path.open("w", encoding="utf-8")
        header = {"items": [os.fspath(p) for p in plan.items], "root": plan.root and os.fspath(plan.root)}
        self._write({**header, "model": plan.model})
        self.add(rows or [])

    def _write(self, record: dict[str, Any]) -> None:
        if self._handle is not None:
            self._handle.write(json.dumps(record) + "\n")

    def add(self, rows: list[ScreeningRow]) -> None:
        for row in rows:
            self._write(_row_record(row))
        if self._handle is not None:
            self._handle.flush()

    def close(self, complete: bool) -> None:
        if self._handle is not None:
            self._handle.close()
            self._handle = None
        if complete:
            self.path.unlink(missing_ok=True)


def read_unfinished(path: Path | None = None) -> Unfinished | None:
    """The batch left by a cancel or a crash, or None (no journal, or one that cannot be read)."""
    path = path or journal_path()
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
        header = json.loads(lines[0])
        plan = BatchPlan(
            items=tuple(Path(p) for p in header["items"]),
            root=Path(header["root"]) if header.get("root") else None,
            model=str(header.get("model", "")),
        )
    except (OSError, ValueError, KeyError, IndexError, TypeError):
        return None
    rows = []
    for line in lines[1:]:
        try:
            rows.append(_row(json.loads(line)))
        except (ValueError, KeyError, TypeError, AttributeError):
            break
    return Unfinished(plan, rows)
