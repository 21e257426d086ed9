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
  rounding (mozjpeg's deringing raises saturated white pixels by up to 31 levels, so the top
  allows that too). A damaged scan shifts the running DC sum, and dark or bright blocks after the
  damage then carry means no encoder writes. The decoder clips them to 0 or 255, which hides the
  fact in the picture, so the means are read from the stream: the DC quantiser is halved in a copy
  of the header, and the copy is decoded at 1/8 scale, where each pixel is its block's DC alone.

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
#: mozjpeg's deringing overshoot.
_MEAN_SLACK = 2.0
_DERINGING_OVERSHOOT = 32.0
_START_OF_SCAN, _QUANTISATION, _FRAMES = 0xDA, 0xDB, frozenset({0xC0, 0xC1, 0xC2})


def check_entropy_coding(path: Path, data: bytes) -> None:
    """Refuse a JPEG whose compressed data falls out of step, which libjpeg-turbo lets pass.

    The JPEG committee's reference decoder (Thomas Richter's libjpeg, which pydicom already uses
    for DICOM) decodes a cxr3 film in about 3 ms. The loader runs it on films it decodes at full
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
    """A copy of ``data`` with every DC quantiser halved, the first component's DC quantiser, and
    its halved value; None when the header cannot be followed or the quantiser is 1."""
    copy = bytearray(data)
    tables: dict[int, tuple[int, int]] = {}
    first_table: int | None = None
    at = 2
    while at + 4 <= len(copy) and copy[at] == 0xFF:
        marker, length = copy[at + 1], int.from_bytes(copy[at + 2 : at + 4], "big")
        if marker == _START_OF_SCAN or length < 2:
            break
        if marker == _QUANTISATION:
            _halve_dc(copy, at + 4, at + 2 + length, tables)
        elif marker in _FRAMES and at + 13 <= len(copy):
            first_table = copy[at + 12]
        at += 2 + length
    if first_table is None or first_table not in tables or tables[first_table][1] == tables[first_table][0]:
        return None
    quantiser, reduced = tables[first_table]
    return bytes(copy), quantiser, reduced


def _halve_dc(copy: bytearray, start: int, end: int, tables: dict[int, tuple[int, int]]) -> None:
    """Halve the DC entry of each table in one DQT segment, in place; record (old, new) by table."""
    at = start
    while at < end and at < len(copy):
        wide, number = copy[at] >> 4, copy[at] & 0x0F
        size = 2 if wide else 1
        old = int.from_bytes(copy[at + 1 : at + 1 + size], "big")
        new = max(1, old // 2)
        copy[at + 1 : at + 1 + size] = new.to_bytes(size, "big")
        tables[number] = (old, new)
        at += 1 + 64 * size
