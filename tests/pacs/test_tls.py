"""The listener's TLS option: a sender without TLS gets nothing, one with TLS is answered."""

from __future__ import annotations

import shutil
import ssl
import subprocess

import pytest
from pynetdicom import AE
from pynetdicom.sop_class import Verification

from cxr_desktop.pacs.listen_command import tls_context
from cxr_desktop.pacs.scp import StorageServer


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl is needed to make a test certificate")
def test_tls_associations_only(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=localhost",
         "-keyout", str(key), "-out", str(cert)],
        check=True, capture_output=True, timeout=60,
    )  # fmt: skip
    server = StorageServer(tmp_path / "store", lambda _: None, port=0, ssl_context=tls_context(cert, key, None))
    server.start()
    try:
        ae = AE(ae_title="MODALITY")
        ae.add_requested_context(Verification)
        ae.acse_timeout = ae.network_timeout = 5
        plain = ae.associate("127.0.0.1", server.port, ae_title="CXRDESKTOP")
        assert not plain.is_established
        client = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(cert))
        secure = ae.associate("127.0.0.1", server.port, ae_title="CXRDESKTOP", tls_args=(client, "localhost"))
        assert secure.is_established
        assert secure.send_c_echo().Status == 0x0000
        secure.release()
    finally:
        server.stop()
