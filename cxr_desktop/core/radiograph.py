"""From a path to a ``Radiograph``: the one table of image formats and the one loader.

``load_radiograph`` is the single entry point from a path to pixels and ``is_image`` the single
answer to "is this file an image?": the GUI, the CLI, the trainer's data scan and the tests all
call them, so a file is read (or skipped) the same way everywhere. A format is known by its magic
bytes first, because the extension of a file on a shared drive lies; the suffixes in ``FORMATS``
only name what the open-file dialog offers and what a file that cannot be sniffed claims to be.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import stat
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Callable

from cxr_desktop.core import dicom, raster
from cxr_desktop.core.errors import CxrError, ImageReadError, UnsupportedImageError
from cxr_desktop.core.image import Radiograph

log = logging.getLogger(__name__)

#: Larger files are refused before they are read into memory: an uncompressed 16-bit 64-megapixel
#: radiograph is 128 MB, so a file this big is a video, an archive or a disk image.
MAX_FILE_BYTES = 512 * 1024 * 1024

#: How many leading bytes ``sniff_format`` looks at.
HEAD_BYTES = 1024

#: Explicit-VR value representations, used to recognise a DICOM data set written without the
#: 128-byte preamble and "DICM" marker (older PACS exports, "no meta" files).
_EXPLICIT_VRS = frozenset(
    b"AE AS AT CS DA DS DT FD FL IS LO LT OB OD OF OL OV OW PN SH SL SQ SS ST SV TM UC UI UL UN UR US UT UV".split()
)

Reader = Callable[[Path, bytes, str], Radiograph]


@dataclass(frozen=True)
class ImageFormat:
    """One row of the format table: how to recognise a file and which function decodes it.

    ``reader`` is None for formats recognised only to be refused with their name (a PDF is
    "not supported", not "unrecognised content").
    """

    name: str
    suffixes: tuple[str, ...]
    matches: Callable[[bytes], bool]
    reader: Reader | None = None


def _looks_like_raw_dicom(head: bytes) -> bool:
    """A data set without preamble starts with a little-endian group 0002 or 0008 element.

    Explicit VR: two upper-case VR letters follow the tag; implicit VR: a small 4-byte length.
    """
    if len(head) < 8 or head[:2] not in (b"\x02\x00", b"\x08\x00"):
        return False
    if head[4:6] in _EXPLICIT_VRS:
        return True
    return int.from_bytes(head[4:8], "little") < 1024


def _starts(*magics: bytes) -> Callable[[bytes], bool]:
    return lambda head: head.startswith(magics)


def _is_webp(head: bytes) -> bool:
    return head[:4] == b"RIFF" and head[8:12] == b"WEBP"


def _is_svg(head: bytes) -> bool:
    return head.lstrip()[:5] in (b"<?xml", b"<svg ") or b"<svg" in head[:512]


def _raster(kind: str) -> Reader:
    return partial(raster.read_raster, kind=kind)


DICOM = ImageFormat(
    "DICOM", (".dcm", ".dicom"), lambda head: len(head) >= 132 and head[128:132] == b"DICM", dicom.read_dicom
)

#: Every format the application knows, in the order they are tried. Raw DICOM (no preamble) comes
#: last: its test is the loosest, so a PNG or JPEG is always named by its own signature first.
FORMATS: tuple[ImageFormat, ...] = (
    DICOM,
    ImageFormat("JPEG", (".jpg", ".jpeg"), _starts(b"\xff\xd8\xff"), _raster("JPEG")),
    ImageFormat("PNG", (".png",), _starts(b"\x89PNG\r\n\x1a\n"), _raster("PNG")),
    ImageFormat("TIFF", (".tif", ".tiff"), _starts(b"II*\x00", b"MM\x00*"), _raster("TIFF")),
    ImageFormat("BMP", (".bmp",), _starts(b"BM"), _raster("BMP")),
    ImageFormat("GIF", (), _starts(b"GIF8")),
    ImageFormat("PDF", (), _starts(b"%PDF")),
    ImageFormat("ZIP", (), _starts(b"PK\x03\x04")),
    ImageFormat("JPEG 2000", (), _starts(b"\x00\x00\x00\x0cjP  ", b"\xff\x4f\xff\x51")),
    ImageFormat("WebP", (), _is_webp),
    ImageFormat("SVG", (), _is_svg),
    ImageFormat("DICOM", (), _looks_like_raw_dicom, dicom.read_dicom),
)

#: Suffixes of the formats that can be read (for file dialogs and for ``is_image``).
IMAGE_SUFFIXES: tuple[str, ...] = tuple(s for f in FORMATS if f.reader is not None for s in f.suffixes)

#: A file whose content matches no signature is still handed to the DICOM reader when its name
#: claims DICOM or has no suffix (PACS exports): pydicom then says what is wrong with it.
_DICOM_BY_NAME = (*DICOM.suffixes, "")


def _readable_names() -> str:
    """ "DICOM, JPEG, PNG, TIFF or BMP": the readable formats, for a refusal's advice."""
    names = list(dict.fromkeys(f.name for f in FORMATS if f.reader is not None))
    return f"{', '.join(names[:-1])} or {names[-1]}"


