"""The radiograph viewer: a QGraphicsView with the reading tools a radiologist expects.

The image item carries the film's orientation (rotation, flip) and is the parent of the Grad-CAM
layer and the ruler's lines, so those turn with the film while the view's own transform is only a
zoom. Window/level is in the film's own units (``core.windowing``); a change rebuilds a lookup
table and is coalesced to one redraw per frame. Corner overlays are painted in the foreground, in
screen space, so they stay legible at any zoom.
"""

from __future__ import annotations

import numpy as np
from PyQt5.QtCore import QLineF, QPoint, QPointF, QRectF, Qt, QTimer, pyqtSignal
from PyQt5.QtGui import (
    QColor,
    QFont,
    QImage,
    QKeyEvent,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
    QTransform,
    QWheelEvent,
)
from PyQt5.QtWidgets import (
    QFrame,
    QGraphicsItem,
    QGraphicsLineItem,
    QGraphicsPixmapItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
)

from cxr_desktop.core.geometry import PixelSpacing, ruler_label
from cxr_desktop.core.windowing import ModalityImage, Quantised, Window, from_pixels
from cxr_desktop.ui.qimage import DisplayImage, grey_to_qimage

PLACEHOLDER = "Open a chest radiograph (Ctrl+O) or a folder (Ctrl+Shift+O),\nor drop files here."
VIEW_BACKGROUND = QColor(12, 14, 17)
OVERLAY_TEXT = QColor(236, 240, 244)
RULER_COLOUR = QColor(255, 214, 10)
ZOOM_STEP = 1.25
MIN_SCALE, MAX_SCALE = 0.02, 32.0
#: Right-drag sensitivity: a full-width drag sweeps the film's whole value range.
WINDOW_DRAG_GAIN = 1.0


