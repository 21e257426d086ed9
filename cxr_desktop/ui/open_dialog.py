"""The open dialog: lists images by suffix and also DICOM files without one (as PACS exports write).

A name filter cannot match "no extension", so the dialog's proxy model decides per file: a known
image suffix, or no suffix and a DICOM header (the 128-byte preamble then "DICM", or a raw
data set; ``core.radiograph.is_image`` sniffs the first bytes).
"""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import QModelIndex, QSortFilterProxyModel
from PyQt5.QtWidgets import QFileDialog, QFileSystemModel, QWidget

from cxr_desktop.core.radiograph import IMAGE_SUFFIXES, is_image

IMAGE_FILTER = "Images and DICOM, with or without extension (*)"
ALL_FILES = "All files (*)"


class ImageFileFilter(QSortFilterProxyModel):
    """Folders, files with an image suffix and extension-less files that sniff as an image."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.show_all = False
        self._sniffed: dict[str, bool] = {}

    def filterAcceptsRow(self, source_row: int, source_parent: QModelIndex) -> bool:  # noqa: N802
        model: QFileSystemModel = self.sourceModel()
        index = model.index(source_row, 0, source_parent)
        if self.show_all or model.isDir(index):
            return True
        path = Path(model.filePath(index))
        if path.suffix.lower() in IMAGE_SUFFIXES:
            return True
        if path.suffix:
            return False
        key = str(path)
        if key not in self._sniffed:
            self._sniffed[key] = is_image(path)
        return self._sniffed[key]


def open_image_dialog(parent: QWidget | None, folder: str) -> QFileDialog:
    """A Qt (not native) file dialog, because only it can take a proxy model."""
    dialog = QFileDialog(parent, "Open radiograph", folder)
    dialog.setObjectName("openImageDialog")
    dialog.setOption(QFileDialog.DontUseNativeDialog, True)
    dialog.setFileMode(QFileDialog.ExistingFile)
    dialog.setNameFilters([IMAGE_FILTER, ALL_FILES])
    proxy = ImageFileFilter(dialog)
    dialog.setProxyModel(proxy)

    def on_filter_selected(name: str) -> None:
        proxy.show_all = name == ALL_FILES
        proxy.invalidateFilter()

    dialog.filterSelected.connect(on_filter_selected)
    return dialog
