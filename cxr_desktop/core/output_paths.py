"""Refuse an output path that would overwrite an input or land inside the tree being read.

``screen --csv`` naming one of the films silently replaced that film with the CSV; a CSV or a
heat-map folder inside the screened folder is read back as input by the next run (and, during
the run, rewritten while the walk lists it). Paths are compared after resolving links, and a file
reached through a hard link counts as the same file.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from cxr_desktop.core.errors import CxrError


class OutputPathError(CxrError):
    """An output path that would destroy or pollute the inputs."""


def _same_file(a: Path, b: Path) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


def _resolved(path: Path) -> Path:
    try:
        return path.resolve()
    except (OSError, RuntimeError):
        return Path(os.path.abspath(path))


def check_output(output: str | Path, inputs: Iterable[str | Path], what: str) -> None:
    """Raise ``OutputPathError`` when ``output`` is one of ``inputs`` or inside an input folder.

    ``inputs`` are the files and folders given to the run; ``what`` names the output in the message
    ("CSV", "heat-map folder", "report").
    """
    output = Path(output)
    target = _resolved(output)
    for source in map(Path, inputs):
        root = _resolved(source)
        if target == root or _same_file(output, source):
            raise OutputPathError(
                f"the {what} {output} is an input ({source}): it would be overwritten; choose another path"
            )
        if source.is_dir() and root in target.parents:
            raise OutputPathError(
                f"the {what} {output} is inside the folder being read ({source}): it would be"
                " mixed with the films; choose a path outside that folder"
            )
