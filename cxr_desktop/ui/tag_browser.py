"""The DICOM tag browser: every header element of the open film, searchable by tag, name or value."""

from __future__ import annotations

from PyQt5.QtWidgets import (
    QDialog,
    QDialogButtonBox,
    QLabel,
    QLineEdit,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from cxr_desktop.core.film_details import TagRow


class TagBrowser(QDialog):
    """Lists ``TagRow``s; typing in the search box keeps the rows whose tag, keyword or value match."""

    def __init__(self, title: str, rows: tuple[TagRow, ...], parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"DICOM tags — {title}")
        layout = QVBoxLayout(self)
        self.search = QLineEdit()
        self.search.setPlaceholderText("Search tag, name or value (e.g. 0028, Spacing, PA)")
        self.search.setClearButtonEnabled(True)
        layout.addWidget(self.search)
        self.tree = QTreeWidget()
        self.tree.setHeaderLabels(["Tag", "Name", "VR", "Value"])
        self.tree.setRootIsDecorated(False)
        self.tree.setAlternatingRowColors(True)
        self.tree.setUniformRowHeights(True)
        for row in rows:
            item = QTreeWidgetItem(["  " * row.depth + row.tag, row.keyword, row.vr, row.value])
            item.setToolTip(3, row.value)
            self.tree.addTopLevelItem(item)
        for column, width in enumerate((130, 240, 44)):
            self.tree.setColumnWidth(column, width)
        layout.addWidget(self.tree, 1)
        self.count = QLabel()
        self.count.setObjectName("muted")
        layout.addWidget(self.count)
        if not rows:
            self.count.setText("This file is not DICOM: it has no header tags.")
        buttons = QDialogButtonBox(QDialogButtonBox.Close)
        buttons.rejected.connect(self.reject)
        layout.addWidget(buttons)
        self.search.textChanged.connect(self._on_search_text_changed)
        self._on_search_text_changed("")
        self.resize(860, 620)

    def visible_rows(self) -> list[QTreeWidgetItem]:
        items = (self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount()))
        return [item for item in items if not item.isHidden()]

    def _on_search_text_changed(self, text: str) -> None:
        needle = text.strip().lower().replace("(", "").replace(")", "")
        for index in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(index)
            haystack = " ".join(item.text(c) for c in range(4)).lower().replace("(", "").replace(")", "")
            item.setHidden(bool(needle) and needle not in haystack)
        total = self.tree.topLevelItemCount()
        if total:
            self.count.setText(f"{len(self.visible_rows())} of {total} elements")
