"""``cxr-desktop listen`` end to end: a real listener process, real films in, an SR and a heat-map
out to a second storage SCP, with the probabilities ``cxr-desktop screen`` gives for the same files."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import EncapsulatedPDFStorage, ExplicitVRLittleEndian, generate_uid

from cxr_desktop.cli import main
from cxr_desktop.pacs.nodes import Node, PacsError, echo
from cxr_desktop.pacs.results_sr import probabilities_of
from cxr_desktop.pacs.send import send_instances
from tests.conftest import ROOT
from tests.pacs.orthanc import free_port

MEANINGS = {"COVID-19": "covid", "Pneumonia": "pneumonia", "No abnormality detected": "normal"}


def start_listener(tmp_path: Path, forward_port: int) -> tuple[subprocess.Popen, int]:
    port = free_port()
    command = [
        sys.executable, "-m", "cxr_desktop", "listen", "--port", str(port), "--ae-title", "CXRDESKTOP",
        "--forward", f"127.0.0.1:{forward_port}:OTHER", "--store", str(tmp_path / "store"),
        "--allow", "MODALITY", "CXRDESKTOP", "--model", "densenet121-3class",
    ]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 60
    line = ""
    while time.monotonic() < deadline and "listening on" not in line:
        line = process.stderr.readline()
        assert line or process.poll() is None, "listener exited before listening"
    assert "listening on" in line, line
    return process, port


def pdf_instance(study_uid: str) -> Dataset:
    """A non-image instance (Encapsulated PDF): stored and logged, never scored."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = ds.file_meta.MediaStorageSOPClassUID = EncapsulatedPDFStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, generate_uid()
    ds.PatientID, ds.Modality, ds.MIMETypeOfEncapsulatedDocument = "CXRTEST0000", "DOC", "application/pdf"
    ds.EncapsulatedDocument = b"%PDF-1.4\n%%EOF\n"
    return ds


def test_listen_scores_forwards_and_logs_every_instance(films, collector, tmp_path):
    sources = [films[0], films[2]]  # the first patient's study
    chest = [pydicom.dcmread(path) for path in sources]
    study = str(chest[0].StudyInstanceUID)
    hand = pydicom.dcmread(films[4])
    hand.SOPInstanceUID = hand.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    hand.BodyPartExamined = "HAND"
    broken = pydicom.dcmread(films[1])
    broken.SOPInstanceUID = broken.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    broken.PixelData = np.zeros(10, np.uint8).tobytes()
    folder = tmp_path / "chest"
    folder.mkdir()
    for path in sources:
        (folder / path.name).write_bytes(path.read_bytes())

    process, port = start_listener(tmp_path, collector.port)
    try:
        node = Node("CXRDESKTOP", "127.0.0.1", port)
        echo(node, calling_ae="MODALITY")
        with pytest.raises(PacsError, match="rejected"):
            echo(node, calling_ae="STRANGER")
        started = time.monotonic()
        send_instances(node, [*chest, hand, pdf_instance(study), broken], calling_ae="MODALITY")
        received = collector.wait_for(4, timeout=60)
        print(f"4 results forwarded {time.monotonic() - started:.1f} s after the first C-STORE")
    finally:
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=30) == 0
    assert main(["screen", str(folder), "--csv", str(tmp_path / "screen.csv"), "--identifiers", "keep", "--quiet"]) == 0
    with open(tmp_path / "screen.csv", newline="", encoding="utf-8") as handle:
        screened = {Path(row["path"]).name: row for row in csv.DictReader(handle)}
    by_uid = {str(ds.SOPInstanceUID): screened[path.name] for ds, path in zip(chest, sources)}

    reports = [ds for ds in received if ds.Modality == "SR"]
    heatmaps = [ds for ds in received if ds.SOPClassUID == pydicom.uid.SecondaryCaptureImageStorage]
    assert len(reports) == len(heatmaps) == 2 and len(received) == 4
    for report in reports:
        assert report.StudyInstanceUID == study
        evidence = report.CurrentRequestedProcedureEvidenceSequence[0].ReferencedSeriesSequence[0]
        expected = by_uid[evidence.ReferencedSOPSequence[0].ReferencedSOPInstanceUID]
        for meaning, probability in probabilities_of(report).items():
            assert probability == pytest.approx(float(expected[f"p_{MEANINGS[meaning]}"]), abs=0.01)
    assert {ds.SourceImageSequence[0].ReferencedSOPInstanceUID for ds in heatmaps} == set(by_uid)

    with open(tmp_path / "store" / "received.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["status"] for row in rows] == ["scored", "scored", "stored", "stored", "error"]
    assert "body part examined is HAND" in rows[2]["message"]
    assert "Encapsulated PDF" in rows[3]["message"] and rows[4]["message"].startswith("stored, not scored")
    assert all(row["forwarded"] == "OTHER@127.0.0.1:" + str(collector.port) for row in rows[:2])
    assert all(Path(row["stored_path"]).is_file() for row in rows)


def test_listen_refuses_bad_options_with_a_reason(capsys, tmp_path):
    store = ["--store", str(tmp_path)]
    assert main(["listen", "--forward", "nonsense", *store]) == 2
    assert "is not HOST:PORT:AET" in capsys.readouterr().err
    assert main(["listen", "--host", "0.0.0.0", *store]) == 2
    assert "name them with --allow" in capsys.readouterr().err
    assert main(["listen", "--ae-title", "A" * 17, *store]) == 2
    assert "is not an AE title" in capsys.readouterr().err
    assert main(["listen", "--port", "70000", *store]) == 2
    assert "outside 1-65535" in capsys.readouterr().err
