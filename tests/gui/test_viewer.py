"""The viewer and display conversion on real radiographs (no model needed)."""

from __future__ import annotations

import cv2
import numpy as np
from PyQt5.QtCore import QEvent, QPoint, Qt
from PyQt5.QtGui import QMouseEvent
from PyQt5.QtWidgets import QApplication

from cxr_desktop.core.radiograph import load_radiograph
from cxr_desktop.core.windowing import Window, from_pixels, from_radiograph
from cxr_desktop.ui.qimage import DisplayImage, grey_to_qimage, heatmap_rgba, thumbnail
from cxr_desktop.ui.viewer import RadiographView


def test_default_window_shows_pixels_unchanged(sample_images):
    radiograph = load_radiograph(sample_images[0])
    modality = from_radiograph(radiograph)
    shown = DisplayImage(modality).render(modality.default_window())
    expected = np.round(radiograph.pixels * 255).astype(np.uint8)
    assert np.abs(shown.astype(int) - expected).max() <= 1


def test_window_level_and_invert_change_contrast(sample_images):
    modality = from_radiograph(load_radiograph(sample_images[0]))
    display = DisplayImage(modality)
    full = modality.default_window()
    narrow = display.render(Window(center=128, width=77))
    assert narrow.std() > display.render(full).std(), "a narrower window must raise contrast"
    inverted = display.render(Window(full.center, full.width, invert=True))
    assert np.abs(inverted.astype(int) + display.render(full).astype(int) - 255).max() <= 1


def test_deep_images_keep_every_level_for_windowing():
    ramp = np.linspace(0, 1, 4096, dtype=np.float32).reshape(64, 64)
    display = DisplayImage(from_pixels(ramp, bit_depth=16))
    assert display.quantised.indices.dtype == np.uint16
    narrow = display.render(Window(center=32768, width=3300))
    assert len(np.unique(narrow)) > 150, "a narrow window on a 16-bit image must still show many grey levels"


def test_qimage_conversion_is_a_copy(sample_images):
    grey = np.round(load_radiograph(sample_images[0]).pixels * 255).astype(np.uint8)
    image = grey_to_qimage(grey)
    grey[:] = 0
    assert image.width() == grey.shape[1] and image.pixelColor(grey.shape[1] // 2, grey.shape[0] // 2).value() > 0


def test_heatmap_alpha_matches_render_overlay_floor():
    heat = np.linspace(0, 1, 100, dtype=np.float32).reshape(10, 10)
    rgba = heatmap_rgba(heat, np.zeros((10, 10, 3), np.uint8), floor=0.2)
    assert rgba[..., 3][heat < 0.2].max() == 0 and rgba[..., 3][heat >= 0.99].min() >= 250


def test_thumbnail_keeps_aspect(sample_images):
    radiograph = load_radiograph(sample_images[-1])
    small = thumbnail(radiograph.pixels, height=48)
    assert small.shape[0] == 48
    assert abs(small.shape[1] / 48 - radiograph.width / radiograph.height) < 0.05


def right_drag(widget, start: QPoint, end: QPoint) -> None:
    """QTest's mouseMove carries no buttons in Qt 5, so the drag is sent as real mouse events."""
    for kind, pos, button, buttons in (
        (QEvent.MouseButtonPress, start, Qt.RightButton, Qt.RightButton),
        (QEvent.MouseMove, (start + end) / 2, Qt.NoButton, Qt.RightButton),
        (QEvent.MouseMove, end, Qt.NoButton, Qt.RightButton),
        (QEvent.MouseButtonRelease, end, Qt.RightButton, Qt.NoButton),
    ):
        QApplication.sendEvent(widget, QMouseEvent(kind, pos, button, buttons, Qt.NoModifier))


def test_zoom_fit_actual_size_and_right_drag_window(qtbot, sample_images):
    view = RadiographView()
    qtbot.addWidget(view)
    view.resize(600, 500)
    view.show()
    radiograph = load_radiograph(sample_images[-2])
    big = cv2.resize(radiograph.pixels, (3000, 3000), interpolation=cv2.INTER_CUBIC)
    view.set_image(big, 8)
    assert view.scale_factor < 0.25, "a 3000 px image fits a 600 px window"
    view.actual_size()
    assert view.scale_factor == 1.0
    view.zoom_in()
    assert abs(view.scale_factor - 1.25) < 1e-6
    view.fit_to_window()
    fitted = view.scale_factor
    qtbot.keyClick(view, Qt.Key_Plus)
    assert view.scale_factor > fitted

    before = view.window
    centre = view.viewport().rect().center()
    right_drag(view.viewport(), centre, centre + QPoint(120, -80))
    assert view.window.width > before.width and view.window.center > before.center
    qtbot.waitUntil(
        lambda: view.image_item.pixmap().toImage().pixelColor(1500, 1500).value() != int(round(big[1500, 1500] * 255)),
        timeout=1000,
    )
    view.reset_window()
    assert view.window == before
    view.toggle_invert()
    assert view.window.invert
