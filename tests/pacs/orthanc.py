"""A real Orthanc for the tests: its own config on free local ports, temp storage, DICOMweb plugin."""

from __future__ import annotations

import glob
import json
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from cxr_desktop.pacs.nodes import Node

PLUGIN_GLOBS = ("/usr/share/orthanc/plugins/*DicomWeb*.so*", "/usr/lib/orthanc/*DicomWeb*.so*")


def orthanc_binary() -> str | None:
    return shutil.which("Orthanc") or next(
        (path for path in ("/usr/sbin/Orthanc", "/usr/bin/Orthanc") if Path(path).is_file()), None
    )


def dicomweb_plugin() -> str | None:
    return next((path for pattern in PLUGIN_GLOBS for path in sorted(glob.glob(pattern))), None)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@dataclass
class Orthanc:
    process: subprocess.Popen
    dicom_port: int
    http_port: int
    ae_title: str
    app_port: int

    @property
    def node(self) -> Node:
        return Node(
            ae_title=self.ae_title, host="127.0.0.1", port=self.dicom_port, name="Orthanc", dicomweb_url=self.dicomweb
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def dicomweb(self) -> str:
        return f"{self.url}/dicom-web"

    def get(self, path: str):
        response = requests.get(self.url + path, timeout=10)
        response.raise_for_status()
        return response.json()

    def clear(self) -> None:
        for patient in self.get("/patients"):
            requests.delete(f"{self.url}/patients/{patient}", timeout=10).raise_for_status()

    def stop(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def start_orthanc(folder: Path, app_ae: str, app_port: int) -> Orthanc:
    """Start Orthanc with the app's SCP (``app_ae`` on ``app_port``) registered as a modality."""
    binary = orthanc_binary()
    assert binary is not None
    dicom_port, http_port = free_port(), free_port()
    config = {
        "Name": "cxr-desktop-tests",
        "StorageDirectory": str(folder / "storage"),
        "IndexDirectory": str(folder / "index"),
        "DicomAet": "ORTHANC",
        "DicomPort": dicom_port,
        "HttpPort": http_port,
        "RemoteAccessAllowed": False,
        "AuthenticationEnabled": False,
        "DicomCheckCalledAet": False,
        "DicomCheckModalityHost": False,
        "DicomAlwaysAllowEcho": True,
        "DicomAlwaysAllowStore": True,
        "DicomModalities": {"cxrdesktop": [app_ae, "127.0.0.1", app_port]},
        "Plugins": [dicomweb_plugin()] if dicomweb_plugin() else [],
        "DicomWeb": {"Enable": True, "Root": "/dicom-web/"},
        "StorageCompression": False,
    }
    config_path = folder / "orthanc.json"
    config_path.write_text(json.dumps(config, indent=2), encoding="utf-8")
    log = open(folder / "orthanc.log", "w")
    process = subprocess.Popen([binary, str(config_path)], stdout=log, stderr=subprocess.STDOUT)
    orthanc = Orthanc(process, dicom_port, http_port, "ORTHANC", app_port)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"Orthanc exited: {(folder / 'orthanc.log').read_text()[-2000:]}")
        try:
            orthanc.get("/system")
            return orthanc
        except requests.RequestException:
            time.sleep(0.2)
    orthanc.stop()
    raise RuntimeError("Orthanc did not answer within 30 s")
