"""The viewer's reading tools through the real window: window/level in the film's units, presets,
the value under the pointer, corner overlays, the tag browser, the ruler, orientation, zoom, pan,
the compare view, and that every tool is in a menu with its shortcut in the tooltip."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PyQt5.QtCore import QEvent, QPoint, QPointF, Qt
from PyQt5.QtGui import QMouseEvent
from PyQt5.QtWidgets import QApplication

from cxr_desktop.core.film_details import film_details
from cxr_desktop.core.radiograph import load_radiograph
from cxr_desktop.ui.viewer import RadiographView
from tests.gui.helpers import write_dicom

WINDOW = {"WindowCenter": 1800, "WindowWidth": 2400}


@pytest.fixture
def study(sample_images, tmp_path) -> Path:
    return write_dicom(
        tmp_path / "study.dcm",
        sample_images[3],
        PatientName="Doe^Jane",
        PatientSex="F",
        PatientAge="045Y",
        PixelSpacing=[0.15, 0.15],
        **WINDOW,
    )


def show(qtbot, window, path: Path):
    with qtbot.waitSignal(window.image_displayed, timeout=60_000):
        window.open_paths([path])


def drag(widget, start: QPoint, end: QPoint, button=Qt.LeftButton, modifiers=Qt.NoModifier) -> None:
    """QTest's mouseMove carries no buttons in Qt 5, so a drag is sent as real mouse events."""
    for kind, pos, pressed, held in (
        (QEvent.MouseButtonPress, start, button, button),
        (QEvent.MouseMove, (start + end) / 2, Qt.NoButton, button),
        (QEvent.MouseMove, end, Qt.NoButton, button),
        (QEvent.MouseButtonRelease, end, button, Qt.NoButton),
    ):
        QApplication.sendEvent(widget, QMouseEvent(kind, QPointF(pos), pressed, held, modifiers))


def film_view(qtbot, path: Path, size=(700, 600)) -> RadiographView:
    view = RadiographView()
    qtbot.addWidget(view)
    view.resize(*size)
    view.show()
    details = film_details(load_radiograph(path))
    view.set_film(details.modality, details.spacing, details.quantised)
    return view


def test_window_level_in_stored_units_presets_reset_and_value_under_pointer(qtbot, make_window, study):
    window = make_window(wait_for_model=False)
    show(qtbot, window, study)
    assert (window.width_box.value(), window.level_box.value()) == (2400, 1800), "the file's VOI is the default"
    assert "stored value" in window.status_view.text()
    assert [window.preset_box.itemText(i) for i in range(window.preset_box.count())] == [
        "File (VOI)",
        "Full range",
        "Lung",
        "Mediastinum",
        "Bone",
    ]
    qtbot.keyClick(window, Qt.Key_F6)
    bone = window.viewer.window
    assert window.preset_box.currentText() == "Bone" and bone.center > 1800
    window.width_box.setValue(500)
    assert window.viewer.window.width == 500 and window.viewer.window.center == bone.center
    qtbot.keyClick(window, Qt.Key_R)
    assert (window.viewer.window.center, window.viewer.window.width) == (1800, 2400)

    view = window.viewer
    target = view.mapFromScene(view.image_item.mapToScene(QPointF(100.5, 50.5)))
    QApplication.sendEvent(
        view.viewport(), QMouseEvent(QEvent.MouseMove, QPointF(target), Qt.NoButton, Qt.NoButton, Qt.NoModifier)
    )
    stored = int(window.details.modality.values[50, 100])
    assert window.status_cursor.text() == f"x 100, y 50: {stored} (stored value)"


def test_corner_overlays_toggle(qtbot, make_window, study):
    window = make_window(wait_for_model=False)
    show(qtbot, window, study)
    corners = window.viewer.corner_lines()
    assert corners["top_left"] == ["Doe Jane", "ID TEST-0042", "F 45 y"]
    assert corners["top_right"] == ["2024-01-31", "PA DX"]
    assert corners["bottom_left"][0] == "W 2400  L 1800" and corners["bottom_right"][0].startswith("Zoom ")
    assert window.viewer.show_corners
    qtbot.keyClick(window, Qt.Key_O)
    assert not window.viewer.show_corners and not window.act_overlays.isChecked()


def test_tag_browser_searches_the_header(qtbot, make_window, study):
    window = make_window(wait_for_model=False)
    show(qtbot, window, study)
    browser = window.show_tag_browser()
    qtbot.addWidget(browser)
    total = browser.tree.topLevelItemCount()
    assert total > 20
    browser.search.setText("spacing")
    assert [item.text(1) for item in browser.visible_rows()] == ["PixelSpacing"]
    browser.search.setText("0010,0010")
    assert [item.text(3) for item in browser.visible_rows()] == ["Doe^Jane"]
    browser.search.clear()
    assert len(browser.visible_rows()) == total


