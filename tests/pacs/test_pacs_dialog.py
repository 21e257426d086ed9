"""File > Open from PACS against a real Orthanc: node saved in settings and checked with C-ECHO,
search by patient, date and modality, retrieval by C-GET, C-MOVE and DICOMweb, and the retrieved
films opened in the viewer and as a batch. Screenshots go to tests/_artifacts/screenshots/."""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest

pytest.importorskip("PyQt5")

from PyQt5.QtCore import QSettings  # noqa: E402

from cxr_desktop.pacs import dicomweb  # noqa: E402
from cxr_desktop.pacs.send import send_instances  # noqa: E402

SHOTS = Path(__file__).resolve().parents[1] / "_artifacts" / "screenshots"


@pytest.fixture(scope="module")
def pushed(orthanc, films):
    orthanc.clear()
    send_instances(orthanc.node, [pydicom.dcmread(path) for path in films])


def fill_node(dialog, orthanc) -> None:
    dialog.name_edit.setText("Orthanc")
    dialog.aet_edit.setText(orthanc.ae_title)
    dialog.host_edit.setText("127.0.0.1")
    dialog.port_spin.setValue(orthanc.dicom_port)
    dialog.web_edit.setText(orthanc.dicomweb)
    dialog.save_button.click()


def wait_idle(qtbot, dialog) -> None:
    qtbot.waitUntil(lambda: not dialog.busy, timeout=60_000)


def test_search_and_retrieve_three_ways(qtbot, orthanc, pushed, app_port, tmp_path):
    from cxr_desktop.ui.pacs_dialog import PacsDialog

    store = QSettings(str(tmp_path / "settings.ini"), QSettings.IniFormat)
    opened, screened = [], []
    dialog = PacsDialog(store, opened.append, lambda paths, root: screened.append(paths), retrieve_dir=tmp_path / "got")
    qtbot.addWidget(dialog)
    dialog.show()
    fill_node(dialog, orthanc)
    assert [node.port for node in dialog.nodes()] == [orthanc.dicom_port]

    dialog.echo_button.click()
    wait_idle(qtbot, dialog)
    assert "answers C-ECHO" in dialog.status.text()

    dialog.patient_edit.setText("TEST0001")
    dialog.from_edit.setText("20240101")
    dialog.modality_box.setCurrentText("DX")
    dialog.search_button.click()
    wait_idle(qtbot, dialog)
    assert dialog.table.rowCount() == 1 and dialog.table.item(0, 0).text() == "CXRTEST0001"
    SHOTS.mkdir(parents=True, exist_ok=True)
    assert dialog.grab().save(str(SHOTS / "pacs-1-search.png"))

    dialog.move_port_spin.setValue(app_port)
    for method in ("C-GET", "C-MOVE", "DICOMweb"):
        dialog.method_box.setCurrentText(method)
        dialog.batch_button.click()
        wait_idle(qtbot, dialog)
        assert len(screened[-1]) == 3, (method, dialog.status.text())
        assert all(pydicom.dcmread(path).PatientID == "CXRTEST0001" for path in screened[-1])

    dialog.port_spin.setValue(1)
    dialog.echo_button.click()
    wait_idle(qtbot, dialog)
    assert "Orthanc" in dialog.status.text() and (
        "cannot connect" in dialog.status.text() or "no answer" in dialog.status.text()
    )

    reopened = PacsDialog(store, opened.append, screened.append)
    qtbot.addWidget(reopened)
    assert reopened.method_box.currentText() == "DICOMweb" and reopened.aet_edit.text() == orthanc.ae_title


def test_menu_opens_a_retrieved_film_in_the_viewer(qtbot, orthanc, pushed, tiny_bundle, tmp_path, monkeypatch):
    from cxr_desktop.ui.app import create_application
    from cxr_desktop.ui.main_window import MainWindow
    from cxr_desktop.ui.pacs_dialog import PacsDialog
    from cxr_desktop.ui.settings import AppSettings

    monkeypatch.setenv("CXR_HOME", str(tmp_path / "home"))
    create_application()
    window = MainWindow(AppSettings.at(tmp_path / "window.ini"), model=str(tiny_bundle.folder))
    qtbot.addWidget(window)
    try:
        with qtbot.waitSignal(window.model_ready, timeout=120_000):
            window.show()
        window.act_open_pacs.trigger()
        dialog = window.findChild(PacsDialog)
        assert dialog is not None and dialog.isVisible()
        fill_node(dialog, orthanc)
        dialog.patient_edit.setText("TEST0000")
        dialog.search_button.click()
        wait_idle(qtbot, dialog)
        assert dialog.table.rowCount() == 1
        with qtbot.waitSignal(window.result_displayed, timeout=60_000):
            dialog.viewer_button.click()
        assert window.radiograph is not None and window.radiograph.dicom.patient_id == "CXRTEST0000"
        assert window.grab().save(str(SHOTS / "pacs-2-opened-in-viewer.png"))

        dialog.send_button.click()
        wait_idle(qtbot, dialog)
        assert dialog.status.text().startswith("Sent the SR and heat-map"), dialog.status.text()
        assert dialog.grab().save(str(SHOTS / "pacs-3-result-sent.png"))
        study = window.radiograph.dicom.study_uid
        back = dicomweb.retrieve_study(orthanc.dicomweb, study, tmp_path / "back")
        modalities = sorted(pydicom.dcmread(path, stop_before_pixels=True).Modality for path in back)
        assert modalities == ["DX", "DX", "DX", "OT", "SR"]
    finally:
        window.close()
    assert not window.host.thread.isRunning()
