"""Opening and batches as clinic staff use them: drops anywhere, extension-less DICOM in the open
dialog, an empty folder, the triage order and its filters, a CSV that matches the table, resuming
an interrupted batch; and the result panel's headline, flags, threshold line and OOD wording."""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import QMimeData, QPoint, Qt, QUrl
from PyQt5.QtGui import QDragEnterEvent, QDropEvent
from PyQt5.QtWidgets import QApplication

from cxr_desktop.core.batch_journal import BatchJournal, BatchPlan, read_unfinished
from cxr_desktop.core.scoring import ScreeningRow
from cxr_desktop.ui.open_dialog import open_image_dialog
from cxr_desktop.ui.result_panel import NOT_A_CHEST_FILM, THRESHOLD_MEANING, ResultPanel
from cxr_desktop.ui.worker import BatchRow, ImageScore
from tests.gui.helpers import link_folder, read_csv, write_dicom

CLASSES = ["covid", "pneumonia", "normal"]
THRESHOLDS = {"covid": 0.05, "pneumonia": 0.2, "normal": 0.5}


def scored(name: str, covid: float, pneumonia: float, ood: bool = False) -> ScreeningRow:
    probabilities = {"covid": covid, "pneumonia": pneumonia, "normal": 1.0 - covid - pneumonia}
    flagged = [c for c in ("covid", "pneumonia") if probabilities[c] >= THRESHOLDS[c]]
    return ScreeningRow(
        path=Path("/clinic") / name,
        status="ok",
        prediction=max(probabilities, key=probabilities.get),
        probabilities=probabilities,
        risk=covid + pneumonia,
        flagged=flagged,
        out_of_distribution=ood,
        message="not recognised as a frontal chest radiograph" if ood else "",
        warnings=("not recognised as a frontal chest radiograph",) if ood else (),
    )


def drop(widget, paths: list[Path]) -> None:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    enter = QDragEnterEvent(QPoint(20, 20), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier)
    QApplication.sendEvent(widget, enter)
    assert enter.isAccepted(), "the drop target refused the drag"
    QApplication.sendEvent(widget, QDropEvent(QPoint(20, 20), Qt.CopyAction, mime, Qt.LeftButton, Qt.NoModifier))


def test_drops_on_the_image_and_the_table_open_files_and_folders(qtbot, make_window, sample_images, tmp_path):
    window = make_window()
    with qtbot.waitSignal(window.image_displayed, timeout=60_000):
        drop(window.viewer.viewport(), [sample_images[0]])
    assert window.radiograph.path == sample_images[0]
    folder = link_folder(tmp_path / "films", sample_images[:3], bad_files=False)
    with qtbot.waitSignal(window.batch_completed, timeout=120_000):
        drop(window.batch.table.viewport(), [folder])
    assert len(window.batch.model.items) == 3


def test_open_dialog_lists_extensionless_dicom(qtbot, sample_images, tmp_path):
    write_dicom(tmp_path / "IM00001", sample_images[0])
    (tmp_path / "chest.png").write_bytes(sample_images[0].read_bytes())
    (tmp_path / "notes.txt").write_text("not an image", encoding="utf-8")
    (tmp_path / "README").write_text("not an image either", encoding="utf-8")
    dialog = open_image_dialog(None, str(tmp_path))
    qtbot.addWidget(dialog)
    dialog.show()
    proxy = dialog.proxyModel()
    source = proxy.sourceModel()

    def listed() -> set[str]:
        root = proxy.mapFromSource(source.index(str(tmp_path)))
        return {proxy.index(row, 0, root).data() for row in range(proxy.rowCount(root))}

    qtbot.waitUntil(lambda: "IM00001" in listed(), timeout=5000)
    assert listed() == {"IM00001", "chest.png"}
    dialog.selectNameFilter("All files (*)")
    dialog.filterSelected.emit("All files (*)")
    qtbot.waitUntil(lambda: "notes.txt" in listed(), timeout=5000)


def test_empty_folder_says_no_images_and_clears_the_film(qtbot, make_window, sample_images, tmp_path):
    window = make_window()
    with qtbot.waitSignal(window.image_displayed, timeout=60_000):
        window.open_paths([sample_images[0]])
    empty = tmp_path / "empty"
    empty.mkdir()
    with qtbot.waitSignal(window.batch_completed, timeout=60_000):
        window.open_paths([empty])
    assert window.viewer.display is None and window.radiograph is None
    assert "No images found" in window.viewer.placeholder
    assert window.batch.rate.text() == "No images found" and "No images found" in window.status_view.text()


