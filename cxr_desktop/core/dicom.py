"""DICOM reading through pydicom's own pixel pipeline, in the standard's order.

Modality LUT (rescale) -> VOI LUT (first window, or the VOI LUT Sequence) -> MONOCHROME1 /
Presentation LUT Shape INVERSE inversion. Anything that is not a single-frame greyscale projection
radiograph is refused with the reason, never guessed at. Compressed transfer syntaxes decode through
pydicom's plugins (pylibjpeg with libjpeg, openjpeg and rle; pyjpegls where installed).
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from cxr_desktop.core.errors import ImageReadError, UnsupportedImageError
from cxr_desktop.core.image import (
    MAX_PIXELS,
    MIN_SIDE,
    DicomInfo,
    Radiograph,
    reduce,
    reduction,
    reduction_note,
    to_unit_range,
)

if TYPE_CHECKING:
    from pydicom.dataset import Dataset


#: Modalities that are projection radiographs (CR computed, DX digital, RG radiographic imaging).
RADIOGRAPH_MODALITIES = {"CR", "DX", "RG", "DR"}
#: Modalities that may wrap a radiograph (secondary capture, "other"): accepted with a warning.
WRAPPER_MODALITIES = {"OT", "SC", ""}

#: SOP Class UID prefixes of objects that are not images, with how to name them to a user.
_NON_IMAGE_SOP_PREFIXES = {
    "1.2.840.10008.5.1.4.1.1.88.": "a structured report (SR)",
    "1.2.840.10008.5.1.4.1.1.481.": "a radiotherapy object (RT)",
    "1.2.840.10008.5.1.4.1.1.9.": "a waveform (ECG/audio)",
    "1.2.840.10008.5.1.4.1.1.104.": "an encapsulated document (PDF/CDA)",
    "1.2.840.10008.5.1.4.1.1.11.": "a presentation state",
    "1.2.840.10008.5.1.4.1.1.66": "a segmentation, registration or raw-data object",
    "1.2.840.10008.1.3.10": "a DICOMDIR (a media index)",
}
_LATERAL_VIEWS = {"LL", "RL", "LAT", "LATERAL", "RLD", "LLD"}
_CHEST_BODY_PARTS = {"CHEST", "THORAX", "LUNG", "LUNGS"}
#: Damage here is fatal: image pixel description (0028), pixel data (7FE0), SOP class, modality.
_ESSENTIAL_GROUPS = {0x0028, 0x7FE0}
_ESSENTIAL_TAGS = {0x00080016, 0x00080060}
_REQUIRED_IMAGE_ATTRIBUTES = ("Rows", "Columns", "BitsAllocated", "PhotometricInterpretation")


def read_dicom(path: Path, data: bytes, digest: str) -> Radiograph:
    """Decode a DICOM file into display pixels, or refuse it with the reason."""
    ds, notes = _parse(path, data)
    _refuse_non_images(ds, path)
    info = _info(ds)
    warnings = _check_radiograph(ds, info, path)
    pixels, bits = _pixels(ds, path, notes)
    warnings.extend(_bits_above_stored(ds))
    if float(pixels.min()) == float(pixels.max()):
        warnings.append("image is blank: every pixel has the same value")
    return Radiograph(
        pixels=pixels,
        path=path,
        source_format="DICOM",
        original_size=(_int(ds, "Columns", 0, path), _int(ds, "Rows", 0, path)),
        bit_depth=bits,
        sha256=digest,
        notes=tuple(notes),
        warnings=tuple(warnings),
        dicom=info,
    )


def _parse(path: Path, data: bytes) -> tuple[Dataset, list[str]]:
    """Parse the data set; a file without the DICOM file header gets its encoding inferred."""
    import pydicom
    from pydicom.errors import InvalidDicomError
    from pydicom.uid import ExplicitVRBigEndian, ExplicitVRLittleEndian, ImplicitVRLittleEndian

    try:
        ds = pydicom.dcmread(io.BytesIO(data), force=True)
        list(ds.file_meta.iterall())
    except InvalidDicomError:
        raise ImageReadError("not a valid DICOM file", path) from None
    except Exception as exc:  # noqa: BLE001 - pydicom raises many types on malformed input
        raise ImageReadError(f"damaged DICOM file ({_short(exc)})", path) from None
    notes = _drop_unreadable_elements(ds, path)
    if not any(element.keyword for element in ds):
        raise ImageReadError("not a valid DICOM file (no recognisable DICOM content)", path)
    if "TransferSyntaxUID" not in ds.file_meta:
        implicit, little = ds.original_encoding
        if implicit:
            syntax = ImplicitVRLittleEndian
        else:
            syntax = ExplicitVRLittleEndian if little is not False else ExplicitVRBigEndian
        ds.file_meta.TransferSyntaxUID = syntax
        notes.append(f"no DICOM file header: read as {syntax.name}")
    return ds, notes


def _drop_unreadable_elements(ds: Dataset, path: Path) -> list[str]:
    """Convert every element now, dropping those pydicom cannot read.

    pydicom converts values lazily, so a damaged element would otherwise raise wherever it is
    first used. A damaged patient-name or private element does not touch the image and is dropped
    with a note; damage to what the pixels depend on is a refusal.
    """
    unreadable = []
    for tag in list(ds.keys()):
        try:
            element = ds[tag]
            if element.VR == "SQ":
                for item in element.value:
                    list(item.iterall())
        except Exception:  # noqa: BLE001 - wrong lengths, unknown VRs, undecodable text, ...
            unreadable.append(tag)
    essential = [tag for tag in unreadable if tag.group in _ESSENTIAL_GROUPS or tag in _ESSENTIAL_TAGS]
    if essential:
        raise ImageReadError(f"damaged DICOM header: element {essential[0]} cannot be read", path)
    for tag in unreadable:
        del ds[tag]
    return [f"unreadable header element(s) {', '.join(str(tag) for tag in unreadable)} ignored"] if unreadable else []


def _refuse_non_images(ds: Dataset, path: Path) -> None:
    sop_class = _get(ds, "SOPClassUID") or _get(ds.file_meta, "MediaStorageSOPClassUID")
    for prefix, what in _NON_IMAGE_SOP_PREFIXES.items():
        if sop_class.startswith(prefix):
            raise UnsupportedImageError(f"DICOM file is {what}, not an image", path)
    if "DirectoryRecordSequence" in ds:
        raise UnsupportedImageError("DICOM file is a DICOMDIR (a media index), not an image", path)
    if "PixelData" not in ds and "FloatPixelData" not in ds and "DoubleFloatPixelData" not in ds:
        raise UnsupportedImageError("DICOM has no pixel data", path)


def _get(ds: Dataset, keyword: str) -> str:
    """A header value as text; a value pydicom cannot even convert counts as absent."""
    try:
        value = getattr(ds, keyword, "") if ds is not None else ""
    except Exception:  # noqa: BLE001 - invalid values raise on access in strict reading modes
        return ""
    return "" if value is None else str(value).strip()


def _int(ds: Dataset, keyword: str, default: int, path: Path) -> int:
    text = _get(ds, keyword)
    if not text:
        return default
    try:
        return int(float(text))
    except ValueError:
        raise ImageReadError(f"damaged DICOM header: {keyword} is not a number ({text[:20]!r})", path) from None


def _short(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text[:160]


def _info(ds: Dataset) -> DicomInfo:
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
        transfer_syntax=_get(ds.file_meta, "TransferSyntaxUID"),
    )


def _check_radiograph(ds: Dataset, info: DicomInfo, path: Path) -> list[str]:
    """Refuse what is not one greyscale projection radiograph; warn about what may not be a chest PA/AP.

    The modality is checked first because "modality CT" tells a clinician more than the frame
    count or colour model of the same file would.
    """
    if info.modality not in RADIOGRAPH_MODALITIES | WRAPPER_MODALITIES:
        raise UnsupportedImageError(
            f"modality {info.modality} is not a projection radiograph (expected CR or DX)", path
        )
    frames = _int(ds, "NumberOfFrames", 1, path)
    if frames > 1:
        raise UnsupportedImageError(f"multi-frame DICOM ({frames} frames) is not a single projection radiograph", path)
    missing = [keyword for keyword in _REQUIRED_IMAGE_ATTRIBUTES if not _get(ds, keyword)]
    if missing:
        raise ImageReadError(f"DICOM image header is incomplete (missing {', '.join(missing)})", path)
    samples = _int(ds, "SamplesPerPixel", 1, path)
    photometric = info.photometric_interpretation
    if samples != 1 or photometric not in {"MONOCHROME1", "MONOCHROME2"}:
        raise UnsupportedImageError(
            f"unsupported photometric interpretation {photometric}"
            f"{'' if samples == 1 else f' with {samples} samples per pixel'}"
            " (a radiograph is greyscale: MONOCHROME1 or MONOCHROME2)",
            path,
        )
    warnings: list[str] = []
    if info.modality in WRAPPER_MODALITIES:
        warnings.append(f"modality {info.modality or 'missing'}: not confirmed as a radiograph")
    if info.body_part and info.body_part not in _CHEST_BODY_PARTS:
        warnings.append(f"body part {info.body_part}: the model is for chest radiographs")
    if info.view_position in _LATERAL_VIEWS:
        warnings.append(f"{info.view_position} view: the model is for frontal (PA/AP) radiographs")
    if _get(ds, "PresentationIntentType").upper() == "FOR PROCESSING":
        warnings.append("'For Processing' (raw detector) image: it may look unlike the images the model learnt from")
    return warnings


def _pixels(ds: Dataset, path: Path, notes: list[str]) -> tuple[np.ndarray, int]:
    """Stored values -> Modality LUT -> VOI LUT -> polarity, mapped onto [0, 1]."""
    rows, cols = _int(ds, "Rows", 0, path), _int(ds, "Columns", 0, path)
    if rows * cols > MAX_PIXELS:
        raise UnsupportedImageError(
            f"image too large ({cols} x {rows} px; the limit is {MAX_PIXELS // 1_000_000} megapixels)", path
        )
    if min(rows, cols) < MIN_SIDE:
        raise UnsupportedImageError(f"image too small ({cols} x {rows} px) to be a radiograph", path)
    stored = _decode(ds, path)
    if stored.shape != (rows, cols):
        raise ImageReadError(f"DICOM pixel data has shape {stored.shape}, the header says {rows} x {cols}", path)
    factor = reduction(cols, rows)
    if factor > 1:
        stored = reduce(stored, factor)
        notes.append(reduction_note(factor, cols, rows))

    from pydicom.pixels.processing import apply_modality_lut

    try:
        values = apply_modality_lut(stored, ds)
    except Exception as exc:  # noqa: BLE001 - malformed LUT descriptors or rescale values
        raise ImageReadError(f"damaged DICOM header: invalid rescale / modality LUT ({_short(exc)})", path) from None
    pixels = _apply_voi(values, ds, notes)

    photometric = _get(ds, "PhotometricInterpretation").upper()
    inverse = _get(ds, "PresentationLUTShape").upper() == "INVERSE"
    if photometric == "MONOCHROME1" or inverse:
        # A DX MONOCHROME1 image carries Presentation LUT Shape INVERSE for the same inversion:
        # one inversion, not two (PS3.3 C.8.11.1.1.1).
        pixels = 1.0 - pixels
        cause = "MONOCHROME1" if photometric == "MONOCHROME1" else "Presentation LUT Shape INVERSE"
        notes.append(f"inverted for display ({cause})")
    bits = _int(ds, "BitsStored", 0, path) or _int(ds, "BitsAllocated", 16, path)
    return np.ascontiguousarray(pixels, dtype=np.float32), bits


def _bits_above_stored(ds: Dataset) -> list[str]:
    """A warning when uncompressed pixel values use bits above Bits Stored.

    Raw pixel bytes carry no checksum, and pydicom masks the unused high bits away, so damaged
    bytes in a 12-bit film would be scored silently (two such films in the mutant corpus moved a
    probability by 0.03). A conformant writer leaves those bits zero (or, for signed data, copies of
    the sign bit); retired overlay planes kept in them are the one legitimate use, and are allowed.
    """
    meta = getattr(ds, "file_meta", None)
    syntax = meta.get("TransferSyntaxUID") if meta is not None else None
    allocated, stored = int(ds.get("BitsAllocated", 0) or 0), int(ds.get("BitsStored", 0) or 0)
    if syntax is None or syntax.is_compressed or allocated not in (16, 32) or not 0 < stored < allocated:
        return []
    if int(ds.get("HighBit", stored - 1)) != stored - 1 or any(0x6000 <= tag.group <= 0x601E for tag in ds.keys()):
        return []
    order = "<" if syntax.is_little_endian else ">"
    raw = np.frombuffer(ds.PixelData, dtype=f"{order}u{allocated // 8}", count=len(ds.PixelData) // (allocated // 8))
    high = raw >> stored
    sign_copies = (1 << (allocated - stored)) - 1
    stray = high != 0 if int(ds.get("PixelRepresentation", 0)) == 0 else (high != 0) & (high != sign_copies)
    count = int(np.count_nonzero(stray))
    if count == 0:
        return []
    return [
        f"{count} pixel value(s) use bits above Bits Stored ({stored}): the pixel data is damaged or mislabelled;"
        " compare with the original file before relying on the score"
    ]


def _decode(ds: Dataset, path: Path) -> np.ndarray:
    from pydicom.pixels.decoders.base import get_decoder

    syntax = ds.file_meta.TransferSyntaxUID
    try:
        available = get_decoder(syntax).is_available
    except NotImplementedError:
        raise UnsupportedImageError(f"DICOM transfer syntax {syntax.name} is not supported", path) from None
    if not available:
        raise UnsupportedImageError(f"compressed DICOM ({syntax.name}) cannot be decoded: no decoder installed", path)
    try:
        return np.asarray(ds.pixel_array)
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException as exc:  # noqa: BLE001 - plugins raise assorted types; pylibjpeg-rle's
        # Rust decoder even panics on damaged segments, and pyo3's PanicException is a BaseException
        text = _short(exc)
        if "less than expected" in text:
            raise ImageReadError("truncated DICOM: the pixel data is incomplete", path) from None
        raise ImageReadError(f"DICOM pixel data cannot be decoded ({syntax.name}: {text})", path) from None


def _apply_voi(values: np.ndarray, ds: Dataset, notes: list[str]) -> np.ndarray:
    """pydicom's VOI transform, then its own output range mapped onto [0, 1].

    The output range is found by sending a value far below and one far above the window (or the
    first and last LUT input) through the same transform, so it always agrees with what pydicom
    did, including LUTs whose entries use fewer bits than their descriptor claims.
    """
    from pydicom.pixels.processing import apply_voi_lut

    lut = _voi_lut_item(ds)
    windows = (
        "WindowCenter" in ds and "WindowWidth" in ds and ds.WindowCenter is not None and ds.WindowWidth is not None
    )
    if lut is None and not windows:
        notes.append("no VOI window in the header: full stored range shown")
        return _full_range(values)
    try:
        if lut is not None:
            first, count = int(lut.LUTDescriptor[1]), int(lut.LUTDescriptor[0]) or 2**16
            inputs = np.clip(np.rint(values), first, first + count - 1).astype(np.int64)
            probe = np.array([first, first + count - 1], dtype=np.int64)
            what = "VOI LUT Sequence"
        else:
            inputs = values.astype(np.float64)
            probe = np.array([-1e30, 1e30])
            what = "window centre/width"
        with np.errstate(over="ignore"):
            output = apply_voi_lut(inputs, ds, index=0)
            lo, hi = (float(v) for v in apply_voi_lut(probe, ds, index=0))
    except Exception as exc:  # noqa: BLE001 - invalid widths, LUT descriptors, VOI functions
        notes.append(f"VOI transform in the header is invalid ({_short(exc)}): full stored range shown")
        return _full_range(values)
    if lo == hi:
        notes.append(f"{what} maps every value to one grey: full output range shown")
        return _full_range(output)
    notes.append(f"{what} from the header applied" + (" (first of several)" if _several(ds, lut) else ""))
    return to_unit_range(output, lo, hi)


def _voi_lut_item(ds: Dataset) -> Dataset | None:
    """The first VOI LUT Sequence item when it is usable (pydicom prefers it over windows too)."""
    sequence = ds.get("VOILUTSequence")
    if not sequence:
        return None
    item: Dataset = sequence[0]
    if item.get("LUTDescriptor") is None or item.get("LUTData") is None:
        return None
    count, first, bits = (int(v) for v in item.LUTDescriptor)
    if bits == 8 and (count or 2**16) > 256:
        # pydicom 3.0.2 indexes an 8-bit-output LUT through a uint8 array, so inputs past 255 wrap
        # around; the entries are 16-bit words either way, so declaring 16 bits reads them right.
        item.LUTDescriptor = [count, first, 16]
    return item


def _several(ds: Dataset, lut: Dataset | None) -> bool:
    if lut is not None:
        return len(ds.VOILUTSequence) > 1
    return bool(ds["WindowCenter"].VM > 1)


def _full_range(values: np.ndarray) -> np.ndarray:
    values = np.asarray(values, dtype=np.float64)
    return to_unit_range(values, float(values.min()), float(values.max()))
