"""Checks on a JPEG's compressed stream that libjpeg-turbo does not make: damage it decodes silently.

A JPEG's entropy-coded scan carries no checksum. Changed bytes there can leave a stream that
libjpeg-turbo decodes without a word, and a picture that is wrong from that point on: brighter or
darker (the running DC sum of block means is off by a constant), or clipped to white or black when
the shift is large. Two properties of the stream still give such damage away, whatever the picture
shows:

- **It stays in step.** The reference decoder stops where libjpeg-turbo's fast Huffman path turns
  an invalid code into a zero, or lets a run of AC coefficients overrun its block.
- **Every block mean lies in 0-255.** An encoder codes 8-bit samples, so the mean it writes for a
  block (its DC coefficient) is a brightness between 0 and 255, give or take the DC quantiser's
  rounding. (mozjpeg's deringing raises saturated white pixels by up to 31 levels, capped so that
  the block mean stays in range; the top still allows 32 levels for encoders less careful.) A
  damaged scan shifts the running DC sum, and dark or bright blocks after the damage then carry
  means no encoder writes. The decoder clips them to 0 or 255, which hides the fact in the
  picture, so the means are read from the stream: the DC quantiser is halved in a copy of the
  header, and the copy is decoded at 1/8 scale, where each pixel is its block's DC alone.

Both raise ``ImageReadError``: the file is damaged beyond doubt, unlike the picture-based findings
of ``jpeg_damage``, which are warnings. Neither refuses any of the 5,699 intact cxr3 films (their
block means span -1 to 254).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import simplejpeg
from libjpeg.utils import decode as reference_decode

from cxr_desktop.core.errors import ImageReadError

#: The reference decoder's code for a malformed stream (its other codes, such as "not
#: implemented", say nothing about damage).
_MALFORMED_STREAM = "-1038"
#: Slack on block means beyond the DC quantiser's own rounding, in grey levels; the top also allows
#: an overshoot like mozjpeg's deringing of white pixels, in case an encoder does not cap it.
_MEAN_SLACK = 2.0
_DERINGING_OVERSHOOT = 32.0
_START_OF_SCAN, _QUANTISATION, _JFIF, _ADOBE = 0xDA, 0xDB, 0xE0, 0xEE
_FRAMES = frozenset({0xC0, 0xC1, 0xC2})


def check_entropy_coding(path: Path, data: bytes) -> None:
    """Refuse a JPEG whose compressed data falls out of step, which libjpeg-turbo lets pass.

    The JPEG committee's reference decoder (Thomas Richter's libjpeg, which pydicom already uses
    for DICOM) decodes a cxr3 film in 2 to 3 ms. The loader runs it on films it decodes at full
    size; larger ones are left to the other checks, to bound time and memory.
    """
    try:
        reference_decode(data)
    except RuntimeError as exc:
        message = str(exc)
        if _MALFORMED_STREAM not in message:
            return
        reason = message.rsplit(" - ", 1)[-1].strip() or "malformed compressed data"
        raise ImageReadError(
            f"damaged JPEG file (the compressed data falls out of step: {reason}): the picture is not what was saved",
            path,
        ) from None


def check_block_means(path: Path, data: bytes) -> None:
    """Refuse a JPEG whose scan holds a block mean outside 0-255, which only damage writes.

    Costs an entropy decode without the inverse DCT: under 1 ms on a cxr3 film. Streams whose
    header this reader does not follow (or whose DC quantiser is 1, leaving no room) are left alone.
    """
    headroom = _with_dc_headroom(data)
    if headroom is None:
        return
    copy, quantiser, reduced = headroom
    try:
        dc = simplejpeg.decode_jpeg(copy, colorspace="GRAY", min_height=1, min_width=1, min_factor=8)[..., 0]
    except ValueError:
        return
    means = (dc.astype(np.float64) - 128.0) * quantiser / reduced + 128.0
    rounding = quantiser / 4 + _MEAN_SLACK
    low, high = float(means.min()), float(means.max())
    if low >= -rounding and high <= 255 + _DERINGING_OVERSHOOT + rounding:
        return
    worst = int(np.argmin(means)) if low < -rounding else int(np.argmax(means))
    row, column = divmod(worst, means.shape[1])
    raise ImageReadError(
        f"damaged JPEG file (the 8x8 block at row {row * 8}, column {column * 8} is coded with a mean brightness "
        f"of {means.flat[worst]:.0f} on the 0-255 scale, which no encoder writes): the picture is not what was saved",
        path,
    )


def _with_dc_headroom(data: bytes) -> tuple[bytes, int, int] | None:
    """A copy of ``data`` with every DC quantiser halved, the luma's DC quantiser, and its halved
    value; None when the header cannot be followed, the quantiser is 1, or the grey picture the
    decoder gives is not one component's samples (CMYK, YCCK and RGB JPEGs mix components)."""
    copy = bytearray(data)
    tables: dict[int, tuple[int, int]] = {}
    frame: tuple[int, bytes, int] | None = None
    jfif, adobe_transform = False, None
    at = 2
    while at + 4 <= len(copy) and copy[at] == 0xFF:
        marker, length = copy[at + 1], int.from_bytes(copy[at + 2 : at + 4], "big")
        segment = bytes(copy[at + 4 : at + 2 + length])
        if marker == _START_OF_SCAN or length < 2:
            break
        if marker == _QUANTISATION:
            _halve_dc(copy, at + 4, at + 2 + length, tables)
        elif marker == _JFIF and segment.startswith(b"JFIF\0"):
            jfif = True
        elif marker == _ADOBE and segment.startswith(b"Adobe") and len(segment) >= 12:
            adobe_transform = segment[11]
        elif marker in _FRAMES and len(segment) >= 9:
            count = segment[5]
            frame = (count, segment[6 : 6 + 3 * count : 3], segment[8])
        at += 2 + length
    if frame is None or not _grey_is_first_component(frame[0], frame[1], jfif, adobe_transform):
        return None
    luma = frame[2]
    if luma not in tables or tables[luma][1] == tables[luma][0]:
        return None
    quantiser, reduced = tables[luma]
    return bytes(copy), quantiser, reduced


def _grey_is_first_component(count: int, ids: bytes, jfif: bool, adobe_transform: int | None) -> bool:
    """libjpeg's rule for what three components are (JFIF, then Adobe's transform flag, then the
    component ids): only for one component, or YCbCr, is the grey picture the first component."""
    if count == 1:
        return True
    if count != 3:
        return False
    if jfif:
        return True
    if adobe_transform is not None:
        return adobe_transform != 0
    return ids != b"RGB"


def _halve_dc(copy: bytearray, start: int, end: int, tables: dict[int, tuple[int, int]]) -> None:
    """Halve the DC entry of each table in one DQT segment, in place; record (old, new) by table."""
    at = start
    while at < end:
        wide, number = copy[at] >> 4, copy[at] & 0x0F
        size = 2 if wide else 1
        if at + 1 + 64 * size > min(end, len(copy)):
            return
        old = int.from_bytes(copy[at + 1 : at + 1 + size], "big")
        new = max(1, old // 2)
        copy[at + 1 : at + 1 + size] = new.to_bytes(size, "big")
        tables[number] = (old, new)
        at += 1 + 64 * size
