"""The main window: wires the viewer, result panel, batch panel and the engine worker together.

It owns the request ids: every answer from the worker is checked against the latest id asked for,
so a slow, stale answer can never overwrite what the user is looking at now.
"""

from __future__ import annotations

import logging
import os
from datetime import datetime
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QEvent, QObject, QSize, Qt, pyqtSignal
from PyQt5.QtGui import QCloseEvent, QDragEnterEvent, QDropEvent, QKeySequence
from PyQt5.QtWidgets import (
    QAction,
    QApplication,
    QComboBox,
    QDoubleSpinBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QScrollArea,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from cxr_desktop.core import audit
from cxr_desktop.core.atomic import write_png_atomic
from cxr_desktop.core.batch_journal import read_unfinished
from cxr_desktop.core.errors import CxrError
from cxr_desktop.core.film_details import FilmDetails, corner_lines, format_dicom_date
from cxr_desktop.core.geometry import NO_SPACING
from cxr_desktop.core.lung_prior import down_weight, load_prior, outside_share
from cxr_desktop.core.overlay import colorize, heatmap_to_image, render_overlay
from cxr_desktop.core.image import Radiograph
from cxr_desktop.core.output_paths import check_output
from cxr_desktop.core.privacy import path_labeller
from cxr_desktop.core.windowing import FILE_PRESET, FULL_PRESET, PRESET_PERCENTILES, Window
from cxr_desktop.exports.report_pdf import ImageReport, write_image_report
from cxr_desktop.ui import style
from cxr_desktop.ui.batch_controller import BatchController
from cxr_desktop.ui.batch_panel import BatchPanel
from cxr_desktop.ui.dialogs import about_dialog, help_dialog
from cxr_desktop.ui.heatmap_controls import HeatmapControls
from cxr_desktop.ui.model_menu import ModelMenu
from cxr_desktop.ui.compare_view import CompareDialog, read_film
from cxr_desktop.ui.open_dialog import open_image_dialog
from cxr_desktop.ui.qimage import heatmap_rgba, rgba_to_qimage
from cxr_desktop.ui.tag_browser import TagBrowser
from cxr_desktop.core.decision import display_name
from cxr_desktop.ui.result_panel import DISCLAIMER, ResultPanel
from cxr_desktop.ui.settings import AppSettings
from cxr_desktop.ui.viewer import PLACEHOLDER, RadiographView, format_value
from cxr_desktop.ui.worker import ImageScore, ModelInfo, WorkerHost

log = logging.getLogger(__name__)

#: The heat map is smooth (it comes from a 7 x 7 feature map), so it is rendered at most this large
#: and scaled by the view; this keeps class/colormap changes instant on 3000 x 3000 images.
OVERLAY_MAX_SIDE = 1024


class Banner(QFrame):
    """A full-width strip above the viewer for refusals (red) and warnings (amber)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setToolTip("Dismiss")
        close.clicked.connect(self.hide)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.hide()

    @property
    def severity(self) -> str:
        return str(self.property("severity") or "")

    def show_message(self, severity: str, text: str) -> None:
        self.setProperty("severity", severity)
        self.style().unpolish(self)
        self.style().polish(self)
        prefix = "Not scored — " if severity == "error" else "Warning — "
        self.label.setText(prefix + text)
        self.show()


class MainWindow(QMainWindow):
    """One window for both the radiologist's single image and the clinic's folder screen."""

    image_displayed = pyqtSignal(object)
    image_refused = pyqtSignal(str)
    result_displayed = pyqtSignal(object)
    model_ready = pyqtSignal(object)
    model_unavailable = pyqtSignal(str)
    batch_completed = pyqtSignal(bool)

    def __init__(self, settings: AppSettings | None = None, model: str | None = None) -> None:
        super().__init__()
        self.settings = settings or AppSettings()
        self.setWindowTitle("CXR Desktop")
        self.setWindowIcon(style.icon("app"))
        self.setAcceptDrops(True)
        self.model_info: ModelInfo | None = None
        self.model_name = model or self.settings.model
        self.radiograph: Radiograph | None = None
        self.details: FilmDetails | None = None
        self.score: ImageScore | None = None
        self.compare: CompareDialog | None = None
        self.model_error = ""
        self._overlay_source: tuple[ImageScore, str, str] | None = None
        self.refusal = ""
        self._image_id = 0
        self._model_id = 0
        self.host = WorkerHost(self)
        self._build_widgets()
        self.batches = BatchController(self)
        self._build_actions()
        self._connect_worker()
        self._restore_geometry()
        self.load_model(self.model_name)

    # --- construction -----------------------------------------------------------------------------
    def _build_widgets(self) -> None:
        self.viewer = RadiographView()
        self.result_panel = ResultPanel()
        self.heatmap = HeatmapControls(self.settings.colormap, self.settings.overlay_opacity)
        QVBoxLayout(self.result_panel.heatmap_box).addWidget(self.heatmap)
        self.heatmap.setEnabled(False)
        side = QScrollArea()
        side.setWidget(self.result_panel)
        side.setWidgetResizable(True)
        side.setFrameShape(QFrame.NoFrame)
        side.setMinimumWidth(360)
        side.setHorizontalScrollBarPolicy(Qt.ScrollBarAlwaysOff)
        self.banner = Banner()
        viewer_area = QWidget()
        viewer_layout = QVBoxLayout(viewer_area)
        viewer_layout.setContentsMargins(0, 0, 0, 0)
        viewer_layout.setSpacing(0)
        viewer_layout.addWidget(self.banner)
        viewer_layout.addWidget(self.viewer, 1)
        self.top_split = QSplitter(Qt.Horizontal)
        self.top_split.addWidget(viewer_area)
        self.top_split.addWidget(side)
        self.top_split.setStretchFactor(0, 1)
        self.top_split.setCollapsible(1, False)
        self.top_split.setSizes([1040, 380])
        self.batch = BatchPanel()
        self.batch.hide()
        self.main_split = QSplitter(Qt.Vertical)
        self.main_split.addWidget(self.top_split)
        self.main_split.addWidget(self.batch)
        self.main_split.setCollapsible(0, False)
        self.main_split.setSizes([560, 340])
        self.setCentralWidget(self.main_split)

        bar = self.statusBar()
        self.status_model = QLabel("Loading model…")
        self.status_view = QLabel("")
        self.status_cursor = QLabel("")
        self.status_cursor.setToolTip("Position and value under the pointer, in the film's own units")
        bar.addWidget(self.status_view, 1)
        bar.addPermanentWidget(self.status_cursor)
        bar.addPermanentWidget(self.status_model)

        self.viewer.window_changed.connect(self._on_viewer_window_changed)
        self.viewer.zoom_changed.connect(self._on_viewer_zoom_changed)
        self.viewer.cursor_moved.connect(self.status_cursor.setText)
        self.viewer.measured.connect(self._on_viewer_measured)
        for target in (self.viewer.viewport(), self.batch.table.viewport(), side.viewport(), self.banner):
            target.setAcceptDrops(True)
            target.installEventFilter(self)
        self.heatmap.changed.connect(self._on_heatmap_changed)
        self.batch.export_csv_requested.connect(self._on_export_csv_triggered)
        self.batch.export_pdf_requested.connect(self._on_export_summary_triggered)

    def _action(
        self, text: str, slot, shortcut=None, icon: str | None = None, tip: str = "", checkable: bool = False
    ) -> QAction:
        action = QAction(text, self)
        if icon:
            action.setIcon(style.icon(icon))
        if shortcut is not None:
            action.setShortcut(QKeySequence(shortcut))
        action.setStatusTip(tip or text.replace("&", "").rstrip("…"))
        action.setToolTip(f"{action.statusTip()} ({action.shortcut().toString()})" if shortcut else action.statusTip())
        action.setCheckable(checkable)
        (action.toggled if checkable else action.triggered).connect(slot)
        self.addAction(action)
        return action

    def _build_actions(self) -> None:
        a = self._action
        self.act_open = a(
            "&Open image…",
            self._on_open_triggered,
            QKeySequence.Open,
            "open-file",
            "Open a radiograph (PNG, JPEG, TIFF, BMP, DICOM)",
        )
        self.act_open_folder = a(
            "Open &folder…",
            self._on_open_folder_triggered,
            "Ctrl+Shift+O",
            "open-folder",
            "Screen every image in a folder and its sub-folders",
        )
        self.act_open_pacs = a(
            "Open from &PACS…", self._on_open_pacs_triggered, None, "open-folder", "Find and retrieve studies on a PACS"
        )
        self.act_save_overlay = a(
            "&Save overlay PNG…",
            self._on_save_overlay_triggered,
            QKeySequence.Save,
            "save-image",
            "Save the image with its heat map as PNG",
        )
        self.act_report = a(
            "Save &report PDF…",
            self._on_save_report_triggered,
            "Ctrl+P",
            "report",
            "Save a one-page PDF report of this image",
        )
        self.act_copy = a(
            "&Copy result",
            self._on_copy_triggered,
            QKeySequence.Copy,
            "copy",
            "Copy the result as text to the clipboard",
        )
        self.act_export_csv = a("&Export table as CSV…", self._on_export_csv_triggered, "Ctrl+E", "export-csv")
        self.act_export_summary = a(
            "Export batch &summary PDF…", self._on_export_summary_triggered, "Ctrl+Shift+P", "report"
        )
        self.act_cancel = a("Cancel &batch", self.cancel_batch, "Esc", "cancel", "Stop screening; keep every row")
        self.act_quit = a("&Quit", self.close, QKeySequence.Quit)
        self.act_zoom_in = a("Zoom &in", self.viewer.zoom_in, "+", "zoom-in")
        self.act_zoom_out = a("Zoom &out", self.viewer.zoom_out, "-", "zoom-out")
        self.act_fit = a("&Fit to window", self.viewer.fit_to_window, "F", "zoom-fit")
        self.act_actual = a("&Actual size (1:1)", self.viewer.actual_size, "1", "zoom-actual")
        self.act_zoom_cursor = a(
            "&Zoom to cursor", self.viewer.zoom_to_cursor, "Z", "zoom-cursor", "Zoom in twice, centred on the pointer"
        )
        self.act_invert = a("&Invert", self._on_invert_triggered, "I", "invert", "Invert grey levels")
        self.act_reset_wl = a(
            "&Reset window/level", self.viewer.reset_window, "R", "window-reset", "Back to the file's own window"
        )
        self.act_rotate = a("Rotate 90° &clockwise", self.viewer.rotate_clockwise, "Ctrl+R", "rotate")
        self.act_flip = a("Flip &horizontally", self.viewer.flip_horizontal, "Ctrl+H", "flip")
        self.act_overlays = a(
            "Corner &overlays",
            self.viewer.set_corners_visible,
            "O",
            "overlays",
            "Show or hide patient, study, window and zoom in the image corners",
            checkable=True,
        )
        self.act_overlays.setChecked(True)
        self.act_ruler = a(
            "&Ruler (mm)",
            self._on_ruler_toggled,
            "M",
            "ruler",
            "Measure: left-drag draws a ruler (middle or space-drag pans)",
            checkable=True,
        )
        self.act_clear_rulers = a("C&lear rulers", self.viewer.clear_measurements, "Shift+M")
        self.act_tags = a(
            "DICOM &tags…", self.show_tag_browser, "Ctrl+T", "tags", "Browse and search the file's header"
        )
        self.act_compare = a(
            "&Compare with another film…",
            self._on_compare_triggered,
            "Ctrl+D",
            "compare",
            "Show a prior and the current film side by side with linked zoom and pan",
        )
        self.act_resume = a(
            "&Resume unfinished batch",
            self.resume_batch,
            "Ctrl+Shift+R",
            "resume",
            "Continue the folder batch that was cancelled or interrupted, where it stopped",
        )
        unfinished = read_unfinished()
        self.act_resume.setEnabled(unfinished is not None)
        if unfinished is not None:
            self.status_view.setText(
                f"An unfinished batch can be resumed ({len(unfinished.rows)} screened so far):"
                " File > Resume (Ctrl+Shift+R)"
            )
        self.preset_menu_actions: list[QAction] = []
        for number, name in enumerate((FILE_PRESET, FULL_PRESET, *PRESET_PERCENTILES), start=2):
            action = a(
                f"Window: {name}",
                lambda _=False, n=name: self.apply_preset(n),
                f"F{number}",
                tip=f"Window/level preset: {name}",
            )
            self.preset_menu_actions.append(action)
        self.act_heatmap = a(
            "Show &heat map",
            self._on_heatmap_action_toggled,
            "H",
            "heatmap",
            "Show or hide the Grad-CAM heat map",
            checkable=True,
        )
        self.act_heatmap.setChecked(True)
        self.act_batch_panel = a(
            "Show batch &table",
            self._on_batch_panel_toggled,
            "Ctrl+B",
            tip="Show or hide the folder results table",
            checkable=True,
        )
        self.act_help = a("&Keyboard shortcuts", self._on_help_triggered, QKeySequence.HelpContents, "keyboard")
        self.act_about = a("&About CXR Desktop and model card", self._on_about_triggered, None, "info")

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addActions([self.act_open, self.act_open_folder, self.act_open_pacs, self.act_resume])
        self.recent_menu = file_menu.addMenu("Open &recent")
        file_menu.addSeparator()
        file_menu.addActions([self.act_save_overlay, self.act_report, self.act_copy])
        file_menu.addSeparator()
        file_menu.addActions([self.act_export_csv, self.act_export_summary])
        file_menu.addSeparator()
        file_menu.addAction(self.act_quit)
        view_menu = menu.addMenu("&View")
        view_menu.addActions([self.act_zoom_in, self.act_zoom_out, self.act_fit, self.act_actual, self.act_zoom_cursor])
        view_menu.addSeparator()
        view_menu.addActions([self.act_rotate, self.act_flip, self.act_invert])
        view_menu.addSeparator()
        view_menu.addActions([self.act_reset_wl, *self.preset_menu_actions])
        view_menu.addSeparator()
        view_menu.addActions([self.act_overlays, self.act_heatmap])
        view_menu.addSeparator()
        view_menu.addAction(self.act_batch_panel)
        tools_menu = menu.addMenu("&Tools")
        tools_menu.addActions([self.act_ruler, self.act_clear_rulers, self.act_tags, self.act_compare])
        self.models = ModelMenu(menu.addMenu("&Model"), self, lambda: self.settings.last_folder)
        self.models.model_chosen.connect(self._on_models_model_chosen)
        help_menu = menu.addMenu("&Help")
        help_menu.addActions([self.act_help, self.act_about])
        file_menu.insertAction(self.act_quit, self.act_cancel)
        file_menu.insertSeparator(self.act_quit)

        toolbar = self.addToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setIconSize(QSize(22, 22))
        toolbar.setToolButtonStyle(Qt.ToolButtonIconOnly)
        toolbar.addActions([self.act_open, self.act_open_folder])
        toolbar.addSeparator()
        toolbar.addActions([self.act_zoom_in, self.act_zoom_out, self.act_fit, self.act_actual, self.act_zoom_cursor])
        toolbar.addSeparator()
        toolbar.addActions([self.act_rotate, self.act_flip, self.act_invert, self.act_reset_wl])
        toolbar.addWidget(self._window_controls())
        toolbar.addSeparator()
        toolbar.addActions([self.act_ruler, self.act_overlays, self.act_tags, self.act_compare, self.act_heatmap])
        toolbar.addSeparator()
        toolbar.addActions([self.act_save_overlay, self.act_report, self.act_copy])
        toolbar.addSeparator()
        toolbar.addActions([self.act_help])
        self._refresh_recent_menu()
        self.update_actions()

    def _connect_worker(self) -> None:
        worker = self.host.worker
        worker.model_loading.connect(self._on_worker_model_loading)
        worker.model_loaded.connect(self._on_worker_model_loaded)
        worker.model_failed.connect(self._on_worker_model_failed)
        worker.image_scored.connect(self._on_worker_image_scored)
        worker.image_failed.connect(self._on_worker_image_failed)
        self.host.decoder.loaded.connect(self._on_decoder_loaded)
        self.host.decoder.failed.connect(self._on_decoder_failed)

    def _restore_geometry(self) -> None:
        geometry = self.settings.geometry
        if geometry is None or not self.restoreGeometry(geometry):
            self.resize(1440, 920)

    # --- public operations (menus, drops, the command line and tests all come through here) --------
    def load_model(self, model: str) -> None:
        """Load a bundled model by name or a bundle folder; the current image is re-scored when it lands."""
        self.model_name = model
        self.model_info = None
        self._model_id = self.host.load_model(model)
        self.status_model.setText(f"Loading model {Path(model).name}…")
        self.result_panel.set_model(None, f"loading {Path(model).name}…")
        self.models.check(model)
        self.update_actions()

    def open_paths(self, paths: list[Path]) -> None:
        """One file opens in the viewer; a folder or several files are screened as a batch."""
        paths = [Path(p) for p in paths]
        if not paths:
            return
        if len(paths) == 1 and not paths[0].is_dir():
            self.open_image(paths[0])
            return
        folders = [path if path.is_dir() else path.parent for path in paths]
        self.screen(paths, Path(os.path.commonpath([str(folder) for folder in folders])))

    def open_image(self, path: Path) -> None:
        path = Path(path)
        self.viewer.placeholder = PLACEHOLDER
        self._image_id = self.host.decode(path)
        self.settings.last_folder = str(path.parent)
        self._refresh_recent_menu(self.settings.add_recent(str(path)))
        self.status_view.setText(f"Opening {path.name}…")

    def screen(self, items: list[Path], root: Path | None) -> None:
        """Screen files/folders (see ``BatchController.start``)."""
        self.batches.start(items, root)

    def cancel_batch(self) -> None:
        self.batches.cancel()

    def resume_batch(self) -> bool:
        return self.batches.resume()

    def show_no_images(self, folder: Path | None) -> None:
        """An empty folder: say so, and take the previous film off the screen."""
        self._image_id = self.host.next_id()
        self.radiograph, self.details, self.score, self.refusal = None, None, None, ""
        self.viewer.clear()
        self.viewer.placeholder = f"No images found in {folder.name if folder else 'the folder'}."
        self.result_panel.clear()
        self.heatmap.setEnabled(False)
        self.banner.hide()
        self.status_view.setText(f"No images found in {folder}")
        self.update_actions()

    def apply_preset(self, name: str) -> bool:
        """Window/level preset by name (see ``core.windowing.presets``); False when the film has none."""
        modality = self.viewer.modality
        found = modality.presets if modality is not None else {}
        if name not in found:
            self.status_view.setText(f"No '{name}' window for this film")
            return False
        window = found[name]
        self.viewer.set_window(Window(window.center, window.width, self.viewer.window.invert))
        self.preset_box.blockSignals(True)
        self.preset_box.setCurrentIndex(max(0, self.preset_box.findText(name)))
        self.preset_box.blockSignals(False)
        return True

    def show_tag_browser(self) -> TagBrowser | None:
        if self.radiograph is None or self.details is None:
            return None
        browser = TagBrowser(self.radiograph.path.name, self.details.tags, self)
        browser.show()
        return browser

    def compare_with(self, other: Path) -> CompareDialog | None:
        """Open the current film and ``other`` side by side (earlier study on the left)."""
        if self.radiograph is None or self.details is None:
            self.status_view.setText("Open a film first, then compare it with another.")
            return None
        try:
            film = read_film(other)
        except CxrError as exc:
            self.banner.show_message("error", str(exc))
            return None
        if self.compare is None:
            self.compare = CompareDialog(self)
        self.compare.show_films([(self.radiograph, self.details), film])
        self.compare.show()
        return self.compare

    def export_csv(self, target: Path, identifiers: str | None = None) -> Path:
        return self.batches.export_csv(target, identifiers)

    def export_summary(self, target: Path) -> Path:
        return self.batches.export_summary(target)

    @property
    def custom_model_action(self) -> QAction:
        return self.models.custom_action

    def bundle(self):
        """The loaded model's bundle (None while loading or after a failure), for the audit trail."""
        return self.model_info.bundle if self.model_info else None

    def overlay_rgb(self, grey: np.ndarray | None = None) -> np.ndarray | None:
        """The displayed image (current window/level; ``grey`` when already rendered) blended with
        the heat map, full resolution."""
        grey = self.viewer.rendered_grey() if grey is None else grey
        if grey is None or self.score is None or self.radiograph is None:
            return None
        heat = self._heat(self.radiograph.width, self.radiograph.height)
        return render_overlay(
            grey.astype(np.float32) / 255.0,
            heat,
            alpha=self.heatmap.opacity_value,
            colormap=self.heatmap.selected_colormap,
        )

    def save_overlay(self, target: Path) -> Path:
        rgb = self.overlay_rgb()
        if rgb is None:
            raise ValueError("no scored image to save")
        write_png_atomic(target, rgb)
        audit.record_export("png", target, rows=1, bundle=self.bundle(), source="gui")
        self.status_view.setText(f"Saved {target}")
        return target

    def save_report(self, target: Path) -> Path:
        grey = self.viewer.rendered_grey()
        overlay = self.overlay_rgb(grey)
        if overlay is None or self.score is None or self.radiograph is None:
            raise ValueError("no scored image to report")
        info = self.radiograph.dicom
        keep = self.batch.identifiers_mode == "keep"
        study = {}
        if info is not None:
            study = {
                "Patient ID": info.patient_id if keep else "withheld (pseudonymised export)",
                "Study date": format_dicom_date(info.study_date),
                "View": info.view_position,
                "Modality": info.modality,
            }
        report = ImageReport(
            path=self.radiograph.path if keep else Path(self.export_label(self.radiograph.path) or "(omitted)"),
            sha256=self.radiograph.sha256,
            image=grey,
            overlay=overlay,
            classes=self.score.classes,
            probabilities=[float(p) for p in self.score.probabilities],
            thresholds=self.score.thresholds,
            prediction=self.score.prediction,
            flagged=self.score.flagged,
            explained_class=self.heatmap.selected_class or self.score.prediction,
            model_title=self.score.model_title,
            device=self.model_info.device if self.model_info else "",
            warnings=self._warnings(),
            study=study,
        )
        write_image_report(target, report)
        audit.record_export("pdf", target, rows=1, bundle=self.bundle(), source="gui")
        self.status_view.setText(f"Saved {target}")
        return target

    def export_label(self, path: Path) -> str:
        """How exports name this image: the same pseudonym, path or nothing as the CSV's path column,
        per the identifiers choice (pseudonymise unless the user changed it)."""
        try:
            return path_labeller(self.batch.identifiers_mode)(path)
        except CxrError as exc:
            log.warning("pseudonymisation unavailable: %s", exc)
            return ""

    def export_stem(self) -> str:
        """File-name stem suggested for an export of the open image (never the real name unless kept)."""
        if self.radiograph is None:
            return "image"
        label = self.export_label(self.radiograph.path)
        return Path(label).stem if label else "image"

    def result_text(self) -> str:
        if self.score is None or self.radiograph is None:
            return ""
        lines = [
            f"File: {self.export_label(self.radiograph.path) or '(omitted)'}",
            f"SHA-256: {self.radiograph.sha256}",
            f"Model: {self.score.model_title}",
            f"Most probable: {display_name(self.score.prediction)}"
            f" ({self.score.probability(self.score.prediction) * 100:.1f}%)",
        ]
        thresholds = self.score.thresholds
        lines += [
            f"  {display_name(name)}: {self.score.probability(name) * 100:.1f}%"
            + (f"  (flagged: >= threshold {thresholds[name] * 100:.1f}%)" if name in self.score.flagged else "")
            for name in self.score.classes
        ]
        lines += [f"Warning: {text}" for text in self._warnings()]
        lines.append(DISCLAIMER)
        return "\n".join(lines)

    # --- worker answers ------------------------------------------------------------------------------
    def _on_worker_model_loading(self, request_id: int, model: str) -> None:
        if request_id == self._model_id:
            self.status_model.setText(f"Loading model {Path(model).name}…")

    def _on_worker_model_loaded(self, request_id: int, info: ModelInfo) -> None:
        if request_id != self._model_id:
            return
        self.model_info = info
        self.model_error = ""
        self.settings.model = self.model_name
        self.status_model.setText(f"{info.title} · {info.device}")
        self.result_panel.set_model(info)
        if self.refusal.startswith("Model could not"):
            self.refusal = ""
            self.banner.hide()
        if self.batch.model.classes != info.classes and not self.batch.running and not self.batch.model.items:
            self.batch.set_classes(info.classes, None)
        if self.radiograph is not None:
            self.result_panel.show_pending(f"Re-scoring with {info.title}…")
            self.host.score(self._image_id, self.radiograph)
        self.update_actions()
        self.model_ready.emit(info)

    def _on_worker_model_failed(self, request_id: int, message: str) -> None:
        if request_id != self._model_id:
            return
        self.status_model.setText("No model loaded")
        self.result_panel.set_model(None, "not loaded")
        self.model_error = self.refusal = f"Model could not be loaded: {message}"
        self.banner.show_message("error", self.refusal)
        self.update_actions()
        self.model_unavailable.emit(message)

    def _on_decoder_loaded(self, request_id: int, radiograph: Radiograph, details: FilmDetails) -> None:
        if request_id != self._image_id:
            return
        self.radiograph, self.details, self.score, self.refusal = radiograph, details, None, ""
        self.viewer.set_film(details.modality, details.spacing, details.quantised)
        self.viewer.set_corners(corner_lines(radiograph, details))
        self._fill_presets()
        self.result_panel.show_radiograph(radiograph)
        self.heatmap.setEnabled(False)
        self._show_warnings()
        self.setWindowTitle(f"{radiograph.path.name} — CXR Desktop")
        self.status_view.setText(
            f"{radiograph.path.name}: {radiograph.width} x {radiograph.height}"
            f" · {self._window_text(self.viewer.window)}"
        )
        if self.model_info is None:
            self.result_panel.show_pending("Waiting for the model to finish loading…")
        self.host.score(request_id, radiograph)
        self.update_actions()
        self.image_displayed.emit(radiograph)

    def _on_decoder_failed(self, request_id: int, message: str) -> None:
        if request_id != self._image_id:
            return
        self.radiograph, self.details, self.score, self.refusal = None, None, None, message
        self.viewer.clear()
        self.result_panel.clear()
        self.result_panel.show_failure("The file was refused; see the banner above the image.")
        self.heatmap.setEnabled(False)
        self.banner.show_message("error", message)
        self.status_view.setText(message)
        self.update_actions()
        self.image_refused.emit(message)

    def _on_worker_image_scored(self, request_id: int, result: ImageScore) -> None:
        if request_id != self._image_id or self.radiograph is None or result.path != self.radiograph.path:
            return
        if self.model_info is None or result.model_title != self.model_info.title:
            return
        self.score = result
        self.result_panel.show_result(result)
        self.heatmap.set_classes(result.classes, result.prediction)
        self.heatmap.setEnabled(True)
        self._update_overlay()
        self._show_warnings()
        self.update_actions()
        self.result_displayed.emit(result)

    def _on_worker_image_failed(self, request_id: int, message: str) -> None:
        if request_id != self._image_id:
            return
        self.result_panel.show_failure(message)
        self.banner.show_message("error", message)

    # --- heat map ---------------------------------------------------------------------------------
    def _cam(self) -> np.ndarray:
        name = self.heatmap.selected_class or self.score.prediction
        return self.score.cams[self.score.classes.index(name)]

    def _heat(self, width: int, height: int) -> np.ndarray:
        """The heat map at that size, toned down outside the lung fields when the user keeps that on."""
        heat = heatmap_to_image(self._cam(), width, height)
        prior = load_prior()
        if prior is not None and self.heatmap.tone_down_outside:
            heat = down_weight(heat, prior)
        return heat

    def _show_outside_share(self) -> None:
        prior = load_prior()
        if prior is None or self.score is None:
            self.heatmap.set_outside_share(None, "")
            return
        name = self.heatmap.selected_class or self.score.prediction
        even = outside_share(np.ones_like(self._cam()), prior)
        self.heatmap.set_outside_share(outside_share(self._cam(), prior), display_name(name), even)

    def _update_overlay(self) -> None:
        """Rebuild the overlay image only when the score, explained class or colour map changed;
        opacity and visibility are properties of the viewer's layer and cost no recomputation."""
        if self.score is None or self.radiograph is None:
            self.viewer.clear_overlay()
            self._overlay_source = None
            return
        source = (
            self.score,
            self.heatmap.selected_class,
            self.heatmap.selected_colormap,
            self.heatmap.tone_down_outside,
        )
        built = self._overlay_source
        if built is None or built[0] is not source[0] or built[1:] != source[1:]:
            scale = min(1.0, OVERLAY_MAX_SIDE / max(self.radiograph.width, self.radiograph.height))
            width = max(1, round(self.radiograph.width * scale))
            height = max(1, round(self.radiograph.height * scale))
            heat = self._heat(width, height)
            rgba = heatmap_rgba(heat, colorize(heat, self.heatmap.selected_colormap))
            self.viewer.set_overlay(rgba_to_qimage(rgba))
            self._overlay_source = source
            self._show_outside_share()
        self.viewer.set_overlay_opacity(self.heatmap.opacity_value)
        self.viewer.set_overlay_visible(self.heatmap.visible.isChecked())

    def _on_heatmap_changed(self) -> None:
        self.settings.overlay_opacity = self.heatmap.opacity_value
        self.settings.colormap = self.heatmap.selected_colormap
        if self.act_heatmap.isChecked() != self.heatmap.visible.isChecked():
            self.act_heatmap.setChecked(self.heatmap.visible.isChecked())
        self._update_overlay()

    def _on_heatmap_action_toggled(self, checked: bool) -> None:
        if self.heatmap.visible.isChecked() != checked:
            self.heatmap.visible.setChecked(checked)

    # --- warnings -----------------------------------------------------------------------------------
    def _warnings(self) -> list[str]:
        found: list[str] = []
        for text in (
            *(self.radiograph.warnings if self.radiograph else ()),
            *(self.score.warnings if self.score else ()),
        ):
            if text not in found:
                found.append(text)
        return found

    def _show_warnings(self) -> None:
        warnings = self._warnings()
        if warnings:
            self.banner.show_message("warning", "; ".join(warnings))
        else:
            self.banner.hide()

    # --- menus and other user events --------------------------------------------------------------
    def update_actions(self) -> None:
        scored = self.score is not None
        for action in (self.act_save_overlay, self.act_report, self.act_copy):
            action.setEnabled(scored)
        has_rows = bool(self.batch.model.items)
        self.act_export_csv.setEnabled(has_rows)
        self.act_export_summary.setEnabled(has_rows)
        self.act_cancel.setEnabled(self.batch.running)
        self.models.set_enabled(not self.batch.running)

    def _refresh_recent_menu(self, recent: list[str] | None = None) -> None:
        self.recent_menu.clear()
        for path in recent if recent is not None else self.settings.recent_files:
            action = self.recent_menu.addAction(Path(path).name)
            action.setToolTip(path)
            action.setStatusTip(path)
            action.setData(path)
            action.triggered.connect(lambda _=False, p=path: self.open_paths([Path(p)]))
        self.recent_menu.setEnabled(not self.recent_menu.isEmpty())

    def _ask_save(self, title: str, suggested: str, filter_: str) -> Path | None:
        name, _ = QFileDialog.getSaveFileName(self, title, str(Path(self.settings.last_folder) / suggested), filter_)
        return Path(name) if name else None

    def _input_paths(self) -> list[Path]:
        """What this window has read (the open image, the screened folder): no export may land on them."""
        paths = [self.radiograph.path] if self.radiograph is not None else []
        root = self.batch.model.root
        return paths + ([root] if root is not None else [])

    def _run_export(self, what: str, operation, target: Path | None) -> None:
        if target is None:
            return
        try:
            check_output(target, self._input_paths(), "file")
            operation(target)
        except (OSError, ValueError, CxrError) as exc:
            log.warning("%s failed: %s", what, exc)
            self.banner.show_message("error", f"{what} failed: {exc}")

    def _on_open_triggered(self) -> None:
        dialog = open_image_dialog(self, self.settings.last_folder)
        if dialog.exec_() and dialog.selectedFiles():
            self.open_image(Path(dialog.selectedFiles()[0]))

    def _on_compare_triggered(self) -> None:
        if self.radiograph is None:
            self.status_view.setText("Open a film first, then compare it with another.")
            return
        dialog = open_image_dialog(self, str(self.radiograph.path.parent))
        dialog.setWindowTitle("Compare with…")
        if dialog.exec_() and dialog.selectedFiles():
            self.compare_with(Path(dialog.selectedFiles()[0]))

    def _on_ruler_toggled(self, checked: bool) -> None:
        self.viewer.set_tool("ruler" if checked else "pan")
        if checked:
            spacing = self.viewer.spacing
            self.status_view.setText(f"Ruler uses {spacing.source}" if spacing else f"Ruler: {NO_SPACING}")

    def _on_viewer_measured(self, text: str) -> None:
        spacing = self.viewer.spacing
        self.status_view.setText(f"Ruler: {text} ({spacing.source if spacing else NO_SPACING})")

    def _on_open_folder_triggered(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Screen a folder", self.settings.last_folder)
        if folder:
            self.screen([Path(folder)], Path(folder))

    def _on_open_pacs_triggered(self) -> None:
        from cxr_desktop.ui.pacs_dialog import show_pacs_dialog

        show_pacs_dialog(self)

    def _on_save_overlay_triggered(self) -> None:
        if self.radiograph is not None:
            suggested = f"{self.export_stem()}.gradcam-{self.heatmap.selected_class}.png"
            self._run_export(
                "Saving the overlay",
                self.save_overlay,
                self._ask_save("Save overlay PNG", suggested, "PNG image (*.png)"),
            )

    def _on_save_report_triggered(self) -> None:
        if self.radiograph is not None:
            self._run_export(
                "Saving the report",
                self.save_report,
                self._ask_save("Save PDF report", f"{self.export_stem()}.report.pdf", "PDF (*.pdf)"),
            )

    def _on_copy_triggered(self) -> None:
        text = self.result_text()
        if text:
            QApplication.clipboard().setText(text)
            self.status_view.setText("Result copied to the clipboard")

    def _on_export_csv_triggered(self) -> None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        self._run_export(
            "Exporting the CSV",
            self.export_csv,
            self._ask_save("Export results CSV", f"screening-{stamp}.csv", "CSV (*.csv)"),
        )

    def _on_export_summary_triggered(self) -> None:
        stamp = datetime.now().strftime("%Y%m%d-%H%M")
        self._run_export(
            "Exporting the summary",
            self.export_summary,
            self._ask_save("Export batch summary PDF", f"screening-{stamp}.pdf", "PDF (*.pdf)"),
        )

    def _on_invert_triggered(self) -> None:
        self.viewer.toggle_invert()

    def _on_batch_panel_toggled(self, checked: bool) -> None:
        if checked and not self.batch.isVisible():
            total = max(self.main_split.height(), 600)
            self.main_split.setSizes([int(total * 0.5), total - int(total * 0.5)])
        self.batch.setVisible(checked)

    def _on_models_model_chosen(self, model: str) -> None:
        if model != self.model_name or self.model_info is None:
            self.load_model(model)

    def _on_help_triggered(self) -> None:
        help_dialog(self, self.actions()).exec_()

    def _on_about_triggered(self) -> None:
        about_dialog(self, self.model_info.bundle if self.model_info else None).exec_()

    def _window_text(self, window: Window) -> str:
        invert = " · inverted" if window.invert else ""
        units = self.viewer.modality.units if self.viewer.modality else ""
        return f"window {format_value(window.width)} · level {format_value(window.center)} ({units}){invert}"

    def _on_viewer_window_changed(self, window: Window) -> None:
        self.status_view.setText(self._window_text(window).capitalize())
        for box, value in ((self.width_box, window.width), (self.level_box, window.center)):
            box.blockSignals(True)
            box.setValue(value)
            box.blockSignals(False)

    def _window_controls(self) -> QWidget:
        """Preset choice and the window's width and level, editable, in the film's own units."""
        box = QWidget()
        layout = QHBoxLayout(box)
        layout.setContentsMargins(6, 0, 6, 0)
        self.preset_box = QComboBox()
        self.preset_box.setToolTip(
            "Window/level presets (F2 file VOI, F3 full range, F4 lung, F5 mediastinum, F6 bone); lung,"
            " mediastinum and bone are set from this film's histogram (radiographs have no calibrated units)"
        )
        self.preset_box.setMinimumContentsLength(11)
        self.width_box, self.level_box = QDoubleSpinBox(), QDoubleSpinBox()
        for spin, tip in ((self.width_box, "Window width"), (self.level_box, "Window level (centre)")):
            spin.setRange(-1e7, 1e7)
            spin.setDecimals(0)
            spin.setKeyboardTracking(False)
            spin.setToolTip(f"{tip}, in the film's own units (right-drag on the image also sets it)")
            spin.valueChanged.connect(self._on_window_box_changed)
        self.width_box.setMinimum(1)
        layout.addWidget(self.preset_box)
        layout.addWidget(QLabel("W"))
        layout.addWidget(self.width_box)
        layout.addWidget(QLabel("L"))
        layout.addWidget(self.level_box)
        self.preset_box.activated[str].connect(self.apply_preset)
        return box

    def _fill_presets(self) -> None:
        modality = self.viewer.modality
        self.preset_box.blockSignals(True)
        self.preset_box.clear()
        self.preset_box.addItems(list(modality.presets) if modality is not None else [])
        self.preset_box.blockSignals(False)
        integral = modality is not None and modality.integral
        for box in (self.width_box, self.level_box):
            box.setDecimals(1 if integral else 2)
        self._on_viewer_window_changed(self.viewer.window)

    def _on_window_box_changed(self) -> None:
        if self.viewer.modality is not None:
            self.viewer.set_window(Window(self.level_box.value(), self.width_box.value(), self.viewer.window.invert))

    def _on_viewer_zoom_changed(self, scale: float) -> None:
        self.status_view.setText(f"Zoom {scale * 100:.0f}%")

    # --- drag and drop, closing ----------------------------------------------------------------------
    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt override
        """Drops on the image, the table, the result panel or the banner open files like the window's."""
        if event.type() in (QEvent.DragEnter, QEvent.DragMove):
            self.dragEnterEvent(event)
            return event.isAccepted()
        if event.type() == QEvent.Drop:
            self.dropEvent(event)
            return True
        return super().eventFilter(watched, event)

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(url.isLocalFile() for url in event.mimeData().urls()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = [Path(url.toLocalFile()) for url in event.mimeData().urls() if url.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.open_paths(paths)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        """Cancel any batch, stop the worker thread and wait for it, then save settings."""
        self.batches.stop_stepping()
        self.host.shutdown()
        self.batches.close_journal()
        self.settings.geometry = self.saveGeometry()
        self.settings.sync()
        super().closeEvent(event)
