"""The radiograph object every other part of the application works on, and the one loader.

``load_radiograph`` is the single entry point from a path to pixels: the GUI, the CLI, the trainer
and the tests all call it, so a file is read the same way everywhere.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cxr_desktop.core.errors import CxrError, ImageReadError

log = logging.getLogger(__name__)

#: Larger images are refused before decoding: a real chest radiograph is at most ~4300 x 4300 px and
#: a 12000 x 12000 float image alone would need over half a gigabyte.
MAX_PIXELS = 64_000_000

#: Smaller images are refused: nothing under 32 px on a side can show lungs.
MIN_SIDE = 32

#: Larger files are refused before they are read into memory: an uncompressed 16-bit 64-megapixel
#: radiograph is 128 MB, so a file this big is a video, an archive or a disk image.
MAX_FILE_BYTES = 512 * 1024 * 1024

#: Explicit-VR value representations, used to recognise a DICOM data set written without the
#: 128-byte preamble and "DICM" marker (older PACS exports, "no meta" files).
_EXPLICIT_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR"
    b" US UT UV".split()
)


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
        (b"\xff\x4f\xff\x51", "JPEG 2000"),
    )
    for magic, name in signatures:
        if head.startswith(magic):
            return name
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "WebP"
    if head.lstrip()[:5] in (b"<?xml", b"<svg ") or b"<svg" in head[:512]:
        return "SVG"
    if _looks_like_raw_dicom(head):
        return "DICOM"
    return None


def _looks_like_raw_dicom(head: bytes) -> bool:
    """A data set without preamble starts with a little-endian group 0002 or 0008 element.

    Explicit VR: two upper-case VR letters follow the tag; implicit VR: a small 4-byte length.
    """
    if len(head) < 8 or head[:2] not in (b"\x02\x00", b"\x08\x00"):
        return False
    if head[4:6] in _EXPLICIT_VRS:
        return True
    return int.from_bytes(head[4:8], "little") < 1024


def read_bytes(path: Path) -> bytes:
    """Read a whole file, turning every OS-level failure into a message that names the cause.

    The file is checked with ``stat`` first, so a folder, a named pipe (reading one blocks forever)
    or a multi-gigabyte file is refused without being read.
    """
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if path.is_symlink():
            raise ImageReadError("broken link: the file it points to does not exist", path) from None
        raise ImageReadError("file not found", path) from None
    except OSError as exc:
        raise _os_error(exc, path) from None
    if stat.S_ISDIR(info.st_mode):
        raise ImageReadError("is a folder, not an image file", path)
    if not stat.S_ISREG(info.st_mode):
        raise ImageReadError("not a regular file (a device, pipe or socket)", path)
    if info.st_size > MAX_FILE_BYTES:
        raise ImageReadError(
            f"file too large ({info.st_size // 2**20:,} MB; the limit is {MAX_FILE_BYTES // 2**20} MB)", path
        )
    try:
        with open(path, "rb") as handle:
            data = handle.read()
    except OSError as exc:
        raise _os_error(exc, path) from None
    if len(data) > MAX_FILE_BYTES:
        raise ImageReadError(f"file too large (the limit is {MAX_FILE_BYTES // 2**20} MB)", path)
    if not data:
        raise ImageReadError("file is empty (0 bytes)", path)
    return data


def _os_error(exc: OSError, path: Path) -> ImageReadError:
    if isinstance(exc, PermissionError):
        return ImageReadError("permission denied: the file cannot be read", path)
    if exc.errno == errno.ELOOP:
        return ImageReadError("symbolic link loop: the link never reaches a file", path)
    if exc.errno == errno.ENAMETOOLONG:
        return ImageReadError("file name too long", path)
    return ImageReadError(f"cannot be read ({exc.strerror or exc})", path)


def load_radiograph(path: str | Path) -> Radiograph:
    """Read PNG, JPEG, TIFF, BMP or DICOM into a display-ready ``Radiograph``.

    Raises only ``CxrError`` subclasses, each with a reason a clinician understands. A failure the
    readers did not anticipate is a bug: it is logged with its traceback and reported as an
    ``ImageReadError``, so one odd file never ends a batch.
    """
    path = Path(path)
    try:
        return _load(path)
    except CxrError:
        raise
    except MemoryError:
        raise ImageReadError("not enough memory to read this image", path) from None
    except Exception as exc:  # noqa: BLE001 - the loader's contract is "typed errors only"
        log.exception("unexpected failure reading %s", path)
        raise ImageReadError(f"unexpected error while reading ({type(exc).__name__})", path) from None


def _load(path: Path) -> Radiograph:
    from cxr_desktop.core import dicom, raster

    data = read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    kind = sniff_format(data[:1024])
    if kind == "DICOM" or (kind is None and path.suffix.lower() in {".dcm", ".dicom", ""}):
        return dicom.read_dicom(path, data, digest)
    return raster.read_raster(path, data, digest, kind)


def to_unit_range(values: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Map ``lo`` -> 0 and ``hi`` -> 1 linearly, clipped; a flat image maps to 0, never NaN.

    ``hi < lo`` is allowed and inverts (a VOI LUT may run downwards).
    """
    span = float(hi) - float(lo)
    if span == 0 or not np.isfinite(span):
        return np.zeros(values.shape, dtype=np.float32)
    out = (values.astype(np.float32) - np.float32(lo)) / np.float32(span)
    return np.clip(out, 0.0, 1.0, out=out)