READABLE = _readable_names()


def sniff_format(head: bytes) -> str | None:
    """Name the container from its magic bytes (``FORMATS`` order); None when nothing matches."""
    found = _sniff(head)
    return found.name if found is not None else None


def _sniff(head: bytes) -> ImageFormat | None:
    return next((f for f in FORMATS if f.matches(head)), None)


def format_of(path: Path, head: bytes) -> ImageFormat | None:
    """The table row the loader uses for this file: by content, else by a DICOM-like name."""
    found = _sniff(head)
    if found is None and path.suffix.lower() in _DICOM_BY_NAME:
        return DICOM
    return found


def is_image(path: str | Path) -> bool:
    """Whether ``load_radiograph`` would try to decode this file as an image.

    True for a regular file whose suffix is a readable format's or whose first bytes are (so
    ``.dicom`` files and extension-less DICOM from a PACS export count, as the app reads them).
    The trainer's data scan and the sample list ask this; screening asks nothing and lists every
    file, because a file the user gave that is not an image deserves a row saying so.
    """
    path = Path(path)
    if not path.is_file():
        return False
    if path.suffix.lower() in IMAGE_SUFFIXES:
        return True
    try:
        with open(path, "rb") as handle:
            head = handle.read(HEAD_BYTES)
    except OSError:
        return False
    found = _sniff(head)
    return found is not None and found.reader is not None


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
        raise _folder_error(path)
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


def _folder_error(path: Path) -> ImageReadError:
    """Why a folder got a row: a link to it (not followed), or a walk that could not list it."""
    if path.is_symlink():
        return ImageReadError("link to a folder: not followed (open the folder itself to screen it)", path)
    try:
        with os.scandir(path):
            pass
    except OSError as exc:
        reason = "permission denied" if isinstance(exc, PermissionError) else (exc.strerror or str(exc))
        return ImageReadError(f"folder cannot be listed ({reason}): the files in it were not screened", path)
    return ImageReadError("is a folder, not an image file", path)


def _os_error(exc: OSError, path: Path) -> ImageReadError:
    if isinstance(exc, PermissionError):
        return ImageReadError("permission denied: the file cannot be read", path)
    if exc.errno == errno.ELOOP:
        return ImageReadError("symbolic link loop: the link never reaches a file", path)
    if exc.errno == errno.ENAMETOOLONG:
        return ImageReadError(
            f"path too long for the operating system ({len(os.fsencode(path))} bytes):"
            " move or rename the folders above it to screen what is inside",
            path,
        )
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
    data = read_bytes(path)
    digest = hashlib.sha256(data).hexdigest()
    found = format_of(path, data[:HEAD_BYTES])
    if found is None:
        raise ImageReadError("not an image file (unrecognised content)", path)
    if found.reader is None:
        raise UnsupportedImageError(f"{found.name} files are not supported; use {READABLE}", path)
    return found.reader(path, data, digest)
