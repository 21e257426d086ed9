"""Where the application's shipped files are, from a source checkout and from the frozen app alike.

A PyInstaller build unpacks data next to the code in ``sys._MEIPASS`` (the one-folder build's
``_internal``), so a path computed from ``__file__`` of some module is fragile; every reader of
``resources/`` goes through these functions instead.
"""

from __future__ import annotations

import sys
from pathlib import Path


def is_frozen() -> bool:
    """True inside a PyInstaller build."""
    return bool(getattr(sys, "frozen", False) and getattr(sys, "_MEIPASS", None))


def app_root() -> Path:
    """The folder holding ``resources/`` and ``models/``: the frozen data folder or the checkout."""
    if is_frozen():
        return Path(getattr(sys, "_MEIPASS"))  # set by the PyInstaller bootloader only
    return Path(__file__).resolve().parents[2]


def resources_dir() -> Path:
    return app_root() / "resources"


def resource_path(*parts: str) -> Path:
    """A path inside ``resources/`` (it may not exist: callers say what is missing)."""
    return resources_dir().joinpath(*parts)


def samples_dir() -> Path:
    return resource_path("samples")


def sample_images() -> list[Path]:
    """The shipped sample radiographs, sorted by name so every run sees the same order."""
    folder = samples_dir()
    if not folder.is_dir():
        return []
    from cxr_desktop.core.radiograph import is_image

    return sorted(p for p in folder.iterdir() if is_image(p))
