"""Run ``cxr-desktop screen`` in this process on a folder, the way the fault tests need it."""

from __future__ import annotations

import csv
import signal
from pathlib import Path


def screen(folder: Path, bundle_folder: Path, csv_path: Path, *extra: str) -> int:
    """``cli.main(["screen", ...])``, restoring the SIGTERM handler the CLI installs."""
    from cxr_desktop import cli

    previous = signal.getsignal(signal.SIGTERM)
    try:
        return cli.main(
            ["screen", str(folder), "--model", str(bundle_folder), "--csv", str(csv_path), "--quiet", *extra]
        )
    finally:
        signal.signal(signal.SIGTERM, previous)


def rows(csv_path: Path) -> list[dict[str, str]]:
    """The CSV's records; every line must be complete."""
    text = csv_path.read_text(encoding="utf-8")
    assert text.endswith("\n"), "the CSV ends in the middle of a line"
    records = list(csv.DictReader(text.splitlines()))
    assert all(None not in record and None not in record.values() for record in records), "incomplete row"
    return records
