"""The radiograph viewer: a QGraphicsView with zoom, pan, window/level, inversion and a heat-map layer.

The image and the Grad-CAM overlay are two pixmap items in one scene; the overlay's opacity is an
item property, so the opacity slider repaints without recomputing anything. Window/level only
rebuilds a lookup table (``qimage.DisplayImage``) and is coalesced to one redraw per frame.
"""

from __future__ import annotations

import numpy as np
from PyQt5.QtCore import QPoint, QPointF, QRectF, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import QColor, QFont, QImage, QKeyEvent, QMouseEvent, QPainter, QPixmap, QTransform, QWheelEvent
from PyQt5.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView

from cxr_desktop.ui.qimage import DisplayImage, Window, grey_to_qimage

VIEW_BACKGROUND = QColor(12, 14, 17)
ZOOM_STEP = 1.25
MIN_SCALE, MAX_SCALE = 0.02, 32.0
#: Right-drag sensitivity: a full-width drag sweeps the whole display range.
WINDOW_DRAG_GAIN = 1.0


class RadiographView(QGraphicsView):
    """Shows one radiograph; emits ``window_changed`` and ``zoom_changed`` for the status bar."""

    window_changed = pyqtSignal(object)
    zoom_changed = pyqtSignal(float)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setBackgroundBrush(VIEW_BACKGROUND)
        self.setFrameShape(QFrame.NoFrame)
        self.setRenderHints(QPainter.SmoothPixmapTransform | QPainter.Antialiasing)
        self.setTransformationAnchor(QGraphicsView.AnchorUnderMouse)
        self.setResizeAnchor(QGraphicsView.AnchorViewCenter)
        self.setDragMode(QGraphicsView.ScrollHandDrag)
        self.setContextMenuPolicy(Qt.PreventContextMenu)
        self.setFocusPolicy(Qt.StrongFocus)
        self.setMinimumSize(320, 320)
        self.image_item = QGraphicsPixmapItem()
        self.image_item.setTransformationMode(Qt.SmoothTransformation)
        self.overlay_item = QGraphicsPixmapItem()
        self.overlay_item.setTransformationMode(Qt.SmoothTransformation)
        self.overlay_item.setZValue(1)
        self.overlay_item.setVisible(False)
        self.scene().addItem(self.image_item)
        self.scene().addItem(self.overlay_item)
        self.display: DisplayImage | None = None
        self.window = Window()
        self.fit_mode = True
        self._drag_origin: QPoint | None = None
        self._drag_window = Window()
        self.placeholder = "Open a chest radiograph (Ctrl+O) or a folder (Ctrl+Shift+O),\nor drop files here."
        self._redraw = QTimer(self, singleShot=True, interval=15)
        self._redraw.timeout.connect(self._on_redraw_timeout)

    # --- content -------------------------------------------------------------------------------
    def set_image(self, pixels: np.ndarray, bit_depth: int) -> None:
        """Show new pixels at fit-to-window with the default window; clears the heat map."""
        self.display = DisplayImage(pixels, bit_depth)
        self.window = Window(invert=False)
        self._render()
        self.scene().setSceneRect(QRectF(0, 0, self.display.width, self.display.height))
        self.clear_overlay()
        self.fit_to_window()

    def clear(self) -> None:
        self.display = None
        self.image_item.setPixmap(QPixmap())
        self.clear_overlay()
        self.viewport().update()

    def set_overlay(self, image: QImage | None) -> None:
        """Place an RGBA heat map over the whole image, whatever its own resolution."""
        if image is None or image.isNull() or self.display is None:
            self.clear_overlay()
            return
        self.overlay_item.setPixmap(QPixmap.fromImage(image))
        self.overlay_item.setTransform(
            QTransform.fromScale(self.display.width / image.width(), self.display.height / image.height())
        )

    def clear_overlay(self) -> None:
        self.overlay_item.setPixmap(QPixmap())

    def set_overlay_visible(self, visible: bool) -> None:
        self.overlay_item.setVisible(visible)

    def set_overlay_opacity(self, opacity: float) -> None:
        self.overlay_item.setOpacity(opacity)

    @property
    def scale_factor(self) -> float:
        return float(self.transform().m11())

    def rendered_grey(self) -> np.ndarray | None:
        """The displayed grey image at full resolution (current window/level and inversion)."""
        return None if self.display is None else self.display.render(self.window)

    # --- window / level -----------------------------------------------------------------------
    def set_window(self, window: Window) -> None:
        self.window = window
        self._redraw.start()
        self.window_changed.emit(window)

    def reset_window(self) -> None:
        self.set_window(Window(invert=self.window.invert))

    def toggle_invert(self) -> None:
        self.set_window(Window(self.window.center, self.window.width, not self.window.invert))

    def _render(self) -> None:
        if self.display is not None:
            self.image_item.setPixmap(QPixmap.fromImage(grey_to_qimage(self.display.render(self.window))))

    def _on_redraw_timeout(self) -> None:
        self._render()

    # --- zoom -----------------------------------------------------------------------------------
    def fit_to_window(self) -> None:
        self.fit_mode = True
        if self.display is not None:
            self.fitInView(self.image_item, Qt.KeepAspectRatio)
            self.zoom_changed.emit(self.scale_factor)

    def actual_size(self) -> None:
        self.fit_mode = False
        self.resetTransform()
        self.zoom_changed.emit(self.scale_factor)

    def zoom_by(self, factor: float) -> None:
        if self.display is None:
            return
        target = min(max(self.scale_factor * factor, MIN_SCALE), MAX_SCALE)
        factor = target / self.scale_factor
        self.fit_mode = False
        self.scale(factor, factor)
        self.zoom_changed.emit(self.scale_factor)

    def zoom_in(self) -> None:
        self.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom_by(1.0 / ZOOM_STEP)

    # --- events ---------------------------------------------------------------------------------
    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt override
        """An empty viewer says what to do instead of showing a black hole."""
        if self.display is not None:
            return
        painter.save()
        painter.resetTransform()
        painter.setPen(QColor(150, 160, 172))
        font = QFont(self.font())
        font.setPointSizeF(font.pointSizeF() * 1.25)
        painter.setFont(font)
        painter.drawText(self.viewport().rect(), Qt.AlignCenter, self.placeholder)
        painter.restore()

    def resizeEvent(self, event) -> None:  # noqa: N802 - Qt override
        super().resizeEvent(event)
        if self.fit_mode:
            self.fit_to_window()

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802
        steps = event.angleDelta().y() / 120.0
        if steps:
            self.zoom_by(ZOOM_STEP**steps)
        event.accept()

    def keyPressEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() in (Qt.Key_Plus, Qt.Key_Equal):
            self.zoom_in()
        elif event.key() == Qt.Key_Minus:
            self.zoom_out()
        else:
            super().keyPressEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.RightButton and self.display is not None:
            self._drag_origin = event.pos()
            self._drag_window = self.window
            self.viewport().setCursor(Qt.SizeAllCursor)
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._drag_origin is not None:
            delta = QPointF(event.pos() - self._drag_origin)
            size = max(self.viewport().width(), self.viewport().height(), 1)
            self.set_window(
                self._drag_window.adjusted(
                    d_center=-WINDOW_DRAG_GAIN * delta.y() / size,
                    d_width=WINDOW_DRAG_GAIN * delta.x() / size,
                )
            )
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.RightButton and self._drag_origin is not None:
            self._drag_origin = None
            self.viewport().unsetCursor()
            event.accept()
            return
        super().mouseReleaseEvent(event)
