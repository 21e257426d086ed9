"""The clinic's folder screen: progress, cancel, filters, the sortable results table and exports."""

from __future__ import annotations

import time
from pathlib import Path

from PyQt5.QtCore import QModelIndex, QSize, Qt, pyqtSignal
from PyQt5.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QSizePolicy,
    QTableView,
    QVBoxLayout,
    QWidget,
)

from cxr_desktop.ui import style
from cxr_desktop.core.decision import NEGATIVE_CLASS, display_name
from cxr_desktop.core.triage import GROUP_LABELS, READ_ERROR, READABLE, UNUSUAL, triage_group
from cxr_desktop.ui.results_model import PATH_ROLE, ResultsFilter, ResultsTableModel
from cxr_desktop.ui.worker import BatchRow

THUMBNAIL_ROW_HEIGHT = 52
NO_IMAGES = "No images found"


class BatchPanel(QWidget):
    """Owns the table model; the main window feeds it rows and handles the requests it emits."""

    open_requested = pyqtSignal(Path)
    current_changed = pyqtSignal(Path)
    cancel_requested = pyqtSignal()
    export_csv_requested = pyqtSignal()
    export_pdf_requested = pyqtSignal()
    identifiers_changed = pyqtSignal(str)

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.model = ResultsTableModel()
        self.proxy = ResultsFilter(self)
        self.proxy.setSourceModel(self.model)
        self.total = 0
        self.started = 0.0
        self.running = False

        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 8, 6)
        layout.setSpacing(6)
        top = QHBoxLayout()
        self.title = QLabel("No folder screened yet")
        self.title.setObjectName("findingCaption")
        self.title.setSizePolicy(QSizePolicy.Ignored, QSizePolicy.Preferred)
        top.addWidget(self.title, 1)
        top.addWidget(QLabel("Class"))
        self.prediction_filter = QComboBox()
        self.prediction_filter.setToolTip("Show only films whose most probable class is this one")
        top.addWidget(self.prediction_filter)
        top.addWidget(QLabel("Flag"))
        self.flag_filter = QComboBox()
        self.flag_filter.setToolTip("Show only films flagged (at or above the screening threshold) for a class")
        top.addWidget(self.flag_filter)
        top.addWidget(QLabel("Group"))
        self.status_filter = QComboBox()
        self.status_filter.setToolTip("Readable films, films flagged as unusual (OOD), read errors")
        for text, key in (
            ("All", ""),
            ("Readable", "readable"),
            ("Unusual (OOD)", "unusual"),
            ("Read errors", "error"),
            ("With warnings", "warning"),
        ):
            self.status_filter.addItem(text, key)
        top.addWidget(self.status_filter)
        self.identifiers = QComboBox()
        for text, key in (("Pseudonymise paths", "pseudonymise"), ("Keep paths", "keep"), ("Omit paths", "omit")):
            self.identifiers.addItem(text, key)
        self.identifiers.setToolTip(
            "What the exported CSV's path column holds. File names often contain patient names:"
            " pseudonymise (default) or omit them before the CSV leaves this workstation."
        )
        top.addWidget(self.identifiers)
        self.export_csv = QPushButton(style.icon("export-csv"), "Export CSV…")
        self.export_csv.setToolTip("Exports the rows the table shows, filtered and in its order (Ctrl+E)")
        self.export_pdf = QPushButton(style.icon("report"), "Summary PDF…")
        top.addWidget(self.export_csv)
        top.addWidget(self.export_pdf)
        layout.addLayout(top)

        progress_row = QHBoxLayout()
        self.progress = QProgressBar()
        self.progress.setFormat("%v / %m")
        self.rate = QLabel("")
        self.rate.setObjectName("muted")
        self.rate.setMinimumWidth(220)
        self.cancel = QPushButton(style.icon("cancel"), "Cancel")
        self.cancel.setEnabled(False)
        progress_row.addWidget(self.progress, 1)
        progress_row.addWidget(self.rate)
        progress_row.addWidget(self.cancel)
        layout.addLayout(progress_row)

        self.table = QTableView()
        self.table.setModel(self.proxy)
        self.table.setSortingEnabled(True)
        self.table.setSelectionBehavior(QAbstractItemView.SelectRows)
        self.table.setSelectionMode(QAbstractItemView.SingleSelection)
        self.table.setEditTriggers(QAbstractItemView.NoEditTriggers)
        self.table.setAlternatingRowColors(True)
        self.table.setIconSize(QSize(THUMBNAIL_ROW_HEIGHT - 4, THUMBNAIL_ROW_HEIGHT - 4))
        self.table.verticalHeader().setVisible(False)
        self.table.verticalHeader().setDefaultSectionSize(THUMBNAIL_ROW_HEIGHT)
        self.table.horizontalHeader().setHighlightSections(False)
        self.table.setWordWrap(False)
        layout.addWidget(self.table, 1)

        self.prediction_filter.currentIndexChanged.connect(self._on_filter_changed)
        self.flag_filter.currentIndexChanged.connect(self._on_filter_changed)
        self.status_filter.currentIndexChanged.connect(self._on_filter_changed)
        self.identifiers.currentIndexChanged.connect(self._on_identifiers_changed)
        self.cancel.clicked.connect(self.cancel_requested)
        self.export_csv.clicked.connect(self.export_csv_requested)
        self.export_pdf.clicked.connect(self.export_pdf_requested)
        self.table.activated.connect(self._on_table_activated)
        self.table.selectionModel().currentRowChanged.connect(self._on_table_current_changed)
        self._set_exports_enabled()

    # --- batch lifecycle --------------------------------------------------------------------------
    def start(self, folder: Path, classes: list[str]) -> None:
        self.set_classes(classes, folder)
        self.title.setText(f"Folder: {folder}")
        self.title.setToolTip(str(folder))
        self.total, self.started, self.running = 0, time.perf_counter(), True
        self.progress.setRange(0, 0)
        self.progress.setFormat("%v / %m")
        self.progress.setValue(0)
        self.rate.setText("Listing files…")
        self.cancel.setEnabled(True)
        self._set_exports_enabled()

    def set_classes(self, classes: list[str], root: Path | None) -> None:
        """Empty the table and set its probability columns (one per class of the model in use)."""
        self.model.reset(classes, root)
        self.prediction_filter.blockSignals(True)
        self.prediction_filter.clear()
        self.prediction_filter.addItem("All", "")
        for name in classes:
            self.prediction_filter.addItem(display_name(name), name)
        self.prediction_filter.blockSignals(False)
        self.flag_filter.blockSignals(True)
        self.flag_filter.clear()
        for text, key in (("All", ""), ("Any flag", "*"), ("No flag", "-")):
            self.flag_filter.addItem(text, key)
        for name in classes:
            if name != NEGATIVE_CLASS:
                self.flag_filter.addItem(f"{display_name(name)} flagged", name)
        self.flag_filter.blockSignals(False)
        self.proxy.set_filters("", self.status_filter.currentData() or "")
        self._show_counts()
        self._size_columns()
        self.table.sortByColumn(self.model.risk_column, Qt.DescendingOrder)

    def _size_columns(self) -> None:
        """Fixed widths from the header text: measuring cell contents would call into every row on
        every insert and stall the event loop during a batch."""
        header = self.table.horizontalHeader()
        header.setSectionResizeMode(QHeaderView.Interactive)
        header.setStretchLastSection(True)
        metrics = self.table.fontMetrics()
        for column, text in enumerate(self.model.headers()):
            header.resizeSection(
                column, max(metrics.horizontalAdvance(text) + 36, metrics.horizontalAdvance("0.000") + 30)
            )
        header.resizeSection(0, THUMBNAIL_ROW_HEIGHT + 12)
        header.resizeSection(1, max(260, metrics.horizontalAdvance("x" * 34)))
        header.resizeSection(2, metrics.horizontalAdvance(GROUP_LABELS[UNUSUAL]) + 24)
        header.resizeSection(3, metrics.horizontalAdvance("Pneumonia") + 40)

    def set_total(self, total: int) -> None:
        self.total = total
        self.progress.setRange(0, max(total, 1))
        self.progress.setValue(0)
        self.rate.setText(f"0 of {total} files")

    def add_rows(self, rows: list[BatchRow]) -> None:
        self.model.append(rows)
        self._show_counts()
        done = len(self.model.items)
        self.progress.setValue(done)
        elapsed = max(time.perf_counter() - self.started, 1e-6)
        self.rate.setText(f"{done} of {self.total} files · {done / elapsed:.1f} images/s")
        self._set_exports_enabled()

    def finish(self, cancelled: bool, seconds: float) -> None:
        self.running = False
        self.cancel.setEnabled(False)
        done = len(self.model.items)
        errors = sum(1 for row in self.model.rows if not row.ok)
        verb = "Cancelled after" if cancelled else "Done:"
        if self.total == 0 and not cancelled:
            self.rate.setText(NO_IMAGES)
            self.progress.setRange(0, 1)
            self.progress.setFormat(NO_IMAGES)
        else:
            self.rate.setText(f"{verb} {done} of {self.total} files in {seconds:.1f} s · {errors} not scored")
        if not cancelled:
            self.progress.setValue(self.progress.maximum())
        self._set_exports_enabled()

    def _show_counts(self) -> None:
        """Label the triage groups with their sizes (shown in the Group filter)."""
        counts = {group: 0 for group in GROUP_LABELS}
        for row in self.model.rows:
            counts[triage_group(row)] += 1
        for index, group in ((1, READABLE), (2, UNUSUAL), (3, READ_ERROR)):
            base = self.status_filter.itemText(index).split(" (")[0]
            suffix = " (OOD)" if group == UNUSUAL else ""
            self.status_filter.setItemText(index, f"{base}{suffix} ({counts[group]})")

    def _set_exports_enabled(self) -> None:
        has_rows = bool(self.model.items)
        self.export_csv.setEnabled(has_rows)
        self.export_pdf.setEnabled(has_rows)

    # --- navigation -----------------------------------------------------------------------------
    def path_at(self, index: QModelIndex) -> Path | None:
        value = index.data(PATH_ROLE) if index.isValid() else None
        return Path(value) if value else None

    def select_first(self) -> None:
        if self.proxy.rowCount():
            self.table.selectRow(0)
            self.table.setFocus()

    def _on_table_activated(self, index: QModelIndex) -> None:
        path = self.path_at(index)
        if path is not None:
            self.open_requested.emit(path)

    def _on_table_current_changed(self, current: QModelIndex, _previous: QModelIndex) -> None:
        path = self.path_at(current)
        if path is not None:
            self.current_changed.emit(path)

    def set_identifiers(self, mode: str) -> None:
        self.identifiers.setCurrentIndex(max(0, self.identifiers.findData(mode)))

    @property
    def identifiers_mode(self) -> str:
        return str(self.identifiers.currentData())

    def _on_identifiers_changed(self) -> None:
        self.identifiers_changed.emit(self.identifiers_mode)

    def _on_filter_changed(self) -> None:
        self.proxy.set_filters(
            self.prediction_filter.currentData() or "",
            self.status_filter.currentData() or "",
            self.flag_filter.currentData() or "",
        )