def test_ruler_measures_in_mm_and_says_which_spacing(qtbot, make_window, study, sample_images):
    window = make_window(wait_for_model=False)
    show(qtbot, window, study)
    qtbot.keyClick(window, Qt.Key_M)
    view = window.viewer
    assert view.tool == "ruler" and "Pixel Spacing (0028,0030)" in window.status_view.text()
    start = view.mapFromScene(view.image_item.mapToScene(QPointF(10, 10)))
    end = view.mapFromScene(view.image_item.mapToScene(QPointF(210, 10)))
    drag(view.viewport(), start, end)
    (line, label), *_ = view.measurements
    assert abs(line.line().length() - 200) < 3
    assert label.text().endswith(" mm") and abs(float(label.text().split()[0]) - 30.0) < 0.5
    assert "Pixel Spacing (0028,0030), at the patient" in window.status_view.text()
    qtbot.keyClick(window, Qt.Key_M, Qt.ShiftModifier)
    assert not view.measurements

    show(qtbot, window, sample_images[0])
    view.add_measurement(QPointF(0, 0), QPointF(30, 40))
    assert view.measurements[0][1].text() == "50 px (no pixel spacing)"
    assert "no Pixel Spacing or Imager Pixel Spacing" in window.status_view.text()


def test_rotate_flip_invert_keep_image_coordinates(qtbot, study):
    view = film_view(qtbot, study)
    width, height = view.display.width, view.display.height
    probe = QPointF(30, 70)
    view.rotate_clockwise()
    rect = view.sceneRect()
    assert (round(rect.width()), round(rect.height())) == (height, width)
    assert view.image_item.mapFromScene(view.image_item.mapToScene(probe)) == probe
    scene = view.image_item.mapToScene(probe)
    assert abs(scene.x() - (rect.right() - 70)) < 1e-6, "a point 70 px from the top ends up 70 px from the right"
    view.rotate_clockwise(), view.rotate_clockwise(), view.rotate_clockwise()
    view.flip_horizontal()
    assert abs(view.image_item.mapToScene(probe).x() - (width - 30)) < 1e-6
    before = view.rendered_grey()
    view.toggle_invert()
    assert np.abs(view.rendered_grey().astype(int) + before.astype(int) - 255).max() <= 1
    assert view.corner_lines()["bottom_right"][1:] == ["flipped", "inverted"]


def test_fit_actual_zoom_to_cursor_and_middle_or_space_pan(qtbot, study):
    view = film_view(qtbot, study, size=(360, 330))
    fitted = view.scale_factor
    assert fitted < 1
    view.actual_size()
    assert view.scale_factor == 1.0
    view.fit_to_window()
    view.zoom_to_cursor()
    assert view.scale_factor == pytest.approx(2 * fitted)
    view.set_scale(3.0)
    bar = view.horizontalScrollBar()
    start = bar.value()
    centre = view.viewport().rect().center()
    drag(view.viewport(), centre, centre + QPoint(-120, 0), button=Qt.MiddleButton)
    assert bar.value() == start + 120, "middle-drag pans"
    view.set_tool("ruler")
    qtbot.keyPress(view, Qt.Key_Space)
    drag(view.viewport(), centre, centre + QPoint(60, 0))
    qtbot.keyRelease(view, Qt.Key_Space)
    assert bar.value() == start + 60 and not view.measurements, "space-drag pans, even with the ruler on"


def test_compare_view_links_zoom_and_pan(qtbot, make_window, study, sample_images, tmp_path):
    prior = write_dicom(tmp_path / "prior.dcm", sample_images[0], study_date="20230101")
    window = make_window(wait_for_model=False)
    show(qtbot, window, study)
    dialog = window.compare_with(prior)
    qtbot.addWidget(dialog)
    left, right = dialog.views
    assert dialog.titles[0].text().endswith("2023-01-01") and dialog.titles[1].text().endswith("2024-01-31")
    left.actual_size()
    left.zoom_by(2.0)
    relative = left.scale_factor * left.sceneRect().width() / right.sceneRect().width()
    assert right.scale_factor == pytest.approx(relative, rel=1e-3)

    def fraction(view):
        return view.mapToScene(view.viewport().rect().center()).x() / view.sceneRect().width()

    before = fraction(right)
    left.horizontalScrollBar().setValue(left.horizontalScrollBar().maximum())
    assert fraction(right) > before + 0.05, "panning the left film moves the right one too"
    assert fraction(right) == pytest.approx(fraction(left), abs=0.02)
    dialog.link.setChecked(False)
    left.zoom_by(0.5)
    assert right.scale_factor == pytest.approx(relative, rel=1e-3)


def test_every_tool_is_in_a_menu_with_its_shortcut_in_the_tooltip(make_window):
    window = make_window(wait_for_model=False)
    in_menus = {action for menu in window.menuBar().findChildren(type(window.recent_menu)) for action in menu.actions()}
    for action in (
        window.act_zoom_cursor,
        window.act_rotate,
        window.act_flip,
        window.act_invert,
        window.act_reset_wl,
        window.act_overlays,
        window.act_ruler,
        window.act_tags,
        window.act_compare,
        window.act_resume,
        *window.preset_menu_actions,
    ):
        assert action in in_menus, action.text()
        assert action.shortcut().toString() in action.toolTip(), action.toolTip()
