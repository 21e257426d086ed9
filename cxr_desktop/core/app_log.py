"""The application's own log file, ``cxr-desktop.log``: private, bounded, and free of patient paths.

File and folder names on a clinic's drive hold patient names and ids, and the log once kept every
path it mentioned, world-readable (0644), growing without bound. Now the file is created 0600 (an
older 0644 file is tightened when opened), rotated by size, and every ``Path`` passed to a log call
is written as the CSV's path column would show it under the identifier mode in force:
pseudonymised unless the user asked to keep paths (``set_identifiers("keep")``, as the CLI's
``--identifiers keep`` does). Log calls therefore pass paths as ``Path`` objects, never as text.
"""

from __future__ import annotations

import io
import logging
import os
from logging.handlers import RotatingFileHandler
from pathlib import Path, PurePath

from cxr_desktop.core.privacy import PrivacyError, display_path, path_labeller

MAX_BYTES = 2 * 1024 * 1024
BACKUPS = 3
FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"

_state = {"identifiers": "pseudonymise"}


def set_identifiers(mode: str) -> None:
    """How paths appear in the log from now on: "keep", "pseudonymise" (the default) or "omit"."""
    path_labeller(mode, b"\0" * 16)
    _state["identifiers"] = mode


def label_path(path: PurePath) -> str:
    """A path as the log may show it; "<file>" when the pseudonymisation key cannot be read."""
    mode = _state["identifiers"]
    if mode == "omit":
        return "<file>"
    try:
        return path_labeller(mode)(Path(path))
    except PrivacyError:
        return "<file>"


class PrivateFileHandler(RotatingFileHandler):
    """Owner-only, size-rotated, and never stopped by text that is not UTF-8.

    The GUI and a ``screen`` run share the file; when both reach the size limit at once, the
    second finds the file already moved. That is not an error: it reopens the new file and writes
    on (logging printed "--- Logging error ---" and a traceback on the user's terminal).
    """

    def _open(self) -> io.TextIOWrapper:
        fd = os.open(self.baseFilename, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        # By descriptor, not by name: the other process may rotate the name away in between.
        os.fchmod(fd, 0o600)
        return open(fd, "a", encoding="utf-8", errors="backslashreplace")

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.shouldRollover(record):
                self.doRollover()
        except FileNotFoundError:
            self.stream = self._open()
        except OSError:  # as logging's own handlers do: report it, never raise
            self.handleError(record)
            return
        logging.FileHandler.emit(self, record)


class PathLabellingFormatter(logging.Formatter):
    """Writes each ``Path`` argument (and its text inside the message or traceback) as its label."""

    def format(self, record: logging.LogRecord) -> str:
        paths = [arg for arg in _args(record) if isinstance(arg, PurePath)]
        text = super().format(record)
        for path in paths:
            label = label_path(path)
            for form in dict.fromkeys((os.path.abspath(path), str(path), path.name)):
                if form:
                    text = text.replace(form, label).replace(display_path(form), label)
        return text


def _args(record: logging.LogRecord) -> tuple[object, ...]:
    args = record.args
    if isinstance(args, tuple):
        return args
    return tuple(args.values()) if args else ()


def file_handler(path: Path) -> logging.Handler:
    """The handler for ``cxr-desktop.log``; raises ``OSError`` when the file cannot be opened."""
    path.parent.mkdir(parents=True, exist_ok=True)
    handler = PrivateFileHandler(path, maxBytes=MAX_BYTES, backupCount=BACKUPS, encoding="utf-8")
    handler.setFormatter(PathLabellingFormatter(FORMAT))
    return handler
