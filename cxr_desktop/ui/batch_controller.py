"""Folder screening in the window: start and cancel a batch, feed its rows to the table, export them.

``MainWindow`` owns the widgets; this controller owns the batch's request id and the conversation
with the worker about it, and writes the table out through ``cxr_desktop.exports`` (the same
writers the headless CLI uses). Stepping through the table opens each row's image after a short
pause, so holding an arrow key does not decode every file it passes.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PyQt5.QtCore import QObject, QTimer

from cxr_desktop.core import audit
from cxr_desktop.core.atomic import write_bytes_atomic
from cxr_desktop.exports.report_pdf import write_batch_summary
from cxr_desktop.exports.results_csv import render_csv
from cxr_desktop.ui.worker import BatchRow

if TYPE_CHECKING:
    from cxr_desktop.ui.main_window import MainWindow

#: Pause before the image of the row the keyboard stopped on is opened.
STEP_DELAY_MS = 120


class BatchController(QObject):
    """Runs the window's folder screening; at most one batch is current (a new one cancels it)."""

    def __init__(self, window: MainWindow) -> None:
        super().__init__(window)
        self.window = window
        self.panel = window.batch
        self.host = window.host
        self.request_id = 0
        self._step_path: Path | None = None
        self._step_timer = QTimer(self, singleShot=True, interval=STEP_DELAY_MS)
        self._step_timer.timeout.connect(self._on_step_timer_timeout)
        worker = self.host.worker
        worker.batch_started.connect(self._on_worker_batch_started)
        worker.batch_rows_ready.connect(self._on_worker_batch_rows_ready)
        worker.batch_finished.connect(self._on_worker_batch_finished)
        self.panel.open_requested.connect(self._on_panel_open_requested)
        self.panel.current_changed.connect(self._on_panel_current_changed)
        self.panel.cancel_requested.connect(self.cancel)
        self.panel.set_identifiers(window.settings.export_identifiers)
        self.panel.identifiers_changed.connect(self._on_panel_identifiers_changed)

    def start(self, items: list[Path], root: Path | None) -> None:
        """Screen files/folders; any batch already running is cancelled first (its rows are replaced)."""
        window = self.window
        if window.model_info is None and window.model_error:
            window.banner.show_message("error", window.model_error)
            return
        self.host.cancel_batch()
        classes = window.model_info.classes if window.model_info else []
        self.panel.start(root or Path(items[0]).parent, classes)
        self.request_id = self.host.start_batch(list(items), root)
        if root is not None:
            window.settings.last_folder = str(root)
        window.act_batch_panel.setChecked(True)
        window.update_actions()

    def cancel(self) -> None:
        if self.panel.running:
            self.host.cancel_batch()
            self.window.status_view.setText("Cancelling — finishing the images already in the model…")

    def stop_stepping(self) -> None:
        self._step_timer.stop()

    def export_csv(self, target: Path, identifiers: str | None = None) -> Path:
        """The table as CSV with exactly the headless ``screen`` command's columns.

        ``identifiers`` (default: the batch panel's choice, pseudonymise unless changed) decides what
        the path column holds, as the CLI's ``--identifiers`` does.
        """
        mode = identifiers or self.panel.identifiers_mode
        rows = self.panel.model.rows
        write_bytes_atomic(target, render_csv(rows, self.panel.model.classes, identifiers=mode))
        audit.record_export("csv", target, rows=len(rows), identifiers=mode, bundle=self.window.bundle(), source="gui")
        self.window.status_view.setText(f"Saved {target}")
        return target

    def export_summary(self, target: Path) -> Path:
        window = self.window
        write_batch_summary(
            target,
            self.panel.model.rows,
            self.panel.model.classes,
            model_title=window.model_info.title if window.model_info else window.model_name,
            folder=self.panel.model.root,
            complete=not self.panel.running and self.panel.progress.value() >= self.panel.total,
        )
        audit.record_export(
            "pdf-summary", target, rows=len(self.panel.model.rows), bundle=window.bundle(), source="gui"
        )
        window.status_view.setText(f"Saved {target}")
        return target

    def _on_worker_batch_started(self, request_id: int, total: int) -> None:
        if request_id == self.request_id:
            info = self.window.model_info
            if info is not None and self.panel.model.classes != info.classes:
                self.panel.set_classes(info.classes, self.panel.model.root)
            self.panel.set_total(total)

    def _on_worker_batch_rows_ready(self, request_id: int, rows: list[BatchRow]) -> None:
        if request_id == self.request_id:
            first = not self.panel.model.items
            self.panel.add_rows(rows)
            if first and self.window.radiograph is None:
                self.panel.select_first()

    def _on_worker_batch_finished(self, request_id: int, cancelled: bool, seconds: float) -> None:
        if request_id != self.request_id:
            return
        self.panel.finish(cancelled, seconds)
        self.window.status_view.setText(
            "Batch cancelled; every row already scored is kept." if cancelled else f"Batch done in {seconds:.1f} s."
        )
        self.window.update_actions()
        self.window.batch_completed.emit(cancelled)

    def _on_panel_identifiers_changed(self, mode: str) -> None:
        self.window.settings.export_identifiers = mode

    def _on_panel_open_requested(self, path: Path) -> None:
        self._step_timer.stop()
        self.window.open_image(path)

    def _on_panel_current_changed(self, path: Path) -> None:
        self._step_path = path
        self._step_timer.start()

    def _on_step_timer_timeout(self) -> None:
        radiograph = self.window.radiograph
        if self._step_path is not None and (radiograph is None or radiograph.path != self._step_path):
            self.window.open_image(self._step_path)
