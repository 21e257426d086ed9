"""Start the desktop application: high-DPI setup, theme, the main window, then the event loop.

The window is shown before TensorFlow is imported: the engine worker loads the model in its own
thread while the status bar says "Loading model…".
"""

from __future__ import annotations

import sys
from pathlib import Path

from PyQt5.QtCore import QCoreApplication, Qt
from PyQt5.QtWidgets import QApplication

from cxr_desktop.ui import style
from cxr_desktop.ui.main_window import MainWindow
from cxr_desktop.ui.qt_platform import disable_gl_integration
from cxr_desktop.ui.settings import APPLICATION, ORGANISATION, AppSettings


def enable_high_dpi() -> None:
    """Must run before the QApplication exists, or Qt ignores it."""
    QCoreApplication.setAttribute(Qt.AA_EnableHighDpiScaling, True)
    QCoreApplication.setAttribute(Qt.AA_UseHighDpiPixmaps, True)


def create_application(argv: list[str] | None = None) -> QApplication:
    app = QApplication.instance()
    if app is None:
        enable_high_dpi()
        disable_gl_integration()
        app = QApplication(argv if argv is not None else sys.argv[:1])
    app.setOrganizationName(ORGANISATION)
    app.setApplicationName(APPLICATION)
    app.setWindowIcon(style.icon("app"))
    style.apply_theme(app)
    return app


def run_app(paths: list[Path], model: str | None) -> int:
    """Entry point used by ``cxr-desktop`` with no sub-command; returns the process exit code."""
    app = create_application()
    window = MainWindow(AppSettings(), model=str(model) if model else None)
    window.show()
    window.open_paths([Path(path) for path in paths])
    return app.exec_()
