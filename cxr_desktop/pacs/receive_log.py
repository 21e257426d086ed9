"""The listener's CSV log: one row per instance received, whatever became of it.

Rows are appended and flushed one by one, so the file is a complete record up to the last
instance processed even if the listener is killed.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from cxr_desktop.pacs.scp import Received


@dataclass
class Outcome:
    """What became of one received instance: ``status`` is scored, stored (kept, not scored) or error."""

    status: str
    prediction: str = ""
    probabilities: dict[str, float] = field(default_factory=dict)
    flagged: Sequence[str] = ()
    message: str = ""
    sr_uid: str = ""
    heatmap_uid: str = ""
    forwarded: str = ""


class ReceiveLog:
    def __init__(self, path: Path, classes: Sequence[str]) -> None:
        self.path = Path(path)
        self.classes = list(classes)
        self.columns = [
            "received_at",
            "calling_ae",
            "study_uid",
            "sop_instance_uid",
            "sop_class",
            "stored_path",
            "status",
            "prediction",
            *(f"p_{name}" for name in self.classes),
            "flagged",
            "message",
            "sr_uid",
            "heatmap_uid",
            "forwarded",
        ]
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fresh = not self.path.exists() or self.path.stat().st_size == 0
        self._handle: IO[str] = open(self.path, "a", newline="", encoding="utf-8")
        self._writer = csv.DictWriter(self._handle, fieldnames=self.columns)
        if fresh:
            self._writer.writeheader()
            self._handle.flush()

    def add(self, received: Received, outcome: Outcome) -> None:
        row = {
            "received_at": received.received_at,
            "calling_ae": received.calling_ae,
            "study_uid": received.study_uid,
            "sop_instance_uid": received.sop_instance_uid,
            "sop_class": received.sop_class_uid,
            "stored_path": str(received.path),
            "status": outcome.status,
            "prediction": outcome.prediction,
            **{f"p_{name}": _number(outcome.probabilities.get(name)) for name in self.classes},
            "flagged": ";".join(outcome.flagged),
            "message": outcome.message,
            "sr_uid": outcome.sr_uid,
            "heatmap_uid": outcome.heatmap_uid,
            "forwarded": outcome.forwarded,
        }
        self._writer.writerow(row)
        self._handle.flush()

    def close(self) -> None:
        self._handle.close()


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.6f}"
