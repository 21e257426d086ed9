"""Audit trail: every scored or failed image and every export, as valid JSON lines, rotated by size."""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from cxr_desktop.core import audit
from cxr_desktop.core.image import DicomInfo
from cxr_desktop.core.radiograph import load_radiograph
from cxr_desktop.core.scoring import ScreeningRow
from tests.faults.cli_run import screen


@pytest.fixture()
def audit_folder(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "audit"
    monkeypatch.setenv(audit.AUDIT_ENV, str(folder))
    monkeypatch.setenv("CXR_HOME", str(tmp_path / "home"))
    return folder


def all_lines(folder: Path) -> list[dict]:
    entries = []
    for path in sorted(folder.glob(audit.LOG_NAME + "*")):
        for line in path.read_text(encoding="utf-8").splitlines():
            entries.append(json.loads(line))
    return entries


def test_headless_screen_logs_every_file_and_the_export(audit_folder, tiny_bundle, sample_images, tmp_path):
    folder = tmp_path / "studies"
    folder.mkdir()
    for image in sample_images[:3]:
        shutil.copy(image, folder / image.name)
    (folder / "report.txt").write_text("not an image")
    out = tmp_path / "out.csv"
    assert screen(folder, tiny_bundle.folder, out, "--heatmaps", str(tmp_path / "maps")) == 0
    entries = audit.read_audit(limit=None)
    assert entries == audit.read_audit(limit=None, folder=audit_folder)
    assert [e["event"] for e in entries[:2]] == ["export", "export"], "newest first"
    exports = {e["what"]: e for e in entries if e["event"] == "export"}
    assert exports["csv"]["target"] == str(out) and exports["csv"]["rows"] == 4
    assert exports["csv"]["identifiers"] == "pseudonymise"
    assert exports["heatmaps"]["rows"] == 3
    scored = [e for e in entries if e["event"] == "scored"]
    failed = [e for e in entries if e["event"] == "failed"]
    assert len(scored) == 3 and len(failed) == 1
    assert failed[0]["path"].endswith("report.txt") and "not an image" in failed[0]["message"]
    assert len(failed[0]["sha256"]) == 64, "even a refused file is identified by its hash"
    by_name = {Path(e["path"]).name: e for e in scored}
    for image in sample_images[:3]:
        entry = by_name[image.name]
        assert entry["sha256"] == load_radiograph(image).sha256
        assert entry["model"] == {
            "name": tiny_bundle.name,
            "version": tiny_bundle.version,
            "sha256": tiny_bundle.sha256,
        }
        assert abs(sum(entry["probabilities"].values()) - 1.0) < 1e-3
        assert entry["prediction"] in entry["probabilities"]
        assert entry["user"] and entry["time"].endswith("+00:00")
        assert entry["pseudonym"].startswith("anon-") and entry["source"] == "cli"


def test_dicom_uids_and_warnings_are_recorded(audit_folder, sample_images):
    radiograph = load_radiograph(sample_images[0])
    from dataclasses import replace

    dicom = DicomInfo(study_uid="1.2.3.4", series_uid="1.2.3.4.5", sop_instance_uid="1.2.3.4.5.6", modality="DX")
    radiograph = replace(radiograph, dicom=dicom, warnings=("lateral view: not what the model was trained on",))
    row = ScreeningRow(
        path=sample_images[0],
        status="ok",
        prediction="normal",
        probabilities={"covid": 0.1, "normal": 0.9},
        risk=float("nan"),
        sha256=radiograph.sha256,
        radiograph=radiograph,
        ood_score=7.5,
        out_of_distribution=True,
        message="m",
    )
    assert audit.record_scored(row, None, source="gui")
    (entry,) = audit.read_audit()
    assert entry["dicom"] == {"study_uid": "1.2.3.4", "series_uid": "1.2.3.4.5", "sop_instance_uid": "1.2.3.4.5.6"}
    assert entry["warnings"][0].startswith("out of distribution")
    assert "lateral view" in entry["warnings"][1]
    assert entry["risk"] is None and entry["ood_score"] == 7.5 and entry["model"] is None


def test_rotation_by_size_keeps_the_newest_and_a_bounded_number_of_files(tmp_path):
    folder = tmp_path / "rot"
    for index in range(500):
        assert audit.append({"event": "test", "index": index, "pad": "x" * 100}, folder, max_bytes=4000, backups=3)
    files = sorted(p.name for p in folder.iterdir())
    assert files == ["audit.jsonl", "audit.jsonl.1", "audit.jsonl.2", "audit.jsonl.3"]
    assert all(p.stat().st_size <= 4000 for p in folder.iterdir())
    newest = audit.read_audit(limit=5, folder=folder)
    assert [e["index"] for e in newest] == [499, 498, 497, 496, 495]
    everything = audit.read_audit(limit=None, folder=folder)
    indices = [e["index"] for e in everything]
    assert indices == sorted(indices, reverse=True) and indices[0] == 499
    assert len(indices) == len(set(indices)) and len(indices) < 500


def test_concurrent_appends_from_threads_give_valid_lines(tmp_path):
    folder = tmp_path / "threads"

    def writer(worker: int) -> None:
        for index in range(150):
            audit.append(
                {"event": "test", "worker": worker, "index": index, "pad": "é" * 50},
                folder,
                max_bytes=20_000,
                backups=50,
            )

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    entries = all_lines(folder)
    assert len(entries) == 8 * 150
    assert {(e["worker"], e["index"]) for e in entries} == {(w, i) for w in range(8) for i in range(150)}


def test_unwritable_folder_never_stops_the_work(tmp_path, caplog):
    blocker = tmp_path / "file"
    blocker.write_text("a file where the folder should be")
    assert audit.append({"event": "test"}, blocker / "audit") is False
    assert "audit trail not written" in caplog.text


def test_damaged_line_is_skipped_by_the_reader(tmp_path):
    folder = tmp_path / "damaged"
    audit.append({"event": "first"}, folder)
    with open(folder / audit.LOG_NAME, "a", encoding="utf-8") as handle:
        handle.write('{"event": "half\n')
    audit.append({"event": "last"}, folder)
    assert [e["event"] for e in audit.read_audit(folder=folder)] == ["last", "first"]


def test_default_folder_is_per_user(monkeypatch, tmp_path):
    monkeypatch.delenv(audit.AUDIT_ENV, raising=False)
    monkeypatch.setenv("CXR_HOME", str(tmp_path / "home"))
    assert audit.audit_dir() == tmp_path / "home" / "audit"
