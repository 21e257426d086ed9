"""The result panel: the finding, a bar per class with its operating threshold, study and model facts.

The "decision support, not a diagnosis" notice is part of this panel and the panel cannot be
collapsed, so the notice is on screen whenever a result is.
"""

from __future__ import annotations

from PyQt5.QtCore import QRectF, QSize, Qt
from PyQt5.QtGui import QColor, QPainter, QPen
from PyQt5.QtWidgets import QFormLayout, QGroupBox, QLabel, QSizePolicy, QVBoxLayout, QWidget

from cxr_desktop.core.decision import NEGATIVE_CLASS, NO_FLAG, display_name, flag_texts
from cxr_desktop.core.film_details import format_dicom_date
from cxr_desktop.core.image import Radiograph
from cxr_desktop.ui import style
from cxr_desktop.ui.worker import ImageScore, ModelInfo

DISCLAIMER = "Decision support, not a diagnosis. A qualified reader must review every image."
THRESHOLD_MEANING = (
    "A class is flagged when its probability reaches its screening threshold (the white tick). The"
    " thresholds are set low, so that about 95 in 100 films with that disease are flagged on the"
    ' validation films: a flag means "look again", and many flagged films are not diseased.'
)
NOT_A_CHEST_FILM = (
    "Not recognised as a frontal chest radiograph: this may be another kind of image, or a rotated,"
    " inverted or cropped film. The probabilities above are unreliable."
)


def ood_verdict(out_of_distribution: bool, warnings: tuple[str, ...]) -> str:
    """Which of the two verdicts applies: not a chest film at all (the OOD gate, or a lateral view),
    or a chest film of a patient outside the population the model was validated on."""
    if out_of_distribution:
        return NOT_A_CHEST_FILM
    for text in warnings:
        if text.startswith("not a frontal chest radiograph"):
            return f"Not a frontal chest radiograph: {text}."
        if text.startswith("outside the population"):
            return f"A chest film, but {text}."
    return ""


class ProbabilityBars(QWidget):
    """One horizontal bar per class; the tick marks the bundle's operating threshold for that class."""

    ROW = 28

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.rows: list[tuple[str, float, float | None, bool]] = []
        self.setSizePolicy(QSizePolicy.Expanding, QSizePolicy.Fixed)

    def set_values(self, rows: list[tuple[str, float, float | None, bool]]) -> None:
        """``rows``: (class, probability, threshold or None, flagged)."""
        self.rows = rows
        self.setFixedHeight(self.sizeHint().height())
        self.setToolTip(
            "\n".join(
                f"{display_name(name)}: {p * 100:.1f}%" + (f" (threshold {t * 100:.0f}%)" if t is not None else "")
                for name, p, t, _ in rows
            )
        )
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802 - Qt override
        return QSize(260, max(1, len(self.rows)) * self.ROW + 4)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return self.sizeHint()

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.Antialiasing)
        metrics = self.fontMetrics()
        label_w = max((metrics.horizontalAdvance(display_name(name)) for name, *_ in self.rows), default=0) + 12
        value_w = metrics.horizontalAdvance("100.0%") + 6
        track_x = label_w
        track_w = max(self.width() - label_w - value_w - 4, 20)
        for index, (name, probability, threshold, is_flagged) in enumerate(self.rows):
            top = index * self.ROW + 4
            painter.setPen(style.TEXT)
            painter.drawText(QRectF(0, top, label_w - 8, 18), Qt.AlignVCenter | Qt.AlignLeft, display_name(name))
            track = QRectF(track_x, top + 4, track_w, 10)
            painter.setPen(Qt.NoPen)
            painter.setBrush(style.TRACK)
            painter.drawRoundedRect(track, 3, 3)
            fill = QRectF(track.left(), track.top(), track.width() * max(0.0, min(probability, 1.0)), track.height())
            painter.setBrush(style.FLAGGED if is_flagged else style.ACCENT)
            painter.drawRoundedRect(fill, 3, 3)
            if threshold is not None:
                x = track.left() + track.width() * threshold
                painter.setPen(QPen(QColor("#f4f6f8"), 2))
                painter.drawLine(int(x), int(track.top() - 4), int(x), int(track.bottom() + 4))
            painter.setPen(style.TEXT)
            painter.drawText(
                QRectF(track.right() + 2, top, value_w, 18),
                Qt.AlignVCenter | Qt.AlignRight,
                f"{probability * 100:.1f}%",
            )
        painter.end()


def _value_label() -> QLabel:
    label = QLabel("—")
    label.setTextInteractionFlags(Qt.TextSelectableByMouse)
    label.setWordWrap(True)
    return label


