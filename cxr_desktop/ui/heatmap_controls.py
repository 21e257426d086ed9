"""Heat-map controls: show/hide, the class it explains, colormap (incl. colour-blind safe), opacity, colour bar."""

from __future__ import annotations

from PyQt5.QtCore import Qt, pyqtSignal
from PyQt5.QtGui import QPixmap
from PyQt5.QtWidgets import QCheckBox, QComboBox, QFormLayout, QHBoxLayout, QLabel, QSlider, QVBoxLayout, QWidget

from cxr_desktop.core.overlay import COLORMAPS, COLOUR_BLIND_SAFE, colour_bar
from cxr_desktop.ui.qimage import rgb_to_qimage
from cxr_desktop.core.decision import display_name

#: From this share of the heat map outside the lung fields on, the statement is a warning.
OUTSIDE_WARNING = 0.5


LEGEND = (
    "Colour marks where the model found the most evidence for the class it explains, from low (left)"
    " to high (right), relative to this film: not a probability and not the outline of a lesion."
)


def colormap_label(name: str) -> str:
    return f"{name.capitalize()} (colour-blind safe)" if name in COLOUR_BLIND_SAFE else name.capitalize()


class ColourBar(QWidget):
    """A horizontal colour bar: what the overlay colours mean (low to high model attention)."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.low, self.high = QLabel("low"), QLabel("high")
        for label in (self.low, self.high):
            label.setObjectName("muted")
        self.ramp = QLabel()
        self.ramp.setMinimumHeight(12)
        self.ramp.setScaledContents(True)
        layout.addWidget(self.low)
        layout.addWidget(self.ramp, 1)
        layout.addWidget(self.high)

    def set_colormap(self, name: str) -> None:
        vertical = colour_bar(name, length=256, thickness=12)
        horizontal = vertical[::-1].transpose(1, 0, 2).copy()
        self.ramp.setPixmap(QPixmap.fromImage(rgb_to_qimage(horizontal)))


class HeatmapControls(QWidget):
    """Emits ``changed`` whenever anything that affects the overlay's look changes."""

    changed = pyqtSignal()

    def __init__(self, colormap: str, opacity: float, parent=None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        self.visible = QCheckBox("Show heat map  (H)")
        self.visible.setChecked(True)
        layout.addWidget(self.visible)
        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignRight)
        self.target = QComboBox()
        self.target.setToolTip("Which class the heat map explains (defaults to the predicted finding)")
        self.colormap = QComboBox()
        for name in COLORMAPS:
            self.colormap.addItem(colormap_label(name), name)
        self.colormap.setCurrentIndex(max(0, self.colormap.findData(colormap)))
        self.opacity = QSlider(Qt.Horizontal)
        self.opacity.setRange(0, 100)
        self.opacity.setValue(int(round(opacity * 100)))
        self.opacity.setToolTip("Overlay opacity")
        form.addRow("Explains", self.target)
        form.addRow("Colours", self.colormap)
        form.addRow("Opacity", self.opacity)
        layout.addLayout(form)
        self.bar = ColourBar()
        self.bar.set_colormap(colormap)
        layout.addWidget(self.bar)
        self.legend = QLabel(LEGEND)
        self.legend.setObjectName("muted")
        self.legend.setWordWrap(True)
        layout.addWidget(self.legend)
        self.lungs = QCheckBox("Tone down colour outside the lung fields")
        self.lungs.setChecked(True)
        self.lungs.setToolTip(
            "Colour outside where lungs usually lie (a mean of 517 hand-drawn lung masks) is shown at a"
            " quarter of its strength, so labels, markers and borders do not carry it. The share of the"
            " map that lay outside is stated below either way."
        )
        layout.addWidget(self.lungs)
        self.outside = QLabel("")
        self.outside.setWordWrap(True)
        self.outside.setTextInteractionFlags(Qt.TextSelectableByMouse)
        layout.addWidget(self.outside)
        self.visible.toggled.connect(self._on_control_changed)
        self.target.currentIndexChanged.connect(self._on_control_changed)
        self.colormap.currentIndexChanged.connect(self._on_colormap_changed)
        self.opacity.valueChanged.connect(self._on_control_changed)
        self.lungs.toggled.connect(self._on_control_changed)

    def set_classes(self, classes: list[str], selected: str) -> None:
        """Refill the class choice without emitting ``changed`` for each item."""
        self.target.blockSignals(True)
        self.target.clear()
        for name in classes:
            self.target.addItem(display_name(name), name)
        self.target.setCurrentIndex(max(0, self.target.findData(selected)))
        self.target.blockSignals(False)

    @property
    def selected_class(self) -> str | None:
        return self.target.currentData()

    @property
    def selected_colormap(self) -> str:
        return str(self.colormap.currentData())

    @property
    def tone_down_outside(self) -> bool:
        return self.lungs.isChecked()

    def set_outside_share(self, share: float | None, explained: str, even: float = 0.0) -> None:
        """Say how much of the map lay outside the lung fields (None: no prior, or nothing scored);
        ``even``: the share a map spread evenly over the film would have, for scale."""
        if share is None:
            self.outside.setText("")
            return
        self.outside.setObjectName("warningText" if share >= OUTSIDE_WARNING else "muted")
        self.outside.style().unpolish(self.outside)
        self.outside.style().polish(self.outside)
        text = (
            f"{share * 100:.0f}% of the {explained} heat map lies outside the usual lung fields"
            " (a mean outline of 517 films, not this film's own lungs;"
            f" a map spread evenly would have {even * 100:.0f}%)"
        )
        if share >= OUTSIDE_WARNING:
            text += ": the model may have looked at labels, markers, borders or the abdomen"
        self.outside.setText(text + ".")

    @property
    def opacity_value(self) -> float:
        return self.opacity.value() / 100.0

    def _on_colormap_changed(self) -> None:
        self.bar.set_colormap(self.selected_colormap)
        self.changed.emit()

    def _on_control_changed(self) -> None:
        self.changed.emit()
