"""How ``screen`` refuses to start: one message and exit code for the serial and the Dask run."""

from __future__ import annotations

import sys
from pathlib import Path

from cxr_desktop.core.errors import CxrError


def refuse_to_start(exc: CxrError | OSError, csv_path: Path) -> int:
    """Print why the run cannot start and return its exit code, 2.

    A ``CxrError`` says what is wrong in its own words. An ``OSError`` while setting up comes from
    the results CSV (opening it, or on ``--resume`` reading and backing up what it holds), so the
    message names the CSV; both backends word it alike, so a user (and a test) reads one message
    whichever backend ran.
    """
    if isinstance(exc, OSError):
        print(f"cxr-desktop: error: cannot write the CSV {csv_path}: {exc.strerror or exc}", file=sys.stderr)
    else:
        print(f"cxr-desktop: error: {exc}", file=sys.stderr)
    return 2
