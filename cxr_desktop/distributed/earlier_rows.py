"""``--resume``: the rows an interrupted run already wrote, matched back to the films they belong to.

A row is matched by its ``path`` column (the file path, or its pseudonym, which is stable on this
computer), so resuming needs the identifier mode of the first run and cannot work with ``omit``.
While a resumed run has not yet rewritten every earlier row into the CSV, they are also kept in a
backup beside it (``backup_path``), so even a hard kill of the resumed run loses none of them.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from pathlib import Path

from cxr_desktop.core.atomic import write_bytes_atomic
from cxr_desktop.core.errors import CxrError
from cxr_desktop.core.scoring import ScreeningRow
from cxr_desktop.exports.results_csv import csv_columns, render_csv


def backup_path(target: Path) -> Path:
    return target.with_name(target.name + ".resume-backup")


def earlier_rows(
    target: Path, films: Sequence[Path], classes: list[str], label: Callable[[Path], str], identifiers: str
) -> dict[int, ScreeningRow]:
    """Rows already written for ``films`` (by position), from the CSV and any backup left beside it."""
    if identifiers == "omit":
        raise CxrError("--resume needs the path column: run with --identifiers keep or pseudonymise")
    records: dict[str, dict[str, str]] = {}
    for source in (backup_path(target), target):
        if source.is_file():
            for record in _read(source, classes):
                records.setdefault(record["path"], record)
    position = {label(film): index for index, film in enumerate(films)}
    strangers = [text for text in records if text not in position]
    if strangers:
        raise CxrError(
            f"{target} holds {len(strangers)} rows for files that are not in this folder (first: {strangers[0]});"
            " resume the run with the folder and --identifiers it was started with, or write a new CSV"
        )
    return {position[text]: _row(films[position[text]], record, classes) for text, record in records.items()}


def keep_backup(target: Path, rows: dict[int, ScreeningRow], classes: list[str], identifiers: str) -> None:
    """Write the earlier rows beside the CSV until the resumed run has written them all back."""
    ordered = [rows[index] for index in sorted(rows)]
    write_bytes_atomic(backup_path(target), render_csv(ordered, classes, identifiers=identifiers))


def _read(source: Path, classes: list[str]) -> list[dict[str, str]]:
    try:
        with source.open(encoding="utf-8", newline="") as handle:
            reader = csv.DictReader(handle)
            records = list(reader)
            header = reader.fieldnames or []
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise CxrError(f"cannot resume from {source}: {exc}") from None
    if header != csv_columns(classes):
        raise CxrError(
            f"cannot resume from {source}: its columns ({', '.join(header) or 'none'}) are not this model's"
            f" ({', '.join(csv_columns(classes))})"
        )
    return records


def _row(film: Path, record: dict[str, str], classes: list[str]) -> ScreeningRow:
    """The row that renders back to exactly ``record`` (the CSV holds 4 decimals; so does the row)."""
    probabilities = {name: float(record[f"p_{name}"]) for name in classes if record[f"p_{name}"] != ""}
    return ScreeningRow(
        path=film,
        status=record["status"],
        prediction=record["prediction"],
        probabilities=probabilities,
        risk=float(record["risk"]) if record["risk"] != "" else math.nan,
        flagged=record["flagged"].split(";") if record["flagged"] else [],
        message=record["message"],
        sha256=record["sha256"],
    )
