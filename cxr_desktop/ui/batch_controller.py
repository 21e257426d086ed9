"""Folder screening in the window: start and cancel a batch, feed its rows to the table, export them.

``MainWindow`` owns the widgets; this controller owns the batch's request id and the conversation
with the worker about it, and writes the table out through ``cxr_desktop.exports`` (the same
writers the headless CLI uses). Stepping through the table opens each row's image after a short
pause, so holding an arrow key does not decode every file it passes.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from PyQt5.QtCore import QObject, QTimer

from cxr_desktop.core import audit
from cxr_desktop.core.atomic import write_bytes_atomic
from cxr_desktop.core.batch_journal import BatchJournal, BatchPlan, read_unfinished
from cxr_desktop.core.scoring import ScreeningRow
from cxr_desktop.exports.report_pdf import write_batch_summary
from cxr_desktop.exports.results_csv import render_csv
from cxr_desktop.ui.worker import BatchRow

if TYPE_CHECKING:
    from cxr_desktop.ui.main_window import MainWindow

log = logging.getLogger(__name__)

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
        self.journal: BatchJournal | None = None
        self.resumed = 0
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

    def start(self, items: list[Path], root: Path | None, done: list[ScreeningRow] | None = None) -> None:
        """Screen files/folders; any batch already running is cancelled first (its rows are replaced).

        ``done``: rows of an interrupted run of the same batch; they are shown again and their files
        are not screened again (resume)."""
        window = self.window
        if window.model_info is None and window.model_error:
            window.banner.show_message("error", window.model_error)
            return
        self.host.cancel_batch()
        self._close_journal(complete=False)
        classes = window.model_info.classes if window.model_info else []
        done = done or []
        self.panel.start(root or Path(items[0]).parent, classes)
        self.panel.add_rows([BatchRow(row, None) for row in done])
        self.resumed = len(done)
        self.journal = self._open_journal(BatchPlan(tuple(items), root, window.model_name), done)
        self.request_id = self.host.start_batch(list(items), root, skip=[row.path for row in done])
        if root is not None:
            window.settings.last_folder = str(root)
        window.act_batch_panel.setChecked(True)
        window.update_actions()

    def resume(self) -> bool:
        """Continue the batch a cancel or a crash left unfinished, with the model it was started with."""
        unfinished = read_unfinished()
        window = self.window
        if unfinished is None:
            window.status_view.setText("No unfinished batch to resume.")
            return False
        plan = unfinished.plan
        if window.model_info is not None and plan.model and plan.model != window.model_name:
            window.banner.show_message(
                "warning",
                f"The unfinished batch was screened with model {Path(plan.model).name}; choose that model"
                " (Model menu) to resume it, so every row comes from one model.",
            )
            return False
        self.start(list(plan.items), plan.root, unfinished.rows)
        window.status_view.setText(f"Resuming: {len(unfinished.rows)} files were already screened.")
        return True

    def _open_journal(self, plan: BatchPlan, done: list[ScreeningRow]) -> BatchJournal | None:
        try:
            return BatchJournal(plan, done)
        except OSError as exc:
            log.warning("batch journal not written (resume unavailable): %s", exc)
            return None

    def _close_journal(self, complete: bool) -> None:
        if self.journal is not None:
            self.journal.close(complete)
            self.journal = None
        self.window.act_resume.setEnabled(read_unfinished() is not None)

    def cancel(self) -> None:
        if self.panel.running:
            self.host.cancel_batch()
            self.window.status_view.setText("Cancelling — finishing the images already in the model…")

    def stop_stepping(self) -> None:
        self._step_timer.stop()

    def close_journal(self) -> None:
        """On quitting: the journal stays on disk (an unfinished batch can be resumed next time)."""
        self._close_journal(complete=False)

    def export_csv(self, target: Path, identifiers: str | None = None) -> Path:
        """The table as CSV with exactly the headless ``screen`` command's columns: the rows it
        shows, filtered and in its order, so the file matches what the user looked at.

        ``identifiers`` (default: the batch panel's choice, pseudonymise unless changed) decides what
        the path column holds, as the CLI's ``--identifiers`` does.
        """
        mode = identifiers or self.panel.identifiers_mode
        rows = self.panel.proxy.shown_rows()
        info = self.window.model_info
        provenance = info.provenance if info is not None else None
        write_bytes_atomic(target, render_csv(rows, self.panel.model.classes, identifiers=mode, provenance=provenance))
        audit.record_export("csv", target, rows=len(rows), identifiers=mode, bundle=self.window.bundle(), source="gui")
        total = len(self.panel.model.items)
        scope = f"{len(rows)} of {total} rows (the table's filter)" if len(rows) < total else f"all {total} rows"
        self.window.status_view.setText(f"Saved {scope}, in the table's order, to {target}")
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
            identifiers=self.panel.identifiers_mode,
        )
        audit.record_export(
            "pdf-summary",
            target,
            rows=len(self.panel.model.rows),
            identifiers=self.panel.identifiers_mode,
            bundle=window.bundle(),
            source="gui",
        )
        window.status_view.setText(f"Saved {target}")
        return target

    def _on_worker_batch_started(self, request_id: int, total: int) -> None:
        if request_id == self.request_id:
            info = self.window.model_info
            if info is not None and self.panel.model.classes != info.classes:
                self.panel.set_classes(info.classes, self.panel.model.root)
            self.panel.set_total(total + self.resumed)
            self.panel.progress.setValue(self.resumed)

    def _on_worker_batch_rows_ready(self, request_id: int, rows: list[BatchRow]) -> None:
        if request_id == self.request_id:
            first = not self.panel.model.items
            self.panel.add_rows(rows)
            if self.journal is not None:
                self.journal.add([row.row for row in rows])
            if first and self.window.radiograph is None:
                self.panel.select_first()

    def _on_worker_batch_finished(self, request_id: int, cancelled: bool, seconds: float) -> None:
        if request_id != self.request_id:
            return
        self.panel.finish(cancelled, seconds)
        self._close_journal(complete=not cancelled)
        if self.panel.total == 0 and not cancelled:
            self.window.show_no_images(self.panel.model.root)
        else:
            self.window.status_view.setText(
                "Batch cancelled; every row already scored is kept. File > Resume batch continues it."
                if cancelled
                else f"Batch done in {seconds:.1f} s."
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