def test_triage_order_groups_filters_and_a_csv_that_matches_the_table(qtbot, make_window, tmp_path):
    window = make_window(wait_for_model=False)
    panel = window.batch
    panel.set_classes(CLASSES, Path("/clinic"))
    panel.add_rows(
        [
            BatchRow(row, None)
            for row in (
                scored("low.png", 0.01, 0.05),
                ScreeningRow(path=Path("/clinic/broken.png"), status="error", message="not an image"),
                scored("odd.png", 0.60, 0.30, ood=True),
                scored("covid.png", 0.70, 0.10),
                scored("flag-only.png", 0.069, 0.031),
            )
        ]
    )
    shown = [panel.proxy.index(r, 1).data() for r in range(panel.proxy.rowCount())]
    assert shown == ["covid.png", "flag-only.png", "low.png", "odd.png", "broken.png"]
    groups = [panel.proxy.index(r, 2).data() for r in range(panel.proxy.rowCount())]
    assert groups == ["Readable, by risk"] * 3 + ["Unusual film (OOD flag)", "Read error"]
    assert panel.status_filter.itemText(2) == "Unusual (OOD) (1)"

    panel.flag_filter.setCurrentIndex(panel.flag_filter.findData("covid"))
    assert [panel.proxy.index(r, 1).data() for r in range(panel.proxy.rowCount())] == [
        "covid.png",
        "flag-only.png",
        "odd.png",
    ]
    target = window.export_csv(tmp_path / "shown.csv", "keep")
    _, rows = read_csv(target)
    assert [Path(r["path"]).name for r in rows] == ["covid.png", "flag-only.png", "odd.png"]
    assert "3 of 5 rows" in window.status_view.text()
    panel.flag_filter.setCurrentIndex(0)
    panel.status_filter.setCurrentIndex(panel.status_filter.findData("error"))
    assert panel.proxy.rowCount() == 1
    panel.status_filter.setCurrentIndex(0)
    panel.prediction_filter.setCurrentIndex(panel.prediction_filter.findData("normal"))
    assert [panel.proxy.index(r, 1).data() for r in range(panel.proxy.rowCount())] == ["flag-only.png", "low.png"]
    panel.prediction_filter.setCurrentIndex(0)
    panel.table.sortByColumn(1, Qt.AscendingOrder)
    _, rows = read_csv(window.export_csv(tmp_path / "all.csv", "keep"))
    assert [Path(r["path"]).name for r in rows][:2] == ["broken.png", "covid.png"], "the CSV follows the sort"
    assert "all 5 rows" in window.status_view.text()


def test_cancelled_batch_resumes_where_it_stopped(qtbot, make_window, sample_images, tmp_path):
    folder = link_folder(tmp_path / "films", sample_images * 20, bad_files=True)
    total = len(sample_images) * 20 + 2
    window = make_window()

    def cancel_at_first_rows(*_args) -> None:
        window.batch.model.rowsInserted.disconnect(cancel_at_first_rows)
        window.cancel_batch()

    window.batch.model.rowsInserted.connect(cancel_at_first_rows)
    with qtbot.waitSignal(window.batch_completed, timeout=120_000) as finished:
        window.open_paths([folder])
    assert finished.args == [True]
    assert window.act_resume.isEnabled()
    unfinished = read_unfinished()
    assert unfinished is not None and unfinished.plan.items == (folder,)
    done_before = len(unfinished.rows)
    assert done_before < total

    with qtbot.waitSignal(window.batch_completed, timeout=120_000) as finished:
        assert window.resume_batch()
    assert finished.args == [False]
    paths = [item.row.path for item in window.batch.model.items]
    assert len(paths) == total and len(set(paths)) == total, "every file once, none twice"
    assert read_unfinished() is None and not window.act_resume.isEnabled()


