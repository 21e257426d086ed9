"""Side-by-side compare of two films (a prior and the current one) with linked zoom and pan.

The link is relative: both views show the same fraction of their film at the same place, so films
of different pixel sizes still line up. The earlier study (by DICOM study date) goes on the left.
"""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtWidgets import QCheckBox, QDialog, QHBoxLayout, QLabel, QSplitter, QVBoxLayout, QWidget

from cxr_desktop.core.film_details import FilmDetails, corner_lines, film_details, format_dicom_date
from cxr_desktop.core.image import Radiograph
from cxr_desktop.core.radiograph import load_radiograph
from cxr_desktop.ui.viewer import RadiographView


def _pane(view: RadiographView, title: QLabel) -> QWidget:
    pane = QWidget()
    layout = QVBoxLayout(pane)
    layout.setContentsMargins(0, 0, 0, 0)
    layout.addWidget(title)
    layout.addWidget(view, 1)
    return pane


class CompareDialog(QDialog):
    """Two viewers; ``link`` keeps the second following the first (and back)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Compare films")
        self.views = (RadiographView(), RadiographView())
        self.titles = (QLabel(), QLabel())
        self.link = QCheckBox("Link zoom and pan")
        self.link.setChecked(True)
        self.link.setToolTip("Zooming or panning one film moves the other to the same place")
        splitter = QSplitter()
        for view, title in zip(self.views, self.titles):
            title.setObjectName("findingCaption")
            splitter.addWidget(_pane(view, title))
        layout = QVBoxLayout(self)
        top = QHBoxLayout()
        top.addWidget(QLabel("Left: earlier study · right: later study (by DICOM study date when known)"), 1)
        top.addWidget(self.link)
        layout.addLayout(top)
        layout.addWidget(splitter, 1)
        self._syncing = False
        for index, view in enumerate(self.views):
            view.view_moved.connect(lambda i=index: self._follow(i))
        self.resize(1400, 820)

    def show_films(self, films: list[tuple[Radiograph, FilmDetails]]) -> None:
        """Two films, earlier study first (undated films keep their order)."""
        ordered = sorted(films, key=lambda film: (film[0].dicom.study_date if film[0].dicom else "") or "~")
        for view, title, (radiograph, details) in zip(self.views, self.titles, ordered):
            view.set_film(details.modality, details.spacing, details.quantised)
            view.set_corners(corner_lines(radiograph, details))
            date = format_dicom_date(radiograph.dicom.study_date) if radiograph.dicom else ""
            title.setText(f"{radiograph.path.name}" + (f" · {date}" if date else ""))

    def _follow(self, leader: int) -> None:
        if self._syncing or not self.link.isChecked():
            return
        source, target = self.views[leader], self.views[1 - leader]
        if source.display is None or target.display is None:
            return
        self._syncing = True
        try:
            src_rect, dst_rect = source.sceneRect(), target.sceneRect()
            relative = source.scale_factor * src_rect.width() / max(dst_rect.width(), 1.0)
            target.set_scale(relative)
            centre = source.mapToScene(source.viewport().rect().center())
            fx = (centre.x() - src_rect.left()) / max(src_rect.width(), 1.0)
            fy = (centre.y() - src_rect.top()) / max(src_rect.height(), 1.0)
            target.centerOn(dst_rect.left() + fx * dst_rect.width(), dst_rect.top() + fy * dst_rect.height())
        finally:
            self._syncing = False


def read_film(path: Path) -> tuple[Radiograph, FilmDetails]:
    """Decode a film for the compare view (raises ``CxrError`` with the reason)."""
    radiograph = load_radiograph(path)
    return radiograph, film_details(radiograph)
