"""PACS fixtures: the engine loaded once, real films as DICOM, a real Orthanc, a collecting SCP."""

from __future__ import annotations

import threading
from pathlib import Path

import pydicom
import pytest

pytest.importorskip("pynetdicom", reason="the pacs extra is not installed (pip install .[pacs])")
pytest.importorskip("highdicom", reason="the pacs extra is not installed (pip install .[pacs])")

from tests.pacs.films import adult_films, write_films
from tests.pacs.orthanc import dicomweb_plugin, free_port, orthanc_binary, start_orthanc


@pytest.fixture(scope="session")
def engine(bundle_3class):
    """The bundled three-class model through the app's engine factory, loaded once per session."""
    from cxr_desktop.engine import load_engine

    return load_engine(bundle_3class)


@pytest.fixture(scope="session")
def films(cxr3, tmp_path_factory) -> list[Path]:
    """Six real adult cxr3 films (two of each class) as DX files in two studies of two patients."""
    return write_films(adult_films(cxr3, 6), tmp_path_factory.mktemp("films"), patients=2)


@pytest.fixture(scope="session")
def app_port() -> int:
    """The port the app's own SCP uses when Orthanc C-MOVEs to it (registered in Orthanc)."""
    return free_port()


@pytest.fixture(scope="session")
def orthanc(tmp_path_factory, app_port):
    if orthanc_binary() is None:
        pytest.skip("Orthanc is not installed (scripts/setup-pacs.sh installs it where apt is available)")
    if dicomweb_plugin() is None:
        pytest.skip("the Orthanc DICOMweb plugin is not installed (apt-get install orthanc-dicomweb)")
    server = start_orthanc(tmp_path_factory.mktemp("orthanc"), "CXRDESKTOP", app_port)
    yield server
    server.stop()


class Collector:
    """Any storage SCP: keeps what it is sent, in memory, and says when enough has come."""

    def __init__(self, ae_title: str = "OTHER") -> None:
        from pynetdicom import AE, AllStoragePresentationContexts, evt

        self.received: list[pydicom.Dataset] = []
        self.arrived = threading.Condition()
        ae = AE(ae_title=ae_title)
        ae.supported_contexts = AllStoragePresentationContexts
        self.server = ae.start_server(("127.0.0.1", 0), block=False, evt_handlers=[(evt.EVT_C_STORE, self._on_store)])
        self.port = self.server.server_address[1]

    def _on_store(self, event) -> int:
        ds = event.dataset
        ds.file_meta = event.file_meta
        with self.arrived:
            self.received.append(ds)
            self.arrived.notify_all()
        return 0x0000

    def wait_for(self, count: int, timeout: float) -> list[pydicom.Dataset]:
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout)
            return list(self.received)

    def stop(self) -> None:
        self.server.shutdown()


@pytest.fixture
def collector():
    scp = Collector()
    yield scp
    scp.stop()
