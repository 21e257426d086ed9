"""The headless CLI over the troublesome-input corpus, and killed mid-run: the CSV stays valid.

The tiny bundle proves plumbing only; what is checked is that every file becomes exactly one row
with the expected status and reason, that the batch completes with exit 0, that no traceback
reaches the user, and that an interrupted run leaves a parseable CSV of complete rows.
"""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from cxr_desktop.core.screening import find_images
from tests.core.corpus import build_corpus

ROOT = Path(__file__).resolve().parents[2]


def screen_command(folder: Path, bundle_folder: Path, out: Path) -> list[str]:
    return [
        sys.executable,
        "-m",
        "cxr_desktop",
        "screen",
        str(folder),
        "--model",
        str(bundle_folder),
        "--csv",
        str(out),
        "--quiet",
    ]


def read_rows(path: Path) -> tuple[list[str], list[list[str]]]:
    """Header and rows; every line must be a complete record (same field count, newline-ended)."""
    text = path.read_text(encoding="utf-8")
    assert text.endswith("\n"), "the CSV ends in the middle of a line"
    header, *rows = list(csv.reader(text.splitlines()))
    for row in rows:
        assert len(row) == len(header), f"incomplete row: {row}"
    return header, rows


def test_cli_gives_every_corpus_file_one_row_with_its_reason(tiny_bundle, tmp_path):
    folder = tmp_path / "corpus"
    items = build_corpus(folder)
    out = tmp_path / "out.csv"
    result = subprocess.run(
        screen_command(folder, tiny_bundle.folder, out), cwd=ROOT, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    header, rows = read_rows(out)
    status, message = header.index("status"), header.index("message")

    walked = find_images(folder)
    by_path = {item.path: item for item in items if item.listed}
    assert set(walked) == set(by_path), "the corpus and the folder walk disagree"
    assert len(rows) == len(walked)
    for path, row in zip(walked, rows):  # rows come in walk order (the path column may be pseudonymised)
        item = by_path[path]
        assert row[status] == item.expected, (item.name, row)
        if item.expected == "error":
            assert item.reason in row[message], (item.name, row[message])
            assert "unexpected error" not in row[message]


@pytest.fixture(scope="module")
def big_folder(cxr3, tmp_path_factory) -> Path:
    """Every cxr3 radiograph (3,053), linked rather than copied: the CSV is flushed once a second,
    so the run must last several seconds for a kill to land mid-run."""
    folder = tmp_path_factory.mktemp("big")
    sources = sorted(cxr3.glob("*/*.jpg"))
    for index, source in enumerate(sources):
        os.symlink(source, folder / f"{index:04d}_{source.name}")
    return folder


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM], ids=["SIGKILL", "SIGTERM"])
def test_killing_the_cli_mid_run_leaves_a_valid_csv(sig, tiny_bundle, big_folder, tmp_path):
    out = tmp_path / "partial.csv"
    process = subprocess.Popen(
        screen_command(big_folder, tiny_bundle.folder, out),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline and process.poll() is None:
            if out.exists() and len(read_rows(out)[1]) >= 3:
                break
            time.sleep(0.05)
        assert process.poll() is None, "the run finished before it could be interrupted"
        process.send_signal(sig)
        _, stderr = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    header, rows = read_rows(out)
    assert header[:3] == ["path", "status", "prediction"]
    assert 3 <= len(rows) < len(list(big_folder.iterdir()))
    status = header.index("status")
    assert all(row[status] == "ok" for row in rows)
    assert "Traceback" not in stderr
    if sig == signal.SIGTERM:
        assert process.returncode == 130
        assert "interrupted after" in stderr
