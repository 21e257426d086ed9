"""The Model menu: the bundled models, a bundle folder chosen by the user, and which one is current.

The menu only says which model the user asked for (``model_chosen``); loading it, and what the
window shows while it loads or when it fails, stays with ``MainWindow.load_model``.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PyQt5.QtCore import QObject, pyqtSignal
from PyQt5.QtWidgets import QAction, QActionGroup, QFileDialog, QMenu, QWidget

from cxr_desktop.core.bundle import BUNDLED_MODELS
from cxr_desktop.ui import style


class ModelMenu(QObject):
    """Fills a ``QMenu`` with one checkable entry per bundled model plus the last custom bundle."""

    model_chosen = pyqtSignal(str)

    def __init__(self, menu: QMenu, window: QWidget, last_folder: Callable[[], str]) -> None:
        super().__init__(window)
        self._window = window
        self._last_folder = last_folder
        self.group = QActionGroup(window)
        self.actions: dict[str, QAction] = {}
        for name in BUNDLED_MODELS:
            action = QAction(name, window, checkable=True)
            action.setData(name)
            action.setStatusTip(f"Use the bundled model {name}")
            self.group.addAction(action)
            menu.addAction(action)
            self.actions[name] = action
        self.custom_action = QAction("", window, checkable=True)
        self.custom_action.setVisible(False)
        self.group.addAction(self.custom_action)
        menu.addAction(self.custom_action)
        self.group.triggered.connect(self._on_group_triggered)
        menu.addSeparator()
        self.folder_action = QAction(style.icon("model"), "Open model &bundle folder…", window)
        self.folder_action.setStatusTip("Use any model bundle folder")
        self.folder_action.triggered.connect(self._on_folder_action_triggered)
        window.addAction(self.folder_action)
        menu.addAction(self.folder_action)

    def check(self, model: str) -> None:
        """Tick the entry of ``model``; a bundle folder gets the custom entry, named after it."""
        action = self.actions.get(model)
        if action is None:
            self.custom_action.setText(f"Bundle: {Path(model).name}")
            self.custom_action.setData(model)
            self.custom_action.setVisible(True)
            action = self.custom_action
        action.setChecked(True)

    def set_enabled(self, enabled: bool) -> None:
        """Switching models is refused while a batch runs (its rows would mix two models)."""
        for action in (*self.actions.values(), self.custom_action, self.folder_action):
            action.setEnabled(enabled)

    def _on_group_triggered(self, action: QAction) -> None:
        self.model_chosen.emit(str(action.data()))

    def _on_folder_action_triggered(self) -> None:
        folder = QFileDialog.getExistingDirectory(self._window, "Choose a model bundle folder", self._last_folder())
        if folder:
            self.model_chosen.emit(folder)
