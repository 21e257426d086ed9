"""Results of one DICOM film on demand (the GUI's "Send result"): score it, build its SR and heat-map."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pydicom
from pydicom.errors import InvalidDicomError

from cxr_desktop.core.bundle import ModelBundle
from cxr_desktop.core.radiograph import load_radiograph
from cxr_desktop.core.scoring import bundle_gate, score
from cxr_desktop.pacs.listener import Results, write_results
from cxr_desktop.pacs.nodes import PacsError


def film_results(path: Path, bundle: ModelBundle, engine: Any, folder: Path) -> Results:
    """Score ``path`` through the one scoring path and write its SR and heat-map under ``folder``."""
    try:
        header = pydicom.dcmread(path, stop_before_pixels=True)
    except (InvalidDicomError, OSError) as exc:
        raise PacsError(f"{Path(path).name} is not a DICOM film: there is no study to attach results to") from exc
    if not header.get("StudyInstanceUID") or not header.get("SOPInstanceUID"):
        raise PacsError(f"{Path(path).name} has no Study or SOP Instance UID: there is no study to attach results to")
    row = score([load_radiograph(path)], engine, bundle_gate(bundle), thresholds=bundle.thresholds, explain=True)[0]
    return write_results(header, row, bundle, folder)