def test_batch_left_by_a_crash_resumes_in_a_new_window(qtbot, make_window, sample_images, tmp_path, tiny_bundle):
    folder = link_folder(tmp_path / "films", sample_images[:4], bad_files=False)
    first = sorted(folder.rglob("*.jpg"))[0]
    journal = BatchJournal(
        BatchPlan((folder,), folder, str(tiny_bundle.folder)),
        [ScreeningRow(path=first, status="error", message="kept from the crashed run")],
    )
    journal.close(complete=False)
    window = make_window()
    assert window.act_resume.isEnabled() and "can be resumed (1 screened so far)" in window.status_view.text()
    with qtbot.waitSignal(window.batch_completed, timeout=120_000):
        window.resume_batch()
    rows = {item.row.path: item.row for item in window.batch.model.items}
    assert len(rows) == 4 and rows[first].message == "kept from the crashed run", "done files are not re-screened"


def test_result_panel_headline_flags_threshold_line_and_ood_wording(qtbot):
    panel = ResultPanel()
    qtbot.addWidget(panel)
    row = scored("flag-only.png", 0.069, 0.031)
    panel.show_result(ImageScore(row, "model", THRESHOLDS, 0.05))
    assert panel.caption.text() == "Most probable finding"
    assert panel.finding.text() == "Normal  90.0%"
    assert panel.flags.text() == "COVID-19 flagged: 6.9% >= threshold 5.0%"
    assert panel.finding_detail.text() == THRESHOLD_MEANING and "most probable" not in THRESHOLD_MEANING.lower()
    assert not panel.verdict.isVisibleTo(panel)

    panel.show_result(ImageScore(scored("odd.png", 0.6, 0.3, ood=True), "model", THRESHOLDS, 0.05))
    assert panel.verdict.text() == NOT_A_CHEST_FILM and panel.verdict.isVisibleTo(panel)
    child = scored("child.dcm", 0.1, 0.1)
    child.warnings = ("outside the population this model was validated on (patient age 6 years, pediatric)",)
    panel.show_result(ImageScore(child, "model", THRESHOLDS, 0.05))
    assert panel.verdict.text().startswith("A chest film, but outside the population")
    panel.show_result(ImageScore(scored("clear.png", 0.01, 0.02), "model", THRESHOLDS, 0.05))
    assert panel.flags.text() == "No class above its screening threshold"


def test_heat_map_lung_fields_legend_and_pseudonymised_export_names(qtbot, make_window, sample_images):
    window = make_window()
    with qtbot.waitSignal(window.result_displayed, timeout=60_000):
        window.open_paths([sample_images[0]])
    share = window.heatmap.outside.text()
    assert "of the" in share and "heat map lies outside the usual lung fields" in share
    assert "not a probability" in window.heatmap.legend.text()
    toned = window.viewer.overlay_item.pixmap().toImage()
    window.heatmap.lungs.setChecked(False)
    assert window.viewer.overlay_item.pixmap().toImage() != toned, "turning the prior off redraws the map"
    corner = window.viewer.overlay_item.pixmap().toImage().pixelColor(2, 2).alpha()
    window.heatmap.lungs.setChecked(True)
    assert window.viewer.overlay_item.pixmap().toImage().pixelColor(2, 2).alpha() <= corner

    assert window.batch.identifiers_mode == "pseudonymise"
    assert window.export_stem().startswith("anon-") and sample_images[0].stem not in window.result_text()
    window.batch.set_identifiers("keep")
    assert window.export_stem() == sample_images[0].stem


def test_pdf_report_names_and_content_follow_the_identifiers_choice(
    qtbot, make_window, sample_images, tmp_path, monkeypatch
):
    from cxr_desktop.ui import main_window

    reports = []
    monkeypatch.setattr(main_window, "write_image_report", lambda target, report: reports.append(report))
    film = write_dicom(tmp_path / "Doe_Jane_20240131.dcm", sample_images[0], patient_id="MRN-555")
    window = make_window()
    with qtbot.waitSignal(window.result_displayed, timeout=60_000):
        window.open_paths([film])
    stem = window.export_stem()
    assert stem.startswith("anon-")
    window.save_report(tmp_path / "out" / "a.pdf")
    window.batch.set_identifiers("keep")
    window.save_report(tmp_path / "out" / "b.pdf")
    pseudonymised, kept = reports
    assert pseudonymised.path.name == stem
    assert (
        pseudonymised.study["Patient ID"].startswith("withheld") and pseudonymised.study["Study date"] == "2024-01-31"
    )
    assert kept.path == film and kept.study["Patient ID"] == "MRN-555"
