"""The order a screened folder is read in: films the model could read, most suspicious first; then
films the OOD gate flagged as unusual (their scores are not to be trusted, so they must not sit
among the low-risk films nor top the list); then files that could not be read at all."""

from __future__ import annotations

import math
from cxr_desktop.core.scoring import ScreeningRow

READABLE, UNUSUAL, READ_ERROR = 0, 1, 2
GROUP_LABELS = {
    READABLE: "Readable, by risk",
    UNUSUAL: "Unusual film (OOD flag)",
    READ_ERROR: "Read error",
}


def triage_group(row: ScreeningRow) -> int:
    if not row.ok:
        return READ_ERROR
    return UNUSUAL if row.out_of_distribution else READABLE


def triage_key(row: ScreeningRow) -> tuple[int, float]:
    """Ascending order of this key is the triage order: group, then risk from high to low."""
    risk = -1.0 if math.isnan(row.risk) else row.risk
    return triage_group(row), -risk
