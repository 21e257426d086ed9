"""The batch results table: a Qt model over ``ScreeningRow``s plus a sort/filter proxy.

Rows only ever get appended (in groups, as the worker sends them), so the view stays live while a
folder is screened; thumbnails become pixmaps lazily, only for rows that are painted.
"""

from __future__ import annotations

import math
from pathlib import Path

from PyQt5.QtCore import QAbstractTableModel, QModelIndex, QSortFilterProxyModel, Qt
from PyQt5.QtGui import QBrush, QColor, QPixmap

from cxr_desktop.core.scoring import ScreeningRow
from cxr_desktop.core.triage import GROUP_LABELS, READ_ERROR, READABLE, UNUSUAL, triage_group, triage_key
from cxr_desktop.ui import style
from cxr_desktop.ui.qimage import grey_to_qimage
from cxr_desktop.core.decision import display_name
from cxr_desktop.ui.worker import BatchRow

#: A faint tint per triage group after the first, so the groups read as blocks in the table.
GROUP_BACKGROUNDS = {UNUSUAL: QBrush(QColor(44, 39, 27)), READ_ERROR: QBrush(QColor(46, 29, 31))}
SORT_ROLE = Qt.UserRole
PATH_ROLE = Qt.UserRole + 1


def column_titles(classes: list[str]) -> list[str]:
    """Made once per class list: the view asks for the column count on every row it lays out, and
    rebuilding the titles each time cost ~15 ms per group of rows during a batch."""
    probabilities = [f"P({display_name(c)})" for c in classes]
    return ["", "File", "Group", "Prediction", *probabilities, "Risk", "Warnings / message"]


