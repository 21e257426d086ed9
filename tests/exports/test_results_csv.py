"""The CLI's running CSV: always a valid file, the same bytes as the one-shot renderer."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pytest

from cxr_desktop.core.privacy import IDENTIFIER_MODES
from cxr_desktop.exports.results_csv import ResultsCsv, csv_columns, render_csv
from cxr_desktop.core.scoring import ScreeningRow

CLASSES = ["covid", "pneumonia", "normal"]


def _row(index: int) -> ScreeningRow:
    if index % 3 == 2:
        return ScreeningRow(
            Path(f'/studies/ünïcode, "quoted"\n{index}.png'), "error", message="file is empty (0 bytes)"
        )
    return ScreeningRow(
        Path(f"/studies/{index}.png"),
        "ok",
        "normal",
        {"covid": 0.1, "pneumonia": 0.2, "normal": 0.7},
        0.3,
        [],
        "",
        f"{index:064x}",
    )


def _parse(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        assert reader.fieldnames == csv_columns(CLASSES)
        return list(reader)


@pytest.mark.parametrize("mode", IDENTIFIER_MODES)
def test_running_csv_is_valid_after_every_flush_and_matches_the_renderer(mode, tmp_path):
    target = tmp_path / "out.csv"
    results = ResultsCsv(target, CLASSES, flush_interval=0.0, identifiers=mode)
    assert _parse(target) == []
    rows = [_row(i) for i in range(7)]
    for count, row in enumerate(rows, start=1):
        results.add(row)
        assert len(_parse(target)) == count
    assert (results.count, results.errors) == (7, 2)
    assert target.read_bytes() == render_csv(rows, CLASSES, identifiers=mode, key=results.key)


def test_rows_between_flushes_reach_the_file_on_the_final_flush(tmp_path):
    target = tmp_path / "out.csv"
    results = ResultsCsv(target, CLASSES, flush_interval=3600.0)
    results.add(_row(0))
    results.add(_row(1))
    assert _parse(target) == [], "within the interval the file still holds the header alone, and stays valid"
    results.flush()
    assert [r["path"] for r in _parse(target)] == ["/studies/0.png", "/studies/1.png"]
    assert list(csv.DictReader(io.StringIO(target.read_text(encoding="utf-8"))))[1]["p_normal"] == "0.7000"
