"""PNG / JPEG / TIFF / BMP decoding, with every conversion said out loud in ``notes``.

Pillow reads the header only (size, mode, pages, EXIF orientation), so a decompression bomb or a
damaged header is refused before any pixel is decoded; OpenCV then decodes the pixels (fast, 8-
and 16-bit, releases the GIL for the prefetching threads), simplejpeg the JPEGs, whose stream
``jpeg_stream`` checks for damage libjpeg-turbo lets pass. CMYK goes through Pillow, which knows
Adobe's inverted CMYK convention; OpenCV would hand the K plane over as if it were alpha.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

import cv2
import numpy as np
import simplejpeg
from PIL import BmpImagePlugin, Image, ImageFile, JpegImagePlugin, PngImagePlugin, TiffImagePlugin

from cxr_desktop.core.errors import ImageReadError, UnsupportedImageError
from cxr_desktop.core.jpeg_damage import implausible_quantisation, scan_damage
from cxr_desktop.core.jpeg_stream import check_block_means, check_entropy_coding
from cxr_desktop.core.image import MAX_PIXELS, MIN_SIDE, Radiograph, reduce, reduction, reduction_note, to_unit_range

SUPPORTED = ("JPEG", "PNG", "TIFF", "BMP")

#: Header readers per format. The plugin classes are used directly, not ``Image.open``: that
#: warns (or raises) about large images through the global warnings machinery, which is not
#: thread-safe to silence; the size limit here is our own.
_HEADER_READERS: dict[str, Callable[[IO[bytes]], ImageFile.ImageFile]] = {
    "JPEG": JpegImagePlugin.JpegImageFile,
    "PNG": PngImagePlugin.PngImageFile,
    "TIFF": TiffImagePlugin.TiffImageFile,
    "BMP": BmpImagePlugin.BmpImageFile,
}

#: EXIF orientation -> the numpy operation that shows the image the right way up.
_ORIENTATIONS: dict[int, tuple[str, Callable[[np.ndarray], np.ndarray]]] = {
    2: ("mirrored", lambda a: a[:, ::-1]),
    3: ("rotated 180 degrees", lambda a: a[::-1, ::-1]),
    4: ("flipped vertically", lambda a: a[::-1, :]),
    5: ("transposed", lambda a: a.swapaxes(0, 1)),
    6: ("rotated 90 degrees clockwise", lambda a: np.rot90(a, k=-1)),
    7: ("transversed", lambda a: np.rot90(a.swapaxes(0, 1), k=2)),
    8: ("rotated 90 degrees anticlockwise", lambda a: np.rot90(a, k=1)),
}

#: Mean difference between colour channels (fraction of full scale) above which an image is said
#: to carry real colour (annotations, a photograph) rather than grey stored as RGB.
_COLOUR_THRESHOLD = 0.02

# OpenCV's own log lines ("imdecode_: can't read data") duplicate the typed errors raised here and
# would clutter the terminal of a batch run; our messages are the ones a user should see.
cv2.utils.logging.setLogLevel(cv2.utils.logging.LOG_LEVEL_SILENT)


@dataclass(frozen=True)
class _Header:
    width: int
    height: int
    mode: str
    pages: int
    orientation: int
    quantisation: dict[int, list[int]]


def read_raster(path: Path, data: bytes, digest: str, kind: str) -> Radiograph:
    """Decode a raster image file of a format in ``SUPPORTED`` into display pixels.

    The loader (``radiograph.load_radiograph``) has already named the format from its magic bytes.
    """
    _check_complete(path, data, kind)
    header = _read_header(path, data, kind)
    _check_size(path, header)
    notes: list[str] = []
    warnings: list[str] = []
    if header.pages > 1:
        notes.append(f"first of {header.pages} pages read")
    if header.mode in ("P", "PA"):
        notes.append("palette colours expanded")
    factor = reduction(header.width, header.height)
    image: np.ndarray | None
    if header.mode == "CMYK":
        image = _decode_cmyk(path, data, kind)
        notes.append("CMYK image converted to greyscale")
    else:
        image = _decode(path, data, kind, header, factor)
    if image is None or image.size == 0:
        raise ImageReadError(f"damaged {kind} file: the image data cannot be decoded", path)
    if kind == "JPEG":
        _check_stream(path, data, factor)
        warnings.extend(_silent_damage(header, image, factor))
    if factor > 1:
        if kind != "JPEG" or header.mode == "CMYK":
            image = reduce(image, factor)
        notes.append(reduction_note(factor, header.width, header.height))
    if kind == "JPEG" and header.orientation in _ORIENTATIONS:
        what, turn = _ORIENTATIONS[header.orientation]
        image = np.ascontiguousarray(turn(image))
        notes.append(f"{what} as the EXIF orientation tag says")
    grey = _to_grey(image, notes, warnings)
    pixels, bit_depth = _to_display(grey, notes)
    if float(pixels.min()) == float(pixels.max()):
        warnings.append("image is blank: every pixel has the same value")
    return Radiograph(
        pixels=pixels,
        path=path,
        source_format=kind,
        original_size=_original_size(header),
        bit_depth=bit_depth,
        sha256=digest,
        notes=tuple(notes),
        warnings=tuple(warnings),
    )


def _original_size(header: _Header) -> tuple[int, int]:
    """Width and height as shown (EXIF orientations 5 to 8 turn the picture a quarter)."""
    if header.orientation in (5, 6, 7, 8):
        return header.height, header.width
    return header.width, header.height


def _decode(path: Path, data: bytes, kind: str, header: _Header, factor: int = 1) -> np.ndarray | None:
    """Pixels as OpenCV lays them out (grey, or BGR/BGRA channels); a damaged JPEG raises.

    libjpeg reports damaged compressed data ("Corrupt JPEG data: premature end of data segment",
    "N extraneous bytes before marker") only as warnings: OpenCV prints them and returns the garbled
    picture, and 64 random bytes in a real film gave silent scores, some of another class.
    simplejpeg decodes with the same libjpeg-turbo (identical pixels) and turns the warnings into
    errors, so a damaged JPEG becomes an error row. A JPEG larger than ``MAX_DECODE_SIDE`` is
    decoded at 1/``factor`` scale by libjpeg itself, so the full picture is never held.
    """
    if kind != "JPEG":
        return cv2.imdecode(np.frombuffer(data, dtype=np.uint8), cv2.IMREAD_UNCHANGED)
    try:
        image: np.ndarray = simplejpeg.decode_jpeg(
            data,
            colorspace="GRAY" if header.mode == "L" else "BGR",
            min_height=-(-header.height // factor),
            min_width=-(-header.width // factor),
            min_factor=factor,
        )
    except ValueError as exc:
        raise ImageReadError(f"damaged JPEG file ({exc}): the picture is not what was saved", path) from None
    return image[..., 0] if image.ndim == 3 and image.shape[2] == 1 else image


def _check_stream(path: Path, data: bytes, factor: int) -> None:
    """Refuse damage libjpeg-turbo decoded silently (``jpeg_stream``); the reference decoder only
    reads films decoded at full size, to bound time and memory on large ones."""
    if factor == 1:
        check_entropy_coding(path, data)
    check_block_means(path, data)


def _silent_damage(header: _Header, image: np.ndarray, factor: int) -> list[str]:
    """Warnings for JPEG damage the decoder accepted (``jpeg_damage``): in the quantisation tables,
    and in the scan, judged on the picture as coded (CMYK pictures have no single luma to judge)."""
    found = [implausible_quantisation(header.quantisation)]
    if header.mode != "CMYK" and not 8 % factor:
        luma = image if image.ndim == 2 else cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2GRAY)
        damage = scan_damage(luma, block=8 // factor)
        found.append(None if damage is None else damage.describe())
    return [warning for warning in found if warning]


def _check_complete(path: Path, data: bytes, kind: str) -> None:
    """Refuse truncated files: OpenCV silently fills the missing part of a JPEG with grey."""
    if kind == "JPEG" and b"\xff\xd9" not in data[-1024:]:
        raise ImageReadError("truncated JPEG: the file ends before the image data is complete", path)
    if kind == "PNG" and b"IEND" not in data[-64:]:
        raise ImageReadError("truncated PNG: the file ends before the image data is complete", path)


def _read_header(path: Path, data: bytes, kind: str) -> _Header:
    """Size, mode, page count and orientation from the header alone, without decoding pixels."""
    try:
        with _HEADER_READERS[kind](io.BytesIO(data)) as header:
            width, height = header.size
            pages = int(getattr(header, "n_frames", 1))
            orientation = _orientation(header) if kind == "JPEG" else 1
            tables = dict(getattr(header, "quantization", None) or {})
            return _Header(int(width), int(height), header.mode, pages, orientation, tables)
    except Exception as exc:  # noqa: BLE001 - Pillow raises SyntaxError, OSError, struct.error, ...
        depth = re.search(r"cannot handle (\d+)-bit", str(exc))
        if depth:
            raise UnsupportedImageError(
                f"{depth.group(1)}-bit {kind} is not supported; export as 16-bit PNG or DICOM", path
            ) from None
        raise ImageReadError(f"damaged {kind} file: the header cannot be read", path) from None


def _orientation(header: Image.Image) -> int:
    """The EXIF orientation tag; a damaged EXIF block must not cost the image, so it counts as 1."""
    try:
        value = int(header.getexif().get(0x0112, 1) or 1)
    except Exception:  # noqa: BLE001 - Pillow's EXIF parser raises assorted types on bad blocks
        return 1
    return value if value in _ORIENTATIONS else 1


def _check_size(path: Path, header: _Header) -> None:
    if header.width * header.height > MAX_PIXELS:
        raise UnsupportedImageError(
            f"image too large ({header.width} x {header.height} px; the limit is {MAX_PIXELS // 1_000_000} megapixels)",
            path,
        )
    if min(header.width, header.height) < MIN_SIDE:
        raise UnsupportedImageError(f"image too small ({header.width} x {header.height} px) to be a radiograph", path)


def _decode_cmyk(path: Path, data: bytes, kind: str) -> np.ndarray:
    try:
        with _HEADER_READERS[kind](io.BytesIO(data)) as image:
            return np.asarray(image.convert("L"))
    except Exception:  # noqa: BLE001 - Pillow's decoders raise assorted types on damaged data
        raise ImageReadError(f"damaged {kind} file: the image data cannot be decoded", path) from None


def _to_grey(image: np.ndarray, notes: list[str], warnings: list[str]) -> np.ndarray:
    """One channel from whatever OpenCV returned (grey, grey+alpha, BGR, BGRA)."""
    if image.ndim == 2:
        return image
    channels = image.shape[2]
    if channels in (2, 4):
        image = _composite_alpha(image, notes)
        channels -= 1
    if channels == 1:
        return image[..., 0]
    colour = image[..., :3]
    if colour.dtype not in (np.uint8, np.uint16, np.float32):
        colour = colour.astype(np.float32)
    full_scale = float(np.iinfo(colour.dtype).max) if colour.dtype.kind in "ui" else 1.0
    spread = np.abs(colour[..., 0].astype(np.float32) - colour[..., 1]) + np.abs(
        colour[..., 1].astype(np.float32) - colour[..., 2]
    )
    if float(spread.max()) == 0.0:
        notes.append("RGB with identical channels read as greyscale")
        return colour[..., 0]
    if float(spread.mean()) / 2 > _COLOUR_THRESHOLD * full_scale:
        warnings.append("image has colour content (annotations or a photograph?); converted to greyscale")
    else:
        notes.append("RGB image converted to greyscale")
    return cv2.cvtColor(colour, cv2.COLOR_BGR2GRAY)


def _composite_alpha(image: np.ndarray, notes: list[str]) -> np.ndarray:
    """Composite onto black: transparent margins then look like the film's unexposed border."""
    full_scale = float(np.iinfo(image.dtype).max) if image.dtype.kind in "ui" else 1.0
    alpha = image[..., -1:].astype(np.float32) / full_scale
    if float(alpha.min()) < 1.0:
        notes.append("transparent areas shown as black (alpha channel composited)")
    else:
        notes.append("alpha channel removed")
    return (image[..., :-1].astype(np.float32) * alpha).astype(image.dtype)


def _to_display(grey: np.ndarray, notes: list[str]) -> tuple[np.ndarray, int]:
    """8-bit maps 0..255 to 0..1; deeper data is stretched from its stored minimum to maximum.

    A 16-bit PNG of a radiograph often holds 10- or 12-bit values; mapping by 65535 would show an
    almost black image, so the stored range is used as the initial window. Non-finite values of a
    floating-point TIFF are shown as black.
    """
    if grey.dtype == np.uint8:
        return to_unit_range(grey, 0, 255), 8
    bits = grey.dtype.itemsize * 8
    values = grey
    if grey.dtype.kind == "f":
        finite = np.isfinite(grey)
        if not finite.any():
            return np.zeros(grey.shape, dtype=np.float32), bits
        if not finite.all():
            values = np.where(finite, grey, np.nanmin(np.where(finite, grey, np.nan)))
            notes.append("missing (NaN or infinite) pixel values shown as black")
    lo, hi = float(values.min()), float(values.max())
    notes.append(f"{bits}-bit image: stored range {lo:g} to {hi:g} mapped to the display range")
    return to_unit_range(values, lo, hi), bits
