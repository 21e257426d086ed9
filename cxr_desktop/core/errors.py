"""Typed errors whose messages are written for the clinician reading them.

Every failure that can reach a user is one of these: the GUI shows ``str(error)`` in a banner, the
CLI writes it to the CSV ``message`` column. ``path`` is kept separately so callers can name the
file without repeating it in every message.
"""

from __future__ import annotations

from pathlib import Path


class CxrError(Exception):
    """Base of every error the application reports to a user."""

    def __init__(self, reason: str, path: str | Path | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.path = Path(path) if path is not None else None

    def __str__(self) -> str:
        return f"{self.path.name}: {self.reason}" if self.path is not None else self.reason


class ImageReadError(CxrError):
    """The file could not be read as an image (missing, empty, truncated, corrupt, not an image)."""


class UnsupportedImageError(CxrError):
    """The file is a valid image or DICOM object but not one this tool may score."""


class BundleError(CxrError):
    """A model bundle is missing, malformed, tampered with or inconsistent with its metadata."""