class ResultPanel(QWidget):
    """Right-hand panel of the viewer; shows whatever the main window tells it, owns no state."""

    def __init__(self, parent=None) -> None:
        super().__init__(parent)
        self.setMinimumWidth(320)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(8)

        self.disclaimer = QLabel(DISCLAIMER)
        self.disclaimer.setObjectName("disclaimer")
        self.disclaimer.setWordWrap(True)
        layout.addWidget(self.disclaimer)

        self.caption = QLabel("Most probable finding")
        self.caption.setObjectName("findingCaption")
        self.finding = QLabel("—")
        self.finding.setObjectName("findingTitle")
        self.flags = QLabel("")
        self.flags.setObjectName("flagsLine")
        self.flags.setWordWrap(True)
        self.finding_detail = QLabel("Open an image to see the model's assessment.")
        self.finding_detail.setObjectName("muted")
        self.finding_detail.setWordWrap(True)
        self.verdict = QLabel("")
        self.verdict.setObjectName("warningText")
        self.verdict.setWordWrap(True)
        self.verdict.hide()
        layout.addWidget(self.caption)
        layout.addWidget(self.finding)
        layout.addWidget(self.flags)
        layout.addWidget(self.finding_detail)
        layout.addWidget(self.verdict)

        self.bars = ProbabilityBars()
        bars_box = QGroupBox("Probabilities")
        bars_layout = QVBoxLayout(bars_box)
        bars_layout.addWidget(self.bars)
        legend = QLabel("White tick: the model's operating threshold. Orange: at or above it (flagged).")
        legend.setObjectName("muted")
        legend.setWordWrap(True)
        bars_layout.addWidget(legend)
        layout.addWidget(bars_box)

        self.heatmap_box = QGroupBox("Heat map (Grad-CAM)")
        layout.addWidget(self.heatmap_box)

        study_box = QGroupBox("Image")
        study = QFormLayout(study_box)
        study.setLabelAlignment(Qt.AlignRight)
        self.fields: dict[str, QLabel] = {}
        for key, title in (
            ("file", "File"),
            ("format", "Format"),
            ("patient", "Patient ID"),
            ("date", "Study date"),
            ("view", "View"),
            ("modality", "Modality"),
        ):
            self.fields[key] = _value_label()
            study.addRow(title, self.fields[key])
        layout.addWidget(study_box)

        model_box = QGroupBox("Model")
        model = QFormLayout(model_box)
        model.setLabelAlignment(Qt.AlignRight)
        for key, title in (("model", "Model"), ("device", "Device"), ("time", "Time")):
            self.fields[key] = _value_label()
            model.addRow(title, self.fields[key])
        layout.addWidget(model_box)
        layout.addStretch(1)

    def set_model(self, info: ModelInfo | None, status: str = "") -> None:
        self.fields["model"].setText(info.title if info is not None else status or "—")
        self.fields["device"].setText(info.device if info is not None else "—")

    def show_radiograph(self, radiograph: Radiograph) -> None:
        """Facts about the file itself, shown as soon as it is read and before it is scored."""
        self.fields["file"].setText(breakable(radiograph.path.name))
        self.fields["file"].setToolTip(f"{radiograph.path}\nsha256 {radiograph.sha256}")
        self.fields["format"].setText(
            f"{radiograph.source_format}, {radiograph.original_size[0]} x {radiograph.original_size[1]},"
            f" {radiograph.bit_depth}-bit"
        )
        info = radiograph.dicom
        self.fields["patient"].setText(info.patient_id or "—" if info else "— (not DICOM)")
        self.fields["date"].setText((format_dicom_date(info.study_date) or "—") if info else "—")
        self.fields["view"].setText((info.view_position or "—") if info else "—")
        self.fields["modality"].setText((info.modality or "—") if info else "—")
        self.show_pending("Scoring…")

    def _show_text(self, finding: str, detail: str) -> None:
        self.finding.setText(finding)
        self.finding_detail.setText(detail)
        self.flags.setText("")
        self.verdict.hide()
        self.bars.set_values([])

    def show_pending(self, text: str) -> None:
        self._show_text("…", text)

    def show_result(self, result: ImageScore) -> None:
        """Headline: the most probable class and its probability; flags beside it; what a flag means."""
        self.finding.setText(f"{display_name(result.prediction)}  {result.probability(result.prediction) * 100:.1f}%")
        flags = flag_texts(result.classes, result.probabilities, result.flagged, result.thresholds)
        self.flags.setText("\n".join(flags) if flags else NO_FLAG.capitalize())
        self.flags.setObjectName("flagsLine" if flags else "muted")
        self.flags.style().unpolish(self.flags)
        self.flags.style().polish(self.flags)
        self.finding_detail.setText(THRESHOLD_MEANING)
        verdict = ood_verdict(result.out_of_distribution, result.warnings)
        self.verdict.setText(verdict)
        self.verdict.setVisible(bool(verdict))
        self.bars.set_values(
            [
                (
                    name,
                    result.probability(name),
                    result.thresholds.get(name) if name != NEGATIVE_CLASS else None,
                    name in result.flagged,
                )
                for name in result.classes
            ]
        )
        self.fields["time"].setText(f"{result.seconds * 1000:.0f} ms")

    def show_failure(self, text: str) -> None:
        self._show_text("Not scored", text)

    def clear(self) -> None:
        self._show_text("—", "Open an image to see the model's assessment.")
        for key in ("file", "format", "patient", "date", "view", "modality", "time"):
            self.fields[key].setText("—")


def breakable(text: str) -> str:
    """Let long file names wrap at separators instead of being cut off."""
    for separator in ("_", "-", "."):
        text = text.replace(separator, separator + "\u200b")
    return text
