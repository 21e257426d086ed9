"""Load: 200 real films pushed to a real ``cxr-desktop listen`` process by four concurrent
associations are all stored, scored and answered (an SR and a heat-map each on the forward node),
in order within each study; the listener's peak memory is printed."""

from __future__ import annotations

import csv
import signal
import threading
import time
from pathlib import Path

import pydicom
import pytest

from cxr_desktop.pacs.nodes import Node
from cxr_desktop.pacs.send import send_instances
from tests.pacs.films import adult_films, write_films
from tests.pacs.test_listen import start_listener

FILMS, SENDERS, PER_STUDY = 200, 4, 10


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


@pytest.mark.slow
def test_four_senders_200_films(cxr3, collector, tmp_path):
    paths = write_films(adult_films(cxr3, FILMS), tmp_path / "films", patients=FILMS // PER_STUDY)
    datasets = [pydicom.dcmread(path) for path in paths]
    studies: dict[str, list[pydicom.Dataset]] = {}
    for ds in datasets:
        studies.setdefault(str(ds.StudyInstanceUID), []).append(ds)
    batches = [[ds for uid in list(studies)[k::SENDERS] for ds in studies[uid]] for k in range(SENDERS)]
    failures: list[BaseException] = []

    def send(batch: list[pydicom.Dataset]) -> None:
        try:
            send_instances(node, batch, calling_ae="MODALITY")
        except Exception as exc:  # noqa: BLE001 - reported by the assertion below
            failures.append(exc)

    process, port = start_listener(tmp_path, collector.port)
    node = Node("CXRDESKTOP", "127.0.0.1", port)
    try:
        started = time.monotonic()
        senders = [threading.Thread(target=send, args=(batch,)) for batch in batches]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        sent = time.monotonic() - started
        received = collector.wait_for(2 * FILMS, timeout=600)
        done = time.monotonic() - started
        peak = peak_rss_mb(process.pid)
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(timeout=60)
    print(
        f"{FILMS} films by {SENDERS} associations: all stored and acknowledged in {sent:.1f} s; all scored and"
        f" SR and heat-map forwarded in {done:.1f} s ({FILMS / done:.1f} films/s); listener peak RSS {peak:.0f} MB"
    )
    assert failures == []
    with open(tmp_path / "store" / "received.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == FILMS and {row["status"] for row in rows} == {"scored"}
    assert len(received) == 2 * FILMS and all(row["forwarded"].startswith("OTHER@") for row in rows)
    numbers = {str(ds.SOPInstanceUID): int(ds.InstanceNumber) for ds in datasets}
    for uid in studies:
        order = [numbers[row["sop_instance_uid"]] for row in rows if row["study_uid"] == uid]
        assert order == sorted(order) and len(order) == PER_STUDY
