"""What the viewer's reading tools need beyond the display pixels: values in the file's own units,
the pixel size for the ruler, every header element for the tag browser, the patient's name.

Read once per opened file, off the GUI thread, next to ``load_radiograph``. The header is read a
second time for this (``load_radiograph`` keeps only the decoded pixels and a few fields), which is
cheap beside decoding and keeps the scoring path untouched.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from cxr_desktop.core.geometry import PixelSpacing, spacing_of
from cxr_desktop.core.image import Radiograph
from cxr_desktop.core.windowing import ModalityImage, Quantised, from_dataset, from_radiograph, quantise

log = logging.getLogger(__name__)

MAX_VALUE_CHARS = 160


@dataclass(frozen=True)
class TagRow:
    """One header element as the tag browser lists it; ``depth`` > 0 inside a sequence."""

    tag: str
    keyword: str
    vr: str
    value: str
    depth: int = 0


@dataclass(frozen=True)
class FilmDetails:
    """``quantised``: the values as lookup indices, made here (off the GUI thread) for the viewer."""

    modality: ModalityImage
    quantised: Quantised
    spacing: PixelSpacing | None = None
    tags: tuple[TagRow, ...] = ()
    patient_name: str = ""


def film_details(radiograph: Radiograph) -> FilmDetails:
    """The reading details of a decoded film; a header that cannot be read twice falls back to the
    display pixels (the film is already on screen, so this never refuses it)."""
    if radiograph.source_format != "DICOM":
        return _details(from_radiograph(radiograph))
    import pydicom

    try:
        ds = pydicom.dcmread(radiograph.path, force=True)
        modality = from_dataset(ds)
        if modality.values.shape != radiograph.pixels.shape:
            raise ValueError(f"pixel shape {modality.values.shape} != {radiograph.pixels.shape}")
    except Exception as exc:  # noqa: BLE001 - the file decoded once; any second-read fault falls back
        log.warning("reading tools use display values for %s: %s", radiograph.path, exc)
        return _details(from_radiograph(radiograph))
    return _details(modality, spacing_of(ds), tuple(tag_rows(ds)), _text(ds.get("PatientName", "")))


def _details(
    modality: ModalityImage, spacing: PixelSpacing | None = None, tags: tuple[TagRow, ...] = (), name: str = ""
) -> FilmDetails:
    modality.presets  # computed here, off the GUI thread, and cached on the film
    return FilmDetails(modality, quantise(modality), spacing, tags, name)


def _text(value: Any) -> str:
    return str(value or "").replace("^", " ").strip()


def tag_rows(ds: Any, depth: int = 0) -> list[TagRow]:
    """Every element of the file meta and data set, sequences expanded, pixel data summarised."""
    rows: list[TagRow] = []
    meta = getattr(ds, "file_meta", None) if depth == 0 else None
    for element in [*(meta or ()), *ds]:
        tag = f"({element.tag.group:04X},{element.tag.element:04X})"
        keyword = element.keyword or element.name
        if element.VR == "SQ":
            rows.append(TagRow(tag, keyword, "SQ", f"{len(element.value)} item(s)", depth))
            for item in element.value:
                rows.extend(tag_rows(item, depth + 1))
            continue
        if element.tag.group == 0x7FE0 or element.VR in ("OB", "OW", "OF", "OD", "OL", "OV", "UN"):
            length = len(element.value) if element.value is not None else 0
            value = f"<{length} bytes>"
        else:
            try:
                value = str(element.value)
            except Exception:  # noqa: BLE001 - a damaged value is listed as such
                value = "<unreadable>"
        if len(value) > MAX_VALUE_CHARS:
            value = value[: MAX_VALUE_CHARS - 1] + "…"
        rows.append(TagRow(tag, keyword, str(element.VR), value, depth))
    return rows


def format_dicom_date(value: str) -> str:
    """DICOM DA (YYYYMMDD) as ISO 8601 (2020-03-15), which no reader misreads as day/month or month/day."""
    value = (value or "").strip()
    if len(value) == 8 and value.isdigit():
        return f"{value[:4]}-{value[4:6]}-{value[6:]}"
    return value


def format_dicom_age(value: str) -> str:
    """DICOM AS (045Y, 006M) as "45 y", "6 mo"."""
    value = (value or "").strip().upper()
    units = {"Y": "y", "M": "mo", "W": "wk", "D": "d"}
    if len(value) >= 2 and value[:-1].isdigit() and value[-1] in units:
        return f"{int(value[:-1])} {units[value[-1]]}"
    return value


def corner_lines(radiograph: Radiograph, details: FilmDetails) -> dict[str, list[str]]:
    """The viewer's top corners: who (name, id, sex and age) and what (date, view, modality)."""
    info = radiograph.dicom
    if info is None:
        return {"top_left": [radiograph.path.name], "top_right": [f"{radiograph.source_format} (no DICOM header)"]}
    sex_age = " ".join(part for part in (info.patient_sex, format_dicom_age(info.patient_age)) if part)
    return {
        "top_left": [details.patient_name or "(no name)", f"ID {info.patient_id or '—'}", sex_age],
        "top_right": [
            format_dicom_date(info.study_date) or "(no study date)",
            " ".join(part for part in (info.view_position, info.modality) if part),
        ],
    }
