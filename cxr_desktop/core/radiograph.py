"""The radiograph object every other part of the application works on, and the one loader.

``load_radiograph`` is the single entry point from a path to pixels: the GUI, the CLI, the trainer
and the tests all call it, so a file is read the same way everywhere.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cxr_desktop.core.errors import ImageReadError

#: Display convention of ``Radiograph.pixels``: float32 in [0, 1], 0 = black (air), 1 = white (bone),
#: i.e. MONOCHROME2 after the modality and VOI transforms.
DISPLAY_RANGE = (0.0, 1.0)

#: Larger images are refused before decoding: a real chest radiograph is at most ~4300 x 4300 px and
#: a 12000 x 12000 float image alone would need over half a gigabyte.
MAX_PIXELS = 64_000_000


@dataclass(frozen=True)
class DicomInfo:
    """Header fields a radiologist checks before trusting a result, plus the audit identifiers."""

    patient_id: str = ""
    patient_age: str = ""
    patient_sex: str = ""
    study_date: str = ""
    study_uid: str = ""
    series_uid: str = ""
    sop_instance_uid: str = ""
    modality: str = ""
    view_position: str = ""
    body_part: str = ""
    photometric_interpretation: str = ""
    transfer_syntax: str = ""


@dataclass(frozen=True)
class Radiograph:
    """A decoded image ready for display and preprocessing.

    ``notes`` says what was done to get here (e.g. "alpha channel removed") and ``warnings`` what a
    reader should be told (e.g. "lateral view"); both end up in the CSV ``message`` and the GUI.
    """

    pixels: np.ndarray
    path: Path
    source_format: str
    original_size: tuple[int, int]
    bit_depth: int
    sha256: str
    notes: tuple[str, ...] = ()
    warnings: tuple[str, ...] = ()
    dicom: DicomInfo | None = None
    extra: dict[str, str] = field(default_factory=dict)

    @property
    def width(self) -> int:
        return int(self.pixels.shape[1])

    @property
    def height(self) -> int:
        return int(self.pixels.shape[0])


def sniff_format(head: bytes) -> str | None:
    """Name the container from its magic bytes; the extension of a file on a shared drive lies."""
    if len(head) >= 132 and head[128:132] == b"DICM":
        return "DICOM"
    signatures = (
        (b"\xff\xd8\xff", "JPEG"),
        (b"\x89PNG\r\n\x1a\n", "PNG"),
        (b"II*\x00", "TIFF"),
        (b"MM\x00*", "TIFF"),
        (b"BM", "BMP"),
        (b"GIF8", "GIF"),
        (b"%PDF", "PDF"),
        (b"PK\x03\x04", "ZIP"),
        (b"\x00\x00\x00\x0cjP  ", "JPEG 2000"),
    )
    for magic, name in signatures:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head.lstrip()[:5] in (b"<?xml", b"<svg ") or b"<svg" in head[:512]:
        return "SVG"
    return None


def read_bytes(path: Path) -> bytes:
    """Read a whole file, turning every OS-level failure into a message that names the cause."""
    if path.is_dir():
        raise ImageReadError("is a folder, not an image file", path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise ImageReadError("file not found", path) from None
    except PermissionError:
        raise ImageReadError("permission denied: the file cannot be read", path) from None
    except OSError as exc:
        raise ImageReadError(f"cannot be read ({exc.strerror or exc})", path) from None
    if not data:
        raise ImageReadError("file is empty (0 bytes)", path)
    return data


def load_radiograph(path: str | Path) -> Radiograph:
    """Read PNG, JPEG, TIFF, BMP or DICOM into a display-ready ``Radiograph``.

    Raises only ``CxrError`` subclasses, each with a reason a clinician understands.
    """
    from cxr_desktop.core import dicom, raster

    path = Path(path)
    data = read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    kind = sniff_format(data[:1024])
    if kind == "DICOM" or (kind is None and path.suffix.lower() in {".dcm", ".dicom", ""}):
        return dicom.read_dicom(path, data, digest)
    return raster.read_raster(path, data, digest, kind)


def to_unit_range(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map [lo, hi] linearly onto the display range, clipped; a flat image maps to 0, never NaN."""
    span = float(hi) - float(lo)
    if span <= 0:
        return np.zeros(values.shape, dtype=np.float32)
    out = (values.astype(np.float32) - np.float32(lo)) / np.float32(span)
    return np.clip(out, 0.0, 1.0, out=out)
