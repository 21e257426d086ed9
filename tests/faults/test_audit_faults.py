"""The audit trail under two writing processes and file names that are not UTF-8.

Before the fixes, two processes appending at once both rotated the same file (the second rename
found nothing to move, and its record was dropped), and a file name with a byte that is not UTF-8
raised ``UnicodeEncodeError`` out of ``record_scored``, which ended the CLI batch.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import shutil
from pathlib import Path

from cxr_desktop.core import audit
from cxr_desktop.core.radiograph import load_radiograph
from cxr_desktop.core.scoring import ScreeningRow

RECORDS = 400


def _append_many(folder: str, worker: int, start) -> None:
    start.wait()
    for index in range(RECORDS):
        audit.append({"event": "test", "worker": worker, "index": index}, Path(folder), max_bytes=2_000, backups=60)


def test_two_processes_rotating_at_once_lose_no_record(tmp_path):
    context = multiprocessing.get_context("fork")
    start = context.Event()
    writers = [context.Process(target=_append_many, args=(str(tmp_path), worker, start)) for worker in (1, 2)]
    for process in writers:
        process.start()
    start.set()
    for process in writers:
        process.join(120)
        assert process.exitcode == 0
    entries = audit.read_audit(limit=None, folder=tmp_path)
    seen = {(entry["worker"], entry["index"]) for entry in entries}
    assert len(entries) == len(seen) == 2 * RECORDS, f"{2 * RECORDS - len(seen)} records lost"
    assert len(list(tmp_path.glob(audit.LOG_NAME + ".*"))) > 10, "the test must make the writers rotate"


def test_a_file_name_that_is_not_utf8_is_recorded_and_read_back(tmp_path, sample_images):
    name = os.fsdecode(b"patient-\xff\xfe.jpg")
    film = tmp_path / name
    shutil.copy(sample_images[0], film)
    radiograph = load_radiograph(film)
    row = ScreeningRow(path=film, status="ok", prediction="normal", sha256=radiograph.sha256, radiograph=radiograph)
    folder = tmp_path / "audit"
    assert audit.record_scored(row, None, source="cli", folder=folder)
    raw = (folder / audit.LOG_NAME).read_bytes()
    raw.decode("utf-8")
    (entry,) = audit.read_audit(folder=folder)
    assert os.fsencode(entry["path"]) == os.fsencode(str(film))
    assert json.loads(raw)["sha256"] == radiograph.sha256
