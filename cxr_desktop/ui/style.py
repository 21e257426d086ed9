"""The application's look: a calm dark theme (reading rooms are dim) with one accent colour.

Colours are named for their meaning, so every widget that signals "flagged" or "refused" uses
the same one.
"""

from __future__ import annotations

from PyQt5.QtGui import QColor, QIcon, QPalette
from PyQt5.QtWidgets import QApplication, QStyleFactory

from cxr_desktop.core.resources import resource_path

ICONS_DIR = resource_path("icons")

BACKGROUND = QColor("#1c2026")
PANEL = QColor("#232830")
BASE = QColor("#171a1f")
TEXT = QColor("#dbe1e8")
MUTED = QColor("#8c97a4")
ACCENT = QColor("#3aa6b9")
FLAGGED = QColor("#e39a3b")
WARNING = QColor("#e0b04a")
ERROR = QColor("#e0605a")
TRACK = QColor("#313844")

STYLESHEET = f"""
QMainWindow, QDialog {{ background: {BACKGROUND.name()}; }}
QToolBar {{ background: {PANEL.name()}; border: none; border-bottom: 1px solid #2d333c; spacing: 2px;
           padding: 3px; }}
QToolButton {{ color: {TEXT.name()}; border-radius: 4px; padding: 4px; }}
QToolButton:hover {{ background: #2f3641; }}
QToolButton:checked {{ background: #2a4a52; }}
QToolButton:disabled {{ color: #59626d; }}
QStatusBar {{ background: {PANEL.name()}; color: {MUTED.name()}; border-top: 1px solid #2d333c; }}
QStatusBar QLabel {{ color: {MUTED.name()}; padding: 0 6px; }}
QGroupBox {{ color: {MUTED.name()}; border: 1px solid #2f3640; border-radius: 6px; margin-top: 14px;
            padding: 8px 8px 6px 8px; font-weight: 600; }}
QGroupBox::title {{ subcontrol-origin: margin; left: 10px; padding: 0 4px; }}
QLabel#findingTitle {{ color: {TEXT.name()}; font-size: 20pt; font-weight: 600; }}
QLabel#findingCaption, QLabel#muted {{ color: {MUTED.name()}; }}
QLabel#warningText {{ color: {WARNING.name()}; }}
QLabel#flagsLine {{ color: {FLAGGED.name()}; font-weight: 600; }}
QLabel#disclaimer {{ color: #f1d9a8; background: #3a2f1c; border: 1px solid #6b5426; border-radius: 5px;
                    padding: 6px 8px; font-weight: 600; }}
QFrame#banner[severity="error"] {{ background: #4a2224; border-bottom: 1px solid #7d3a3c; }}
QFrame#banner[severity="warning"] {{ background: #43391f; border-bottom: 1px solid #7a6429; }}
QFrame#banner QLabel {{ color: {TEXT.name()}; }}
QTableView {{ background: {BASE.name()}; alternate-background-color: #1d2128; gridline-color: #2a3038;
             selection-background-color: #2b5560; selection-color: {TEXT.name()}; border: none; }}
QHeaderView::section {{ background: {PANEL.name()}; color: {MUTED.name()}; border: none;
                       border-right: 1px solid #2d333c; border-bottom: 1px solid #2d333c; padding: 4px 6px; }}
QProgressBar {{ background: {BASE.name()}; border: 1px solid #2f3640; border-radius: 4px; text-align: center;
               color: {TEXT.name()}; min-height: 16px; }}
QProgressBar::chunk {{ background: {ACCENT.name()}; border-radius: 3px; }}
QSplitter::handle {{ background: #2a3038; }}
QComboBox, QLineEdit, QDoubleSpinBox {{ background: {BASE.name()}; color: {TEXT.name()}; border: 1px solid #343b46;
                       border-radius: 4px; padding: 3px 6px; }}
QPushButton {{ background: #2d343e; color: {TEXT.name()}; border: 1px solid #3a424e; border-radius: 4px;
              padding: 4px 12px; }}
QPushButton:hover {{ background: #36404c; }}
QPushButton:disabled {{ color: #5d6671; }}
QSlider::groove:horizontal {{ height: 4px; background: {TRACK.name()}; border-radius: 2px; }}
QSlider::handle:horizontal {{ background: {ACCENT.name()}; width: 14px; margin: -6px 0; border-radius: 7px; }}
QTextBrowser {{ background: {BASE.name()}; color: {TEXT.name()}; border: 1px solid #2f3640; }}
"""


def icon(name: str) -> QIcon:
    """One of the project's own SVG icons from ``resources/icons``."""
    return QIcon(str(ICONS_DIR / f"{name}.svg"))


def apply_theme(app: QApplication) -> None:
    app.setStyle(QStyleFactory.create("Fusion"))
    palette = QPalette()
    palette.setColor(QPalette.Window, BACKGROUND)
    palette.setColor(QPalette.WindowText, TEXT)
    palette.setColor(QPalette.Base, BASE)
    palette.setColor(QPalette.AlternateBase, PANEL)
    palette.setColor(QPalette.Text, TEXT)
    palette.setColor(QPalette.Button, PANEL)
    palette.setColor(QPalette.ButtonText, TEXT)
    palette.setColor(QPalette.ToolTipBase, PANEL)
    palette.setColor(QPalette.ToolTipText, TEXT)
    palette.setColor(QPalette.Highlight, QColor("#2b5560"))
    palette.setColor(QPalette.HighlightedText, TEXT)
    palette.setColor(QPalette.Link, ACCENT)
    palette.setColor(QPalette.PlaceholderText, MUTED)
    for role in (QPalette.WindowText, QPalette.Text, QPalette.ButtonText):
        palette.setColor(QPalette.Disabled, role, QColor("#5d6671"))
    app.setPalette(palette)
    app.setStyleSheet(STYLESHEET)
