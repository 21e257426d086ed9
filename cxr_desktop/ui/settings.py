"""Typed access to the QSettings the window remembers between runs.

Everything persisted goes through here, so tests can hand the window a settings object backed by
a private INI file and never touch the user's own settings.
"""

from __future__ import annotations

from pathlib import Path

from PyQt5.QtCore import QByteArray, QSettings

from cxr_desktop.core.bundle import DEFAULT_MODEL
from cxr_desktop.core.overlay import COLORMAPS, DEFAULT_COLORMAP
from cxr_desktop.core.privacy import IDENTIFIER_MODES

ORGANISATION = "CXR Desktop"
APPLICATION = "CXR Desktop"
MAX_RECENT = 10


class AppSettings:
    """Last folder, chosen model, overlay opacity and colormap, window geometry, recent files."""

    def __init__(self, store: QSettings | None = None) -> None:
        self.store = (
            store
            if store is not None
            else QSettings(QSettings.IniFormat, QSettings.UserScope, ORGANISATION, APPLICATION)
        )

    @classmethod
    def at(cls, ini_file: str | Path) -> "AppSettings":
        """Settings kept in one INI file (tests, portable installs)."""
        return cls(QSettings(str(ini_file), QSettings.IniFormat))

    def _get(self, key: str, default, kind):
        value = self.store.value(key, default)
        try:
            return kind(value)
        except (TypeError, ValueError):
            return default

    @property
    def last_folder(self) -> str:
        return self._get("paths/last_folder", str(Path.home()), str)

    @last_folder.setter
    def last_folder(self, folder: str) -> None:
        self.store.setValue("paths/last_folder", folder)

    @property
    def model(self) -> str:
        return self._get("model/name", DEFAULT_MODEL, str) or DEFAULT_MODEL

    @model.setter
    def model(self, name: str) -> None:
        self.store.setValue("model/name", name)

    @property
    def overlay_opacity(self) -> float:
        return min(max(self._get("overlay/opacity", 0.45, float), 0.0), 1.0)

    @overlay_opacity.setter
    def overlay_opacity(self, value: float) -> None:
        self.store.setValue("overlay/opacity", float(value))

    @property
    def colormap(self) -> str:
        name = self._get("overlay/colormap", DEFAULT_COLORMAP, str)
        return name if name in COLORMAPS else DEFAULT_COLORMAP

    @colormap.setter
    def colormap(self, name: str) -> None:
        self.store.setValue("overlay/colormap", name)

    @property
    def export_identifiers(self) -> str:
        """What the exported CSV's path column holds; pseudonymised unless the user chose otherwise."""
        mode = self._get("export/identifiers", "pseudonymise", str)
        return mode if mode in IDENTIFIER_MODES else "pseudonymise"

    @export_identifiers.setter
    def export_identifiers(self, mode: str) -> None:
        self.store.setValue("export/identifiers", mode)

    @property
    def geometry(self) -> QByteArray | None:
        value = self.store.value("window/geometry")
        return value if isinstance(value, QByteArray) and not value.isEmpty() else None

    @geometry.setter
    def geometry(self, value: QByteArray) -> None:
        self.store.setValue("window/geometry", value)

    @property
    def recent_files(self) -> list[str]:
        value = self.store.value("paths/recent", [])
        if isinstance(value, str):
            value = [value]
        return [str(item) for item in (value or [])][:MAX_RECENT]

    def add_recent(self, path: str) -> list[str]:
        recent = [path, *[item for item in self.recent_files if item != path]][:MAX_RECENT]
        self.store.setValue("paths/recent", recent)
        return recent

    def sync(self) -> None:
        self.store.sync()
