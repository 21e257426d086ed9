"""PDF reports drawn with matplotlib (no Qt): a one-page image report and a batch summary.

Both are written through ``atomic_path``, so a reader never opens half a PDF. The figures are
built with ``matplotlib.figure.Figure`` directly, never pyplot, so nothing here touches a GUI
backend or global state and it is safe to call from any thread.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Callable

import cv2
import numpy as np

from cxr_desktop.core.atomic import atomic_path
from cxr_desktop.core.decision import NEGATIVE_CLASS, display_name, finding_detail
from cxr_desktop.core.privacy import display_path, path_labeller
from cxr_desktop.core.scoring import ScreeningRow

DISCLAIMER = (
    "Decision support, not a diagnosis. This output was produced by a machine-learning model and must be"
    " reviewed by a qualified reader together with the clinical context. Heat maps show where the model"
    " looked, not where disease is."
)
A4_PORTRAIT = (8.27, 11.69)
A4_LANDSCAPE = (11.69, 8.27)
MAX_REPORT_PIXELS = 1400
BAR_COLOUR, FLAG_COLOUR = "#2f8fa0", "#d9822b"
TABLE_ROWS_PER_PAGE = 32


@dataclass(frozen=True)
class ImageReport:
    """Everything the one-page report shows; the caller decides which class the heat map explains."""

    path: Path
    sha256: str
    image: np.ndarray
    overlay: np.ndarray
    classes: list[str]
    probabilities: list[float]
    thresholds: dict[str, float]
    prediction: str
    flagged: list[str]
    explained_class: str
    model_title: str
    device: str
    warnings: tuple[str, ...] = ()
    study: dict[str, str] = field(default_factory=dict)
    generated: datetime = field(default_factory=lambda: datetime.now().astimezone())


def _shrink(image: np.ndarray) -> np.ndarray:
    """Keep the PDF small: the page cannot show more than ~1400 px across anyway."""
    height, width = image.shape[:2]
    scale = MAX_REPORT_PIXELS / max(height, width)
    if scale >= 1.0:
        return image
    return cv2.resize(image, (int(width * scale), int(height * scale)), interpolation=cv2.INTER_AREA)


def _figure(size: tuple[float, float]):
    from matplotlib.figure import Figure

    return Figure(figsize=size)


def _save(figure, target: Path) -> Path:
    target = Path(target)
    with atomic_path(target) as tmp:
        figure.savefig(tmp, format="pdf", metadata={"Creator": "CXR Desktop"})
    return target


def write_image_report(target: str | Path, report: ImageReport) -> Path:
    """One A4 page: header, image and overlay side by side, probabilities with thresholds, provenance."""
    fig = _figure(A4_PORTRAIT)
    fig.text(0.06, 0.965, "Chest radiograph — model assessment", fontsize=15, weight="bold")
    fig.text(
        0.06,
        0.945,
        f"Generated {report.generated:%Y-%m-%d %H:%M %Z}  ·  {report.model_title}  ·  {report.device}",
        fontsize=8.5,
        color="#444444",
    )
    fig.text(
        0.06,
        0.915,
        f"Most probable: {display_name(report.prediction)}"
        f" ({report.probabilities[report.classes.index(report.prediction)] * 100:.1f}%)",
        fontsize=13,
        weight="bold",
        color=FLAG_COLOUR if report.flagged else "#1f5f6b",
    )
    fig.text(
        0.06,
        0.898,
        finding_detail(report.classes, report.probabilities, report.prediction, report.flagged, report.thresholds),
        fontsize=9,
        color="#444444",
    )
    for column, (title, picture) in enumerate(
        (
            ("Image", report.image),
            (f"Grad-CAM: {display_name(report.explained_class)}", report.overlay),
        )
    ):
        axes = fig.add_axes((0.06 + column * 0.45, 0.51, 0.43, 0.36))
        axes.imshow(_shrink(picture), cmap="gray" if picture.ndim == 2 else None, vmin=0, vmax=255)
        axes.set_title(title, fontsize=10)
        axes.set_xticks([])
        axes.set_yticks([])
    bars = fig.add_axes((0.22, 0.38, 0.68, 0.11))
    values = [p * 100 for p in report.probabilities]
    positions = np.arange(len(report.classes))[::-1]
    colours = [FLAG_COLOUR if name in report.flagged else BAR_COLOUR for name in report.classes]
    bars.barh(positions, values, color=colours, height=0.55)
    for position, name, value in zip(positions, report.classes, values):
        bars.text(min(value + 1.5, 92), position, f"{value:.1f}%", va="center", fontsize=8.5)
        threshold = report.thresholds.get(name)
        if threshold is not None and name != NEGATIVE_CLASS:
            bars.plot([threshold * 100] * 2, [position - 0.38, position + 0.38], color="#222222", lw=1.6)
    bars.set_yticks(positions, [display_name(name) for name in report.classes], fontsize=9)
    bars.set_xlim(0, 100)
    bars.set_xlabel("probability (%) — black tick: operating threshold", fontsize=8)
    bars.tick_params(axis="x", labelsize=8)
    for side in ("top", "right"):
        bars.spines[side].set_visible(False)
    lines = [f"File: {display_path(report.path.name)}", f"SHA-256: {report.sha256}"]
    lines += [f"{key}: {value}" for key, value in report.study.items() if value]
    if report.warnings:
        lines += [f"Warning: {text}" for text in report.warnings]
    fig.text(0.06, 0.32, "\n".join(lines), fontsize=8.5, va="top", family="monospace", wrap=True)
    fig.text(
        0.06,
        0.05,
        DISCLAIMER,
        fontsize=8.5,
        va="bottom",
        wrap=True,
        color="#7a4b00",
        bbox={"facecolor": "#fff4df", "edgecolor": "#d9a64a", "boxstyle": "round,pad=0.6"},
    )
    return _save(fig, Path(target))


def _summary_lines(rows: list[ScreeningRow], classes: list[str]) -> list[str]:
    scored = [row for row in rows if row.ok]
    lines = [f"Files: {len(rows)}   scored: {len(scored)}   not scored: {len(rows) - len(scored)}"]
    counts = {name: sum(1 for row in scored if row.prediction == name) for name in classes}
    lines.append("Predictions: " + ",  ".join(f"{display_name(n)} {c}" for n, c in counts.items()))
    warned = sum(1 for row in scored if row.message)
    lines.append(f"Scored with warnings: {warned}")
    return lines


def write_batch_summary(
    target: str | Path,
    rows: list[ScreeningRow],
    classes: list[str],
    *,
    model_title: str,
    folder: Path | None,
    complete: bool,
    generated: datetime | None = None,
    identifiers: str = "keep",
    key: bytes | None = None,
) -> Path:
    """A summary page (counts, risk histogram) followed by the table, most suspicious first.

    ``identifiers`` names the films as the CSV's path column does ("keep", "pseudonymise", "omit");
    in the last two the folder's path is withheld too, since folder names hold patient names.
    """
    from matplotlib.backends.backend_pdf import PdfPages

    generated = generated or datetime.now().astimezone()
    ordered = sorted(rows, key=lambda row: -1.0 if math.isnan(row.risk) else row.risk, reverse=True)
    target = Path(target)
    with atomic_path(target) as tmp, PdfPages(tmp, metadata={"Creator": "CXR Desktop"}) as pdf:
        fig = _figure(A4_LANDSCAPE)
        fig.text(0.05, 0.93, "Folder screening summary", fontsize=16, weight="bold")
        status = "complete" if complete else "INCOMPLETE (cancelled): only the files listed were scored"
        header = [
            f"Folder: {display_path(folder) if identifiers == 'keep' else '(withheld)'}" if folder else "",
            f"Model: {model_title}",
            f"Generated: {generated:%Y-%m-%d %H:%M %Z}",
            f"Run: {status}",
        ]
        fig.text(0.05, 0.89, "\n".join(line for line in header if line), fontsize=9.5, va="top")
        fig.text(0.05, 0.74, "\n".join(_summary_lines(rows, classes)), fontsize=10.5, va="top")
        axes = fig.add_axes((0.08, 0.2, 0.55, 0.38))
        risks = [row.risk for row in rows if row.ok and not math.isnan(row.risk)]
        axes.hist(risks, bins=20, range=(0, 1), color=BAR_COLOUR)
        axes.set_xlabel("risk (1 - P(normal))")
        axes.set_ylabel("images")
        axes.set_title("Distribution of risk", fontsize=10)
        fig.text(0.05, 0.05, DISCLAIMER, fontsize=8.5, wrap=True, color="#7a4b00")
        pdf.savefig(fig)
        for start in range(0, max(len(ordered), 1), TABLE_ROWS_PER_PAGE):
            page = ordered[start : start + TABLE_ROWS_PER_PAGE]
            pdf.savefig(_table_page(page, classes, _namer(identifiers, key, folder), start))
    return target


def _namer(identifiers: str, key: bytes | None, folder: Path | None) -> Callable[[Path], str]:
    """The table's file column: the path below the folder, or the CSV's pseudonym, or nothing."""
    if identifiers != "keep":
        label = path_labeller(identifiers, key)
        return lambda path: label(path) or "(omitted)"
    return lambda path: display_path(
        path.relative_to(folder).as_posix() if folder and path.is_relative_to(folder) else path.name
    )


def _table_page(rows: list[ScreeningRow], classes: list[str], name_of: Callable[[Path], str], start: int):
    fig = _figure(A4_LANDSCAPE)
    axes = fig.add_axes((0.03, 0.04, 0.94, 0.88 * (len(rows) + 1) / (TABLE_ROWS_PER_PAGE + 1) if rows else 0.88))
    axes.set_position((0.03, 0.92 - axes.get_position().height, 0.94, axes.get_position().height))
    axes.axis("off")
    columns = ["#", "file", "status", "prediction", *[f"P({display_name(c)})" for c in classes], "risk", "message"]
    cells = []
    for offset, row in enumerate(rows):
        name = name_of(row.path)
        cells.append(
            [
                str(start + offset + 1),
                _clip(name, 48),
                row.status,
                display_name(row.prediction) if row.prediction else "",
                *[f"{row.probabilities[c]:.3f}" if c in row.probabilities else "" for c in classes],
                "" if math.isnan(row.risk) else f"{row.risk:.3f}",
                _clip(row.message, 60),
            ]
        )
    if cells:
        weights = [0.04, 0.30, 0.06, 0.09, *[0.075] * len(classes), 0.06, 0.0]
        weights[-1] = max(1.0 - sum(weights), 0.12)
        table = axes.table(cellText=cells, colLabels=columns, bbox=(0, 0, 1, 1), cellLoc="left", colWidths=weights)
        table.auto_set_font_size(False)
        table.set_fontsize(7)
    fig.text(
        0.03,
        0.965,
        f"Results, most suspicious first (rows {start + 1}–{start + len(rows)})",
        fontsize=10,
        weight="bold",
    )
    return fig


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"
