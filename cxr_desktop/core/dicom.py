"""DICOM reading through pydicom's own pixel pipeline, in the standard's order.

Modality LUT (rescale) -> VOI LUT (first window, or the VOI LUT Sequence) -> MONOCHROME1 /
Presentation LUT Shape INVERSE inversion. Anything that is not a single-frame greyscale projection
radiograph is refused with the reason, never guessed at.
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np

from cxr_desktop.core.errors import ImageReadError, UnsupportedImageError
from cxr_desktop.core.radiograph import MAX_PIXELS, DicomInfo, Radiograph, to_unit_range

#: Modalities that are projection radiographs (CR computed, DX digital, RG radiographic imaging).
RADIOGRAPH_MODALITIES = {"CR", "DX", "RG", "DR"}
#: Modalities that may wrap a radiograph (secondary capture, "other"): accepted with a warning.
WRAPPER_MODALITIES = {"OT", "SC", ""}

_NON_IMAGE_SOP_PREFIXES = {
    "1.2.840.10008.5.1.4.1.1.88.": "a structured report (SR)",
    "1.2.840.10008.5.1.4.1.1.481.": "a radiotherapy object (RT)",
    "1.2.840.10008.5.1.4.1.1.9.": "a waveform (ECG/audio)",
    "1.2.840.10008.5.1.4.1.1.104.": "an encapsulated document (PDF/CDA)",
    "1.2.840.10008.5.1.4.1.1.11.": "a presentation state",
    "1.2.840.10008.1.3.10": "a DICOMDIR (a media index, not an image)",
}
_LATERAL_VIEWS = {"LL", "RL", "LAT", "LATERAL", "RLD", "LLD"}


def read_dicom(path: Path, data: bytes, digest: str) -> Radiograph:
    import pydicom
    from pydicom.errors import InvalidDicomError

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
    except InvalidDicomError:
        raise ImageReadError("not a valid DICOM file", path) from None
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on malformed input
        raise ImageReadError(f"damaged DICOM file ({_short(exc)})", path) from None

    sop_class = str(_get(ds, "SOPClassUID") or _get(ds.file_meta, "MediaStorageSOPClassUID"))
    for prefix, what in _NON_IMAGE_SOP_PREFIXES.items():
        if sop_class.startswith(prefix):
            raise UnsupportedImageError(f"DICOM file is {what}, not an image", path)
    if "DirectoryRecordSequence" in ds:
        raise UnsupportedImageError("DICOM file is a DICOMDIR (a media index, not an image)", path)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        if len(ds) == 0:
            raise ImageReadError("not a valid DICOM file", path)
        raise UnsupportedImageError("DICOM has no pixel data", path)

    info = _info(ds)
    warnings = _check_radiograph(ds, info, path)
    pixels, bits, notes = _pixels(ds, path)
    return Radiograph(
        pixels=pixels,
        path=path,
        source_format="DICOM",
        original_size=(int(pixels.shape[1]), int(pixels.shape[0])),
        bit_depth=bits,
        sha256=digest,
        notes=tuple(notes),
        warnings=tuple(warnings),
        dicom=info,
    )


def _get(ds, keyword: str) -> str:
    value = getattr(ds, keyword, "") if ds is not None else ""
    return "" if value is None else str(value).strip()


def _short(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def _info(ds) -> DicomInfo:
    meta = getattr(ds, "file_meta", None)
    return DicomInfo(
        patient_id=_get(ds, "PatientID"),
        patient_age=_get(ds, "PatientAge"),
        patient_sex=_get(ds, "PatientSex"),
        study_date=_get(ds, "StudyDate"),
        study_uid=_get(ds, "StudyInstanceUID"),
        series_uid=_get(ds, "SeriesInstanceUID"),
        sop_instance_uid=_get(ds, "SOPInstanceUID"),
        modality=_get(ds, "Modality").upper(),
        view_position=_get(ds, "ViewPosition").upper(),
        body_part=_get(ds, "BodyPartExamined").upper(),
        photometric_interpretation=_get(ds, "PhotometricInterpretation").upper(),
        transfer_syntax=_get(meta, "TransferSyntaxUID"),
    )


def _check_radiograph(ds, info: DicomInfo, path: Path) -> list[str]:
    warnings: list[str] = []
    frames = int(_get(ds, "NumberOfFrames") or 1)
    if frames > 1:
        raise UnsupportedImageError(
            f"multi-frame DICOM ({frames} frames) is not a single projection radiograph", path
        )
    samples = int(_get(ds, "SamplesPerPixel") or 1)
    photometric = info.photometric_interpretation
    if samples != 1 or photometric not in {"MONOCHROME1", "MONOCHROME2"}:
        raise UnsupportedImageError(
            f"unsupported photometric interpretation {photometric or 'unknown'}"
            " (a radiograph is greyscale MONOCHROME1/2)",
            path,
        )
    if info.modality not in RADIOGRAPH_MODALITIES | WRAPPER_MODALITIES:
        raise UnsupportedImageError(
            f"modality {info.modality} is not a projection radiograph (expected CR or DX)", path
        )
    if info.modality in WRAPPER_MODALITIES:
        warnings.append(f"modality {info.modality or 'missing'}: not confirmed as a radiograph")
    if info.body_part and info.body_part not in {"CHEST", "THORAX", "LUNG"}:
        warnings.append(f"body part {info.body_part}: the model is for chest radiographs")
    if info.view_position in _LATERAL_VIEWS:
        warnings.append(f"{info.view_position} view: the model is for frontal (PA/AP) radiographs")
    return warnings


def _pixels(ds, path: Path) -> tuple[np.ndarray, int, list[str]]:
    from pydicom.pixels import apply_modality_lut, apply_voi_lut

    rows, cols = int(_get(ds, "Rows") or 0), int(_get(ds, "Columns") or 0)
    if rows * cols > MAX_PIXELS:
        raise UnsupportedImageError(f"image too large ({cols} x {rows} px)", path)
    try:
        stored = ds.pixel_array
    except NotImplementedError as exc:
        raise UnsupportedImageError(
            f"compressed DICOM that cannot be decoded here ({_short(exc)})", path
        ) from None
    except Exception as exc:  # noqa: BLE001 - decoder plugins raise assorted types
        raise ImageReadError(f"DICOM pixel data cannot be decoded ({_short(exc)})", path) from None
    if stored.ndim != 2 or min(stored.shape) < 32:
        raise UnsupportedImageError(f"DICOM pixel data has unexpected shape {stored.shape}", path)

    notes: list[str] = []
    values = apply_modality_lut(stored, ds).astype(np.float64)
    lo, hi = _voi_output_range(ds)
    if lo is None:
        lo, hi = float(values.min()), float(values.max())
        notes.append("no VOI window in the header: full stored range shown")
    else:
        values = apply_voi_lut(values, ds, index=0)
        if "WindowCenter" in ds and _multiplicity(ds.WindowCenter) > 1:
            notes.append("first of several VOI windows used")
    pixels = to_unit_range(values, lo, hi)

    photometric = _get(ds, "PhotometricInterpretation").upper()
    inverse = _get(ds, "PresentationLUTShape").upper() == "INVERSE"
    if photometric == "MONOCHROME1" or inverse:
        pixels = 1.0 - pixels
        notes.append("inverted for display (MONOCHROME1 / Presentation LUT Shape INVERSE)")
    bits = int(_get(ds, "BitsStored") or _get(ds, "BitsAllocated") or 16)
    return np.ascontiguousarray(pixels, dtype=np.float32), bits, notes


def _multiplicity(value) -> int:
    try:
        return len(value)
    except TypeError:
        return 1


def _voi_output_range(ds) -> tuple[float | None, float | None]:
    """Output range of the VOI transform pydicom will apply, so the result maps onto [0, 1]."""
    if "VOILUTSequence" in ds and len(ds.VOILUTSequence) > 0:
        descriptor = ds.VOILUTSequence[0].LUTDescriptor
        bits = int(descriptor[2])
        return 0.0, float(2**bits - 1)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        bits = int(_get(ds, "BitsStored") or 16)
        if int(_get(ds, "PixelRepresentation") or 0) == 0:
            lo, hi = 0.0, float(2**bits - 1)
        else:
            lo, hi = float(-(2 ** (bits - 1))), float(2 ** (bits - 1) - 1)
        slope = float(_get(ds, "RescaleSlope") or 1.0)
        intercept = float(_get(ds, "RescaleIntercept") or 0.0)
        if "RescaleSlope" in ds or "RescaleIntercept" in ds:
            lo, hi = lo * slope + intercept, hi * slope + intercept
        return lo, hi
    return None, None
