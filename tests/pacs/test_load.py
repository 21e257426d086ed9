"""Load: 200 real films pushed by four concurrent associations are all stored, scored and answered
(an SR and a heat-map each on the forward node), in order within each study."""

from __future__ import annotations

import csv
import resource
import threading
import time

import pydicom
import pytest

from cxr_desktop.pacs.listener import Listener
from cxr_desktop.pacs.nodes import Node
from cxr_desktop.pacs.receive_log import ReceiveLog
from cxr_desktop.pacs.scp import StorageServer
from cxr_desktop.pacs.send import send_instances
from tests.pacs.films import adult_films, write_films

FILMS, SENDERS, PER_STUDY = 200, 4, 10


@pytest.mark.slow
def test_four_senders_200_films(cxr3, engine, bundle_3class, collector, tmp_path):
    paths = write_films(adult_films(cxr3, FILMS), tmp_path / "films", patients=FILMS // PER_STUDY)
    datasets = [pydicom.dcmread(path) for path in paths]
    studies: dict[str, list[pydicom.Dataset]] = {}
    for ds in datasets:
        studies.setdefault(str(ds.StudyInstanceUID), []).append(ds)
    batches = [[ds for uid in list(studies)[k::SENDERS] for ds in studies[uid]] for k in range(SENDERS)]

    receive_log = ReceiveLog(tmp_path / "received.csv", bundle_3class.classes)
    forward = Node("OTHER", "127.0.0.1", collector.port)
    listener = Listener(engine, bundle_3class, receive_log, tmp_path / "results", forward=forward)
    server = StorageServer(tmp_path / "store", listener.received, port=0)
    server.start()
    node = Node("CXRDESKTOP", "127.0.0.1", server.port)
    started = time.monotonic()
    try:
        senders = [
            threading.Thread(target=send_instances, args=(node, batch), kwargs={"calling_ae": f"SENDER{k}"})
            for k, batch in enumerate(batches)
        ]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join()
        sent = time.monotonic() - started
        listener.wait_idle()
        done = time.monotonic() - started
    finally:
        server.stop()
        listener.stop()
        receive_log.close()
    received = collector.wait_for(2 * FILMS, timeout=60)
    print(
        f"{FILMS} films by {SENDERS} associations: stored in {sent:.1f} s, all scored and forwarded in {done:.1f} s"
        f" ({FILMS / done:.1f} films/s); peak RSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024:.0f} MB"
    )
    with open(tmp_path / "received.csv", newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == FILMS and {row["status"] for row in rows} == {"scored"}
    assert len(received) == 2 * FILMS and all(row["forwarded"].startswith("OTHER@") for row in rows)
    numbers = {str(ds.SOPInstanceUID): int(ds.InstanceNumber) for ds in datasets}
    for uid in studies:
        order = [numbers[row["sop_instance_uid"]] for row in rows if row["study_uid"] == uid]
        assert order == sorted(order) and len(order) == PER_STUDY