def format_value(value: float) -> str:
    """A value in the film's units without trailing zeros (2048, 115.5, 0.25)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


class RadiographView(QGraphicsView):
    """Shows one film; emits ``window_changed``, ``zoom_changed``, ``cursor_moved`` and ``view_moved``."""

    window_changed = pyqtSignal(object)
    zoom_changed = pyqtSignal(float)
    #: (text) what lies under the pointer: position and value in the film's units, or "".
    cursor_moved = pyqtSignal(str)
    #: The visible part changed (zoom or pan): linked views follow.
    view_moved = pyqtSignal()
    measured = pyqtSignal(str)

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
        self.setMouseTracking(True)
        self.setMinimumSize(320, 320)
        self.image_item = QGraphicsPixmapItem()
        self.image_item.setTransformationMode(Qt.SmoothTransformation)
        self.overlay_item = QGraphicsPixmapItem(self.image_item)
        self.overlay_item.setTransformationMode(Qt.SmoothTransformation)
        self.overlay_item.setVisible(False)
        self.scene().addItem(self.image_item)
        self.display: DisplayImage | None = None
        self.window = Window(0.5, 1.0)
        self.fit_mode = True
        self.rotation = 0
        self.flipped = False
        self.spacing: PixelSpacing | None = None
        self.tool = "pan"
        self.show_corners = True
        self.corners: dict[str, list[str]] = {}
        self.measurements: list[tuple[QGraphicsLineItem, QGraphicsSimpleTextItem]] = []
        self._ruler_start: QPointF | None = None
        self._drag_origin: QPoint | None = None
        self._drag_window = self.window
        self._pan_origin: QPoint | None = None
        self._space_down = False
        self.placeholder = PLACEHOLDER
        self._redraw = QTimer(self, singleShot=True, interval=15)
        self._redraw.timeout.connect(self._on_redraw_timeout)
        self.horizontalScrollBar().valueChanged.connect(self.view_moved)
        self.verticalScrollBar().valueChanged.connect(self.view_moved)

    # --- content -------------------------------------------------------------------------------
    def set_film(
        self, modality: ModalityImage, spacing: PixelSpacing | None = None, quantised: Quantised | None = None
    ) -> None:
        """Show a film at fit-to-window with its default window; clears the heat map and rulers.

        ``quantised``: the values already quantised (off the GUI thread); made here otherwise."""
        self.display = DisplayImage(modality, quantised)
        self.spacing = spacing
        self.window = modality.default_window()
        self.rotation, self.flipped = 0, False
        self.clear_measurements()
        self.clear_overlay()
        self._render()
        self._apply_orientation()
        self.fit_to_window()
        self.window_changed.emit(self.window)
        self.cursor_moved.emit("")

    def set_image(self, pixels: np.ndarray, bit_depth: int) -> None:
        """Show display pixels in [0, 1] as a raster film (values 0..2^bits - 1)."""
        self.set_film(from_pixels(pixels, bit_depth))

    @property
    def modality(self) -> ModalityImage | None:
        return None if self.display is None else self.display.modality

    def clear(self) -> None:
        self.display = None
        self.cursor_moved.emit("")
        self.image_item.setPixmap(QPixmap())
        self.clear_overlay()
        self.clear_measurements()
        self.corners = {}
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

    def set_corners(self, corners: dict[str, list[str]]) -> None:
        """Patient and study lines for the top corners (``top_left``, ``top_right``)."""
        self.corners = corners
        self.viewport().update()

    def set_corners_visible(self, visible: bool) -> None:
        self.show_corners = visible
        self.viewport().update()

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
        self.viewport().update()

    def reset_window(self) -> None:
        """Back to the file's own window (its VOI, or the full range), keeping any inversion."""
        if self.modality is not None:
            default = self.modality.default_window()
            self.set_window(Window(default.center, default.width, self.window.invert))

    def toggle_invert(self) -> None:
        self.set_window(Window(self.window.center, self.window.width, not self.window.invert))

    def _render(self) -> None:
        if self.display is not None:
            self.image_item.setPixmap(QPixmap.fromImage(grey_to_qimage(self.display.render(self.window))))

    def _on_redraw_timeout(self) -> None:
        self._render()

    # --- orientation ----------------------------------------------------------------------------
    def rotate_clockwise(self) -> None:
        self.rotation = (self.rotation + 90) % 360
        self._apply_orientation()

    def flip_horizontal(self) -> None:
        self.flipped = not self.flipped
        self._apply_orientation()

    def _apply_orientation(self) -> None:
        if self.display is None:
            return
        cx, cy = self.display.width / 2.0, self.display.height / 2.0
        transform = QTransform().translate(cx, cy).rotate(self.rotation)
        if self.flipped:
            transform.scale(-1, 1)
        self.image_item.setTransform(transform.translate(-cx, -cy))
        self.scene().setSceneRect(self.image_item.mapRectToScene(self.image_item.boundingRect()))
        if self.fit_mode:
            self.fit_to_window()
        self.viewport().update()

    def image_position(self, view_pos: QPoint) -> QPointF:
        """A viewport position as (x, y) in the film's own pixels, whatever the orientation."""
        return self.image_item.mapFromScene(self.mapToScene(view_pos))

    # --- zoom -----------------------------------------------------------------------------------
    def fit_to_window(self) -> None:
        self.fit_mode = True
        if self.display is not None:
            self.fitInView(self.sceneRect(), Qt.KeepAspectRatio)
            self._zoomed()

    def actual_size(self) -> None:
        self.fit_mode = False
        self.resetTransform()
        self._zoomed()

    def set_scale(self, scale: float) -> None:
        self.zoom_by(scale / self.scale_factor)

    def zoom_by(self, factor: float) -> None:
        if self.display is None:
            return
        target = min(max(self.scale_factor * factor, MIN_SCALE), MAX_SCALE)
        factor = target / self.scale_factor
        self.fit_mode = False
        self.scale(factor, factor)
        self._zoomed()

    def zoom_in(self) -> None:
        self.zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self.zoom_by(1.0 / ZOOM_STEP)

    def zoom_to_cursor(self) -> None:
        """Twice the magnification, centred on what the pointer is over (the view centre otherwise)."""
        if self.display is None:
            return
        pointer = self.mapFromGlobal(self.cursor().pos())
        inside = self.viewport().rect().contains(pointer)
        target = self.mapToScene(pointer if inside else self.viewport().rect().center())
        self.zoom_by(2.0)
        self.centerOn(target)

    def _zoomed(self) -> None:
        self.zoom_changed.emit(self.scale_factor)
        self.view_moved.emit()
        self.viewport().update()

    # --- ruler ----------------------------------------------------------------------------------
    def set_tool(self, tool: str) -> None:
        """``pan`` (left-drag pans) or ``ruler`` (left-drag measures; middle or space-drag pans)."""
        self.tool = tool
        self.setDragMode(QGraphicsView.ScrollHandDrag if tool == "pan" else QGraphicsView.NoDrag)
        self.viewport().setCursor(Qt.CrossCursor if tool == "ruler" else Qt.OpenHandCursor)

    def add_measurement(self, start: QPointF, end: QPointF) -> str:
        """A ruler from ``start`` to ``end`` (film pixels); returns what it reads."""
        pen = QPen(RULER_COLOUR, 2)
        pen.setCosmetic(True)
        line = QGraphicsLineItem(QLineF(start, end), self.image_item)
        line.setPen(pen)
        text = ruler_label((start.x(), start.y()), (end.x(), end.y()), self.spacing)
        label = QGraphicsSimpleTextItem(text, self.image_item)
        label.setBrush(RULER_COLOUR)
        font = QFont(self.font())
        font.setBold(True)
        label.setFont(font)
        label.setFlag(QGraphicsItem.ItemIgnoresTransformations)
        label.setPos(end)
        self.measurements.append((line, label))
        self.measured.emit(text)
        return text

    def clear_measurements(self) -> None:
        for line, label in self.measurements:
            self.scene().removeItem(line)
            self.scene().removeItem(label)
        self.measurements = []

    # --- events ---------------------------------------------------------------------------------
    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802 - Qt override
        """An empty viewer says what to do; a film gets its corner overlays."""
        painter.save()
        painter.resetTransform()
        if self.display is None:
            painter.setPen(QColor(150, 160, 172))
            font = QFont(self.font())
            font.setPointSizeF(font.pointSizeF() * 1.25)
            painter.setFont(font)
            painter.drawText(self.viewport().rect(), Qt.AlignCenter, self.placeholder)
        elif self.show_corners:
            self._draw_corners(painter)
        painter.restore()

    def corner_lines(self) -> dict[str, list[str]]:
        """What each corner says: the patient and study (set by the window), window and zoom (own)."""
        units = self.modality.units if self.modality else ""
        orientation = [f"rotated {self.rotation}°"] if self.rotation else []
        orientation += ["flipped"] if self.flipped else []
        orientation += ["inverted"] if self.window.invert else []
        return {
            **self.corners,
            "bottom_left": [
                f"W {format_value(self.window.width)}  L {format_value(self.window.center)}",
                units,
            ],
            "bottom_right": [f"Zoom {self.scale_factor * 100:.0f}%", *orientation],
        }

    def _draw_corners(self, painter: QPainter) -> None:
        margin = 10
        area = self.viewport().rect().adjusted(margin, margin, -margin, -margin)
        painter.setFont(self.font())
        alignments = {
            "top_left": Qt.AlignTop | Qt.AlignLeft,
            "top_right": Qt.AlignTop | Qt.AlignRight,
            "bottom_left": Qt.AlignBottom | Qt.AlignLeft,
            "bottom_right": Qt.AlignBottom | Qt.AlignRight,
        }
        for corner, lines in self.corner_lines().items():
            text = "\n".join(line for line in lines if line)
            if not text or corner not in alignments:
                continue
            painter.setPen(QColor(0, 0, 0, 200))
            painter.drawText(area.translated(1, 1), alignments[corner], text)
            painter.setPen(OVERLAY_TEXT)
            painter.drawText(area, alignments[corner], text)

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
        elif event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.OpenHandCursor)
        else:
            super().keyPressEvent(event)

    def keyReleaseEvent(self, event: QKeyEvent) -> None:  # noqa: N802
        if event.key() == Qt.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.set_tool(self.tool)
        else:
            super().keyReleaseEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self.display is None:
            super().mousePressEvent(event)
            return
        if event.button() == Qt.RightButton:
            self._drag_origin = event.pos()
            self._drag_window = self.window
            self.viewport().setCursor(Qt.SizeAllCursor)
        elif event.button() == Qt.MiddleButton or (event.button() == Qt.LeftButton and self._space_down):
            self._pan_origin = event.pos()
            self.viewport().setCursor(Qt.ClosedHandCursor)
        elif event.button() == Qt.LeftButton and self.tool == "ruler":
            self._ruler_start = self.image_position(event.pos())
        else:
            super().mousePressEvent(event)
            return
        event.accept()

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        self._report_cursor(event.pos())
        if self._drag_origin is not None and self.modality is not None:
            delta = QPointF(event.pos() - self._drag_origin)
            size = max(self.viewport().width(), self.viewport().height(), 1)
            span = self.modality.span * WINDOW_DRAG_GAIN
            self.set_window(
                self._drag_window.moved(
                    d_center=-span * delta.y() / size, d_width=span * delta.x() / size, minimum_width=1.0
                )
            )
        elif self._pan_origin is not None:
            delta = event.pos() - self._pan_origin
            self._pan_origin = event.pos()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - delta.x())
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - delta.y())
        else:
            super().mouseMoveEvent(event)
            return
        event.accept()

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if event.button() == Qt.RightButton and self._drag_origin is not None:
            self._drag_origin = None
        elif self._pan_origin is not None and event.button() in (Qt.MiddleButton, Qt.LeftButton):
            self._pan_origin = None
        elif event.button() == Qt.LeftButton and self._ruler_start is not None:
            end = self.image_position(event.pos())
            if QLineF(self._ruler_start, end).length() >= 2:
                self.add_measurement(self._ruler_start, end)
            self._ruler_start = None
        else:
            super().mouseReleaseEvent(event)
            return
        self.set_tool(self.tool)
        event.accept()

    def _report_cursor(self, view_pos: QPoint) -> None:
        if self.modality is None:
            return
        point = self.image_position(view_pos)
        x, y = int(np.floor(point.x())), int(np.floor(point.y()))
        value = self.modality.value_at(x, y)
        self.cursor_moved.emit("" if value is None else f"x {x}, y {y}: {format_value(value)} ({self.modality.units})")
