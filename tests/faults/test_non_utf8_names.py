"""A file name that is not valid UTF-8 is scored and listed like any other, in the CLI and the window.

Linux file names are bytes; Python keeps the undecodable ones as lone surrogates, which strict
UTF-8 writers refuse. Before the fix the audit write raised ``UnicodeEncodeError`` and stopped the
CLI batch, and the window aborted (SIGABRT) when Qt was handed such a name.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.faults.cli_run import rows, screen

ODD_NAMES = (b"caf\xe9-\xff.jpg", b"\xc3(-patient.jpg")


@pytest.fixture
def odd_folder(tmp_path, sample_images) -> Path:
    folder = tmp_path / "films"
    folder.mkdir()
    for raw, film in zip(ODD_NAMES, sample_images):
        shutil.copy(film, folder / os.fsdecode(raw))
    shutil.copy(sample_images[2], folder / "plain.jpg")
    return folder


def test_cli_scores_and_lists_every_odd_name(odd_folder, tiny_bundle, tmp_path, capsys):
    out = tmp_path / "out.csv"
    assert screen(odd_folder, tiny_bundle.folder, out, "--identifiers", "keep") == 0
    records = rows(out)
    assert [record["status"] for record in records] == ["ok", "ok", "ok"], records
    paths = {Path(record["path"]).name for record in records}
    assert paths == {"caf\\xe9-\\xff.jpg", "\\xc3(-patient.jpg", "plain.jpg"}
    assert "Traceback" not in capsys.readouterr().err


def test_cli_pseudonymises_odd_names(odd_folder, tiny_bundle, tmp_path):
    out = tmp_path / "out.csv"
    assert screen(odd_folder, tiny_bundle.folder, out) == 0
    assert all(record["path"].startswith("anon-") and record["status"] == "ok" for record in rows(out))


def test_window_scores_and_lists_odd_names(make_window, qtbot, odd_folder):
    window = make_window()
    odd = odd_folder / os.fsdecode(ODD_NAMES[0])
    with qtbot.waitSignal(window.result_displayed, timeout=120_000):
        window.open_image(odd)
    assert window.score.path == odd
    window.setWindowTitle(window.windowTitle())
    with qtbot.waitSignal(window.batch_completed, timeout=120_000):
        window.open_paths([odd_folder])
    table = window.batch.model
    assert len(table.items) == 3 and all(row.ok for row in table.rows), [row.message for row in table.rows]
    proxy = window.batch.proxy
    shown = {proxy.index(r, c).data() for r in range(proxy.rowCount()) for c in range(proxy.columnCount())}
    assert any(isinstance(text, str) and "caf" in text for text in shown)
