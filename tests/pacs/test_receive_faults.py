"""The Storage SCP under faults: a sender that drops mid-association leaves nothing half-stored."""

from __future__ import annotations

import csv
import socket
import time
from io import BytesIO

import pydicom
from pynetdicom import AE
from pynetdicom.dimse_messages import C_STORE_RQ
from pynetdicom.dsutils import encode
from pynetdicom.pdu import P_DATA_TF
from pynetdicom.dimse_primitives import C_STORE

from cxr_desktop.pacs.nodes import Node
from cxr_desktop.pacs.scp import StorageServer
from cxr_desktop.pacs.send import send_instances


def test_a_dropped_sender_leaves_no_half_stored_instance(films, tmp_path):
    stored = []
    server = StorageServer(tmp_path / "store", stored.append, port=0)
    server.start()
    try:
        film = pydicom.dcmread(films[0])
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(film.SOPClassUID, film.file_meta.TransferSyntaxUID)
        assoc = ae.associate("127.0.0.1", server.port, ae_title="CXRDESKTOP")
        assert assoc.is_established
        request = C_STORE()
        request.MessageID, request.Priority = 1, 2
        request.AffectedSOPClassUID, request.AffectedSOPInstanceUID = film.SOPClassUID, film.SOPInstanceUID
        request.DataSet = BytesIO(encode(film, False, True))
        message = C_STORE_RQ()
        message.primitive_to_message(request)
        pdus = list(message.encode_msg(assoc.accepted_contexts[0].context_id, 16382))
        assert len(pdus) > 4
        connection = assoc.dul.socket.socket
        for primitive in pdus[: len(pdus) // 2]:
            pdu = P_DATA_TF()
            pdu.from_primitive(primitive)
            connection.sendall(pdu.encode())
        connection.shutdown(socket.SHUT_RDWR)  # the sender drops: no last fragment, no release
        time.sleep(1.0)
        assoc.abort()
        assert stored == [] and [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == []

        send_instances(Node("CXRDESKTOP", "127.0.0.1", server.port), [film], calling_ae="MODALITY")
        assert [item.sop_instance_uid for item in stored] == [film.SOPInstanceUID]
        assert pydicom.dcmread(stored[0].path).PixelData == film.PixelData
        assert [p for p in (tmp_path / "store").rglob("*") if p.is_file()] == [stored[0].path]
    finally:
        server.stop()


def test_an_unreachable_forward_node_loses_no_result(films, engine, bundle_3class, tmp_path):
    from cxr_desktop.pacs.listener import Listener
    from cxr_desktop.pacs.receive_log import ReceiveLog
    from tests.pacs.orthanc import free_port

    receive_log = ReceiveLog(tmp_path / "received.csv", bundle_3class.classes)
    forward = Node("GONE", "127.0.0.1", free_port())
    listener = Listener(engine, bundle_3class, receive_log, tmp_path / "results", forward=forward)
    server = StorageServer(tmp_path / "store", listener.received, port=0)
    server.start()
    try:
        send_instances(Node("CXRDESKTOP", "127.0.0.1", server.port), [pydicom.dcmread(films[0])])
        listener.wait_idle()
    finally:
        server.stop()
        listener.stop()
        receive_log.close()
    with open(tmp_path / "received.csv", newline="", encoding="utf-8") as handle:
        (row,) = list(csv.DictReader(handle))
    assert row["status"] == "scored" and row["forwarded"].startswith("failed: GONE@127.0.0.1")
    kept = {path.stem for path in (tmp_path / "results").rglob("*.dcm")}
    assert kept == {row["sr_uid"], row["heatmap_uid"]}