class ResultsTableModel(QAbstractTableModel):
    """Columns: thumbnail, file, status, prediction, one probability per class, risk, message."""

    def __init__(self, classes: list[str] | None = None, parent=None) -> None:
        super().__init__(parent)
        self.classes: list[str] = list(classes or [])
        self.items: list[BatchRow] = []
        self.root: Path | None = None
        self._pixmaps: dict[int, QPixmap] = {}
        self._headers = column_titles(self.classes)

    # --- content -------------------------------------------------------------------------------
    def reset(self, classes: list[str], root: Path | None) -> None:
        self.beginResetModel()
        self.classes, self.root, self.items = list(classes), root, []
        self._headers = column_titles(self.classes)
        self._pixmaps.clear()
        self.endResetModel()

    def append(self, rows: list[BatchRow]) -> None:
        if not rows:
            return
        start = len(self.items)
        self.beginInsertRows(QModelIndex(), start, start + len(rows) - 1)
        self.items.extend(rows)
        self.endInsertRows()

    @property
    def rows(self) -> list[ScreeningRow]:
        return [item.row for item in self.items]

    def headers(self) -> list[str]:
        return self._headers

    @property
    def risk_column(self) -> int:
        return 4 + len(self.classes)

    @property
    def message_column(self) -> int:
        return 5 + len(self.classes)

    def relative_name(self, path: Path) -> str:
        if self.root is not None and path.is_relative_to(self.root):
            return path.relative_to(self.root).as_posix()
        return path.name

    # --- Qt model API ----------------------------------------------------------------------------
    def rowCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802 - Qt override
        return 0 if parent.isValid() else len(self.items)

    def columnCount(self, parent: QModelIndex = QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.headers())

    def headerData(self, section: int, orientation, role: int = Qt.DisplayRole):  # noqa: N802
        if orientation == Qt.Horizontal and role == Qt.DisplayRole:
            return self.headers()[section]
        if orientation == Qt.Horizontal and role == Qt.ToolTipRole and section == self.risk_column:
            return (
                "Total probability of disease (1 - P(normal)). Sorting by it triages: readable films by risk,"
                " then films flagged as unusual (OOD), then read errors"
            )
        if orientation == Qt.Horizontal and role == Qt.ToolTipRole and section == 2:
            return "Readable film; unusual film (the OOD gate flagged it: scores unreliable); or read error"
        return None

    def data(self, index: QModelIndex, role: int = Qt.DisplayRole):
        if not index.isValid():
            return None
        item = self.items[index.row()]
        row, column = item.row, index.column()
        if role == PATH_ROLE:
            return str(row.path)
        if role == Qt.DecorationRole and column == 0:
            return self._pixmap(index.row(), item)
        if role == Qt.DisplayRole:
            return self._text(row, column)
        if role == SORT_ROLE:
            return self._sort_key(row, column)
        if role == Qt.ToolTipRole:
            if column == 1:
                return f"{row.path}\nsha256 {row.sha256 or '—'}"
            if column == self.message_column and row.message:
                return row.message
        if role == Qt.BackgroundRole and triage_group(row) != READABLE:
            return GROUP_BACKGROUNDS[triage_group(row)]
        if role == Qt.TextAlignmentRole and 4 <= column <= self.risk_column:
            return int(Qt.AlignRight | Qt.AlignVCenter)
        if role == Qt.ForegroundRole:
            if not row.ok and column in (2, self.message_column):
                return QBrush(style.ERROR)
            if row.out_of_distribution and column == 2:
                return QBrush(style.WARNING)
            if row.ok and column == self.message_column and row.message:
                return QBrush(style.WARNING)
            if column == 3 and row.flagged:
                return QBrush(style.FLAGGED)
        return None

    def _pixmap(self, number: int, item: BatchRow) -> QPixmap | None:
        if item.thumbnail is None:
            return None
        if number not in self._pixmaps:
            self._pixmaps[number] = QPixmap.fromImage(grey_to_qimage(item.thumbnail))
        return self._pixmaps[number]

    def _text(self, row: ScreeningRow, column: int) -> str:
        if column == 0:
            return ""
        if column == 1:
            return self.relative_name(row.path)
        if column == 2:
            return GROUP_LABELS[triage_group(row)]
        if column == 3:
            return display_name(row.prediction) if row.prediction else "—"
        if column == self.risk_column:
            return "—" if math.isnan(row.risk) else f"{row.risk:.3f}"
        if column == self.message_column:
            return row.message
        value = row.probabilities.get(self.classes[column - 4])
        return "—" if value is None else f"{value:.3f}"

    def _sort_key(self, row: ScreeningRow, column: int):
        if column in (2, self.risk_column):
            group, negative_risk = triage_key(row)
            return -(group * 10.0 + 1.0 + negative_risk)
        if 4 <= column < self.risk_column:
            return row.probabilities.get(self.classes[column - 4], -1.0)
        return self._text(row, column).lower() if column else ""


GROUP_FILTERS = {
    "": lambda row: True,
    "readable": lambda row: triage_group(row) == READABLE,
    "unusual": lambda row: triage_group(row) == UNUSUAL,
    "error": lambda row: triage_group(row) == READ_ERROR,
    "warning": lambda row: row.ok and bool(row.message),
}


def flag_matches(row: ScreeningRow, flag: str) -> bool:
    """``flag``: "" any row, "*" flagged for some class, "-" flagged for none, else that class."""
    if flag == "*":
        return bool(row.flagged)
    if flag == "-":
        return row.ok and not row.flagged
    return not flag or flag in row.flagged


class ResultsFilter(QSortFilterProxyModel):
    """Sorts on numeric keys (the risk column in triage order) and filters by class, flag and group."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setSortRole(SORT_ROLE)
        self.setDynamicSortFilter(True)
        self.prediction = ""
        self.group = ""
        self.flag = ""

    def set_filters(self, prediction: str, group: str, flag: str = "") -> None:
        self.prediction, self.group, self.flag = prediction, group, flag
        self.invalidateFilter()

    def shown_rows(self) -> list[ScreeningRow]:
        """The rows as the table shows them: filtered, in its current order."""
        model: ResultsTableModel = self.sourceModel()
        return [model.items[self.mapToSource(self.index(r, 0)).row()].row for r in range(self.rowCount())]

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802
        model: ResultsTableModel = self.sourceModel()
        row = model.items[source_row].row
        if self.prediction and row.prediction != self.prediction:
            return False
        return GROUP_FILTERS[self.group](row) and flag_matches(row, self.flag)
