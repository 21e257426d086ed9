"""Per-user folders for the application's own files (log, audit trail, settings-adjacent data)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

APP_NAME = "cxr-desktop"


def user_data_dir() -> Path:
    """$CXR_HOME, else the platform's per-user data folder (XDG on Linux)."""
    override = os.environ.get("CXR_HOME")
    if override:
        return Path(override)
    if sys.platform == "win32":
        base = Path(os.environ.get("LOCALAPPDATA", Path.home() / "AppData" / "Local"))
    elif sys.platform == "darwin":
        base = Path.home() / "Library" / "Application Support"
    else:
        base = Path(os.environ.get("XDG_DATA_HOME", Path.home() / ".local" / "share"))
    return base / APP_NAME


def log_file() -> Path:
    return user_data_dir() / "cxr-desktop.log"
