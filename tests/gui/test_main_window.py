"""The main window through its real code paths: open, score, heat map, batch, cancel, export, settings.

These use the tiny random-weight bundle (plumbing); ``test_real_model.py`` checks the product claims
with the bundled model.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from PyQt5.QtCore import Qt
from PyQt5.QtWidgets import QApplication

from cxr_desktop.core import audit
from cxr_desktop.exports.results_csv import csv_columns
from tests.gui.helpers import assert_valid_pdf, link_folder, png_size, read_csv, real_images, write_dicom

SCORE_TIMEOUT_MS = 60_000
BATCH_TIMEOUT_MS = 240_000


def open_and_wait(qtbot, window, path: Path):
    with qtbot.waitSignal(window.result_displayed, timeout=SCORE_TIMEOUT_MS) as blocker:
        window.open_paths([path])
    return blocker.args[0]


def test_window_appears_before_the_model_is_loaded(make_window):
    window = make_window(wait_for_model=False)
    assert window.isVisible()
    assert window.model_info is None and "Loading model" in window.status_model.text()


def test_open_image_shows_probabilities_and_heat_map(qtbot, make_window, sample_images):
    window = make_window()
    result = open_and_wait(qtbot, window, sample_images[0])
    assert window.radiograph.path == sample_images[0]
    assert np.isclose(result.probabilities.sum(), 1.0, atol=1e-4)
    assert result.cams.shape[0] == len(result.classes)
    shown = [name for name, *_ in window.result_panel.bars.rows]
    assert shown == result.classes
    assert window.result_panel.finding.text() != "—"
    assert window.heatmap.selected_class == result.prediction, "the heat map explains the predicted class by default"
    assert not window.viewer.overlay_item.pixmap().isNull() and window.viewer.overlay_item.isVisible()
    assert "not a diagnosis" in window.result_panel.disclaimer.text()
    assert window.result_panel.disclaimer.isVisible()
    assert window.status_model.text().startswith(result.model_title)

    qtbot.keyClick(window, Qt.Key_H)
    assert not window.viewer.overlay_item.isVisible()
    qtbot.keyClick(window, Qt.Key_H)
    assert window.viewer.overlay_item.isVisible()

    before = window.viewer.overlay_item.pixmap().toImage()
    other = next(
        index
        for index in range(window.heatmap.target.count())
        if window.heatmap.target.itemData(index) != result.prediction
    )
    window.heatmap.target.setCurrentIndex(other)
    assert window.viewer.overlay_item.pixmap().toImage() != before, "choosing another class redraws the map"
    window.heatmap.colormap.setCurrentIndex(window.heatmap.colormap.findData("cividis"))
    window.heatmap.opacity.setValue(70)
    assert window.viewer.overlay_item.opacity() == pytest.approx(0.7)
    assert window.settings.colormap == "cividis" and window.settings.overlay_opacity == pytest.approx(0.7)


def test_dicom_header_is_summarised(qtbot, make_window, sample_images, tmp_path):
    window = make_window()
    dicom = write_dicom(tmp_path / "study.dcm", sample_images[2])
    open_and_wait(qtbot, window, dicom)
    fields = window.result_panel.fields
    assert fields["patient"].text() == "TEST-0042"
    assert fields["date"].text() == "2024-01-31"
    assert fields["view"].text() == "PA"
    assert fields["modality"].text() == "DX"
    assert window.radiograph.source_format == "DICOM" and window.radiograph.bit_depth > 8


def test_refused_file_shows_the_reason_in_a_banner(qtbot, make_window, tmp_path):
    window = make_window()
    fake = tmp_path / "chest.jpg"
    fake.write_text("not an image at all", encoding="utf-8")
    with qtbot.waitSignal(window.image_refused, timeout=SCORE_TIMEOUT_MS) as blocker:
        window.open_paths([fake])
    assert blocker.args[0].startswith("chest.jpg: ")
    assert window.banner.isVisible() and window.banner.severity == "error"
    assert "chest.jpg" in window.banner.label.text() and "Traceback" not in window.banner.label.text()
    assert window.score is None and not window.act_report.isEnabled()


def test_stale_result_never_replaces_the_newer_image(qtbot, make_window, sample_images):
    window = make_window()
    shown: list[Path] = []
    window.result_displayed.connect(lambda result: shown.append(result.path))
    with qtbot.waitSignal(
        window.result_displayed,
        timeout=SCORE_TIMEOUT_MS,
        check_params_cb=lambda result: result.path == sample_images[3],
    ):
        for path in sample_images[:4]:
            window.open_paths([path])
    qtbot.wait(300)
    assert window.radiograph.path == sample_images[3] and window.score.path == sample_images[3]
    assert shown[-1] == sample_images[3]


def test_folder_batch_fills_table_sorts_filters_and_exports(qtbot, make_window, cxr3, tmp_path):
    window = make_window()
    folder = link_folder(tmp_path / "clinic", real_images(cxr3, 24))
    with qtbot.waitSignal(window.batch_completed, timeout=BATCH_TIMEOUT_MS) as blocker:
        window.open_paths([folder])
    assert blocker.args == [False]
    table = window.batch.model
    assert len(table.items) == 26
    errors = [row for row in table.rows if not row.ok]
    assert {row.path.name for row in errors} == {"notes.jpg", "empty.png"}
    assert all(row.message for row in errors), "a refused file says why"
    assert any(item.thumbnail is not None for item in table.items)
    assert all(item.row.radiograph is None for item in table.items), "rows must not keep full images in memory"

    proxy = window.batch.proxy
    risks = [proxy.index(r, table.risk_column).data(Qt.UserRole) for r in range(proxy.rowCount())]
    assert risks == sorted(risks, reverse=True), "default order: most suspicious first"
    window.batch.status_filter.setCurrentIndex(window.batch.status_filter.findData("error"))
    assert proxy.rowCount() == 2
    window.batch.status_filter.setCurrentIndex(0)
    prediction = next(row.prediction for row in table.rows if row.ok)
    window.batch.prediction_filter.setCurrentIndex(window.batch.prediction_filter.findData(prediction))
    assert 0 < proxy.rowCount() == sum(row.prediction == prediction for row in table.rows)
    window.batch.prediction_filter.setCurrentIndex(0)
    window.batch.table.sortByColumn(1, Qt.AscendingOrder)
    names = [proxy.index(r, 1).data() for r in range(proxy.rowCount())]
    assert names == sorted(names, key=str.lower)

    csv_path = window.export_csv(tmp_path / "out" / "results.csv", identifiers="keep")
    columns, records = read_csv(csv_path)
    assert columns == csv_columns(table.classes)
    assert len(records) == 26 and {r["path"] for r in records} == {str(row.path) for row in table.rows}
    pseudonymised = window.export_csv(tmp_path / "out" / "shared.csv")
    _, shared = read_csv(pseudonymised)
    assert all(r["path"].startswith("anon-") for r in shared), "CSV export pseudonymises paths by default"

    summary = window.export_summary(tmp_path / "out" / "summary.pdf")
    assert_valid_pdf(summary)
    exports = [e for e in audit.read_audit(limit=None) if e.get("event") == "export"]
    assert {e["what"] for e in exports} >= {"csv", "pdf-summary"}


def test_enter_on_a_row_opens_it_and_arrows_step(qtbot, make_window, cxr3, tmp_path):
    window = make_window()
    folder = link_folder(tmp_path / "step", real_images(cxr3, 6), bad_files=False)
    with qtbot.waitSignal(window.batch_completed, timeout=BATCH_TIMEOUT_MS):
        window.open_paths([folder])
    table = window.batch.table
    table.setFocus()
    table.selectRow(2)
    expected = window.batch.path_at(window.batch.proxy.index(2, 0))
    with qtbot.waitSignal(
        window.result_displayed, timeout=SCORE_TIMEOUT_MS, check_params_cb=lambda result: result.path == expected
    ):
        qtbot.keyClick(table, Qt.Key_Return)
    following = window.batch.path_at(window.batch.proxy.index(3, 0))
    with qtbot.waitSignal(
        window.result_displayed, timeout=SCORE_TIMEOUT_MS, check_params_cb=lambda result: result.path == following
    ):
        qtbot.keyClick(table, Qt.Key_Down)
    assert window.radiograph.path == following


def test_cancel_mid_batch_keeps_every_row_already_scored(qtbot, make_window, cxr3, tmp_path):
    window = make_window()
    folder = link_folder(tmp_path / "big", real_images(cxr3, 240), bad_files=False)
    with qtbot.waitSignal(window.batch.model.rowsInserted, timeout=BATCH_TIMEOUT_MS):
        window.open_paths([folder])
    with qtbot.waitSignal(window.batch_completed, timeout=BATCH_TIMEOUT_MS) as blocker:
        qtbot.keyClick(window, Qt.Key_Escape)
    assert blocker.args == [True]
    kept = len(window.batch.model.items)
    assert 0 < kept < 240
    assert "Cancelled" in window.batch.rate.text()
    qtbot.wait(500)
    assert len(window.batch.model.items) == kept, "no row arrives after the cancel is reported"
    _, records = read_csv(window.export_csv(tmp_path / "partial.csv", identifiers="keep"))
    assert len(records) == kept


def test_model_switch_rescores_the_current_image(qtbot, make_window, sample_images, tmp_path):
    from tests.conftest import make_tiny_bundle

    window = make_window()
    first = open_and_wait(qtbot, window, sample_images[1])
    binary = make_tiny_bundle(tmp_path / "tiny-binary", classes=["pneumonia", "normal"])
    with qtbot.waitSignal(
        window.result_displayed,
        timeout=SCORE_TIMEOUT_MS,
        check_params_cb=lambda result: result.classes == ["pneumonia", "normal"],
    ) as blocker:
        window.load_model(str(binary.folder))
        assert window.custom_model_action.isChecked()
    assert blocker.args[0].path == first.path == window.radiograph.path
    assert [name for name, *_ in window.result_panel.bars.rows] == ["pneumonia", "normal"]
    assert window.settings.model == str(binary.folder)


def test_broken_bundle_is_reported_not_crashed(qtbot, make_window, tmp_path):
    window = make_window()
    broken = tmp_path / "broken-bundle"
    broken.mkdir()
    (broken / "metadata.json").write_text("{", encoding="utf-8")
    with qtbot.waitSignal(window.model_unavailable, timeout=SCORE_TIMEOUT_MS):
        window.load_model(str(broken))
    assert window.banner.isVisible() and "metadata.json" in window.banner.label.text()
    assert window.status_model.text() == "No model loaded"


def test_after_a_failed_model_nothing_is_scored_with_the_previous_one(qtbot, make_window, sample_images, tmp_path):
    """Opening an image clears the refusal banner; a folder screened afterwards must still be
    refused, not run on the model that was loaded before the failed one."""
    window = make_window()
    broken = tmp_path / "broken-bundle"
    broken.mkdir()
    (broken / "metadata.json").write_text("{", encoding="utf-8")
    with qtbot.waitSignal(window.model_unavailable, timeout=SCORE_TIMEOUT_MS):
        window.load_model(str(broken))
    with qtbot.waitSignal(window.image_displayed, timeout=SCORE_TIMEOUT_MS):
        window.open_paths([sample_images[0]])
    window.screen([sample_images[1], sample_images[2]], None)
    assert "Model could not be loaded" in window.banner.label.text()
    qtbot.wait(300)
    assert window.batch.model.items == [] and window.score is None


def test_save_overlay_report_and_clipboard(qtbot, make_window, sample_images, tmp_path):
    window = make_window()
    open_and_wait(qtbot, window, sample_images[4])
    png = window.save_overlay(tmp_path / "exports" / "overlay.png")
    assert png_size(png) == (window.radiograph.width, window.radiograph.height)
    pdf = window.save_report(tmp_path / "exports" / "report.pdf")
    assert_valid_pdf(pdf)
    assert not list((tmp_path / "exports").glob(".*")), "atomic writes leave no temporary files"
    window.act_copy.trigger()
    text = QApplication.clipboard().text()
    assert sample_images[4].stem not in text and "File: anon-" in text, "pseudonymised like the CSV by default"
    assert "not a diagnosis" in text.lower() and window.radiograph.sha256 in text
    window.batch.set_identifiers("keep")
    window.act_copy.trigger()
    assert sample_images[4].name in QApplication.clipboard().text()
    scored = [e for e in audit.read_audit(limit=None) if e.get("event") == "scored"]
    assert any(e["path"].endswith(sample_images[4].name) and e.get("source") == "gui" for e in scored)


def test_settings_persist_across_windows(qtbot, make_window, sample_images, settings_file, tiny_bundle):
    first = make_window()
    open_and_wait(qtbot, first, sample_images[0])
    first.heatmap.colormap.setCurrentIndex(first.heatmap.colormap.findData("viridis"))
    first.heatmap.opacity.setValue(63)
    first.resize(1111, 777)
    first.close()
    second = make_window(model=None)
    assert second.model_name == str(tiny_bundle.folder)
    assert second.heatmap.selected_colormap == "viridis" and second.heatmap.opacity.value() == 63
    assert (second.width(), second.height()) == (1111, 777)
    assert second.settings.recent_files[0] == str(sample_images[0])
    assert second.recent_menu.actions()[0].data() == str(sample_images[0])
    assert second.settings.last_folder == str(sample_images[0].parent)
    assert settings_file.is_file()


def test_closing_during_a_batch_stops_the_worker(qtbot, make_window, cxr3, tmp_path):
    window = make_window()
    folder = link_folder(tmp_path / "closing", real_images(cxr3, 240), bad_files=False)
    with qtbot.waitSignal(window.batch.model.rowsInserted, timeout=BATCH_TIMEOUT_MS):
        window.open_paths([folder])
    assert window.batch.running
    started = time.perf_counter()
    window.close()
    assert not window.host.thread.isRunning()
    assert time.perf_counter() - started < 15, "closing must not wait for the whole batch"


def test_help_and_about_describe_shortcuts_and_model_card(make_window):
    from cxr_desktop.ui.dialogs import model_card_html, shortcuts_html

    window = make_window()
    shortcuts = shortcuts_html(window.actions())
    for key in ("Ctrl+O", "Ctrl+Shift+O", ">H<", "Right-drag", "Esc"):
        assert key in shortcuts
    card = model_card_html(window.model_info.bundle)
    assert "tests only" in card and window.model_info.bundle.sha256 in card


def test_dropping_a_file_and_a_folder(qtbot, make_window, sample_images, cxr3, tmp_path):
    from PyQt5.QtCore import QMimeData, QPoint, QUrl
    from PyQt5.QtGui import QDropEvent

    window = make_window()

    def drop(paths: list[Path]) -> None:
        mime = QMimeData()
        mime.setUrls([QUrl.fromLocalFile(str(path)) for path in paths])
        event = QDropEvent(QPoint(20, 20), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
        window.dropEvent(event)

    with qtbot.waitSignal(window.result_displayed, timeout=SCORE_TIMEOUT_MS):
        drop([sample_images[5]])
    assert window.radiograph.path == sample_images[5]
    folder = link_folder(tmp_path / "dropped", real_images(cxr3, 5), bad_files=False)
    with qtbot.waitSignal(window.batch_completed, timeout=BATCH_TIMEOUT_MS):
        drop([folder])
    assert len(window.batch.model.items) == 5 and window.batch.isVisible()
