"""Damage inside a JPEG's scan data that the decoders accept: what it leaves in the picture.

A baseline JPEG codes each block's mean (DC) as a difference from the previous block, and the
entropy-coded scan carries no checksum. Changed bytes there either break the Huffman stream (the
decoder, or the reference decoder of ``jpeg_stream``, stops, and ``raster`` refuses the file) or,
after a stretch of garbage, fall back into step. In the second case the decoder says nothing, but
the running DC sum is now off by a constant: from that block to the end of the picture (no
restart markers in these films) every block is brighter or darker by the same amount. Where that
pushes a block mean outside 0-255, ``jpeg_stream`` reads it from the stream and refuses the file;
the picture checks here catch the rest. In the seeded mutant corpus that silent case gave wrong
scores of up to 0.6 in probability.

The step it leaves has a shape nothing in a radiograph has. In raster order it starts at one block
and runs to the end, so along the block grid it shows up as a jump of one constant height
crossing the whole width: under block row ``r`` from the starting column to the right edge, and
under row ``r + 1`` from the left edge to the starting column. Each jump is sharp (the rows beside
it are smooth) and has texture on both sides (the same anatomy, shifted). Natural edges fail at
least one of these: film borders and text boxes have a flat side, soft edges spread over several
rows, and no anatomy runs as a constant-height staircase across the film on the 8-pixel grid.

When the garbage decodes to more or fewer blocks than it replaced, the rest of the picture moves
along the grid instead: each later block row starts with blocks of the row before it (or ends with
the next row's), so a vertical seam of sharp, content-mismatched jumps runs down one block column
from that row to the bottom. When the damage is undone further on, or the step is so large that
the rest of the picture clips to black, what remains is a broken row: one boundary of the block
grid where a large share of the blocks break off sharply from the row above (any heights). A step so
large that everything after it clips to white leaves a washed-out tail instead: flat white blocks
from the middle of one block row to the end of the picture (intact films have flat black tails
that start inside a row, at slanted borders, but no white ones).

A step of a few grey levels is not sharp at any one block, but the staircase as a whole still
shows it: the median jump along each of its two parts stands clear of the picture's own jump
noise, while the medians off it stay near zero (a faint step, looked for last).

On all 5,699 cxr3 films none of these is raised (the most any film shows is a step across 21% of
its block columns, 22% of the blocks breaking off sharply on one boundary, and a faint staircase
2.1 times its noise); in seeded mutant corpora they turn most silent wrong JPEGs into warned ones
(``bench/mutant_corpus.py`` prints both counts). Zero is not reached, and cannot be by looking at
pixels: nearly every mutant still scored silently wrong is a valid JPEG stream of another picture
(the reference decoder, libjpeg 6b and 9e accept it), whose damage looks like intact films do: a
step of 2 to 9 grey levels within the texture, a tail that clips to a flat band (14 intact cxr3
films end in a white band and 67 in a black one), or a picture displaced at the film's edge.

The quantisation tables are checked too: a changed byte there rescales one frequency in every
block (a checkerboard over the film) and decodes without complaint. Encoders write smooth tables
(scaled versions of the standard one, or their own smooth designs): on the cxr3 films no entry is
more than 1.5 times the median of its neighbours, so an entry 4 times above them is damage.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import cv2
import numpy as np

#: A jump counts as sharp when it is this many times the largest neighbouring row step (+ slack).
_SHARPNESS = 3.0
_SLACK = 2.0
#: Blocks each side must have some texture (std in grey levels), within this ratio of each other.
_MIN_TEXTURE = 1.0
_TEXTURE_RATIO = 0.2
#: The step: at least this many grey levels, seen at this share of the block columns.
MIN_STEP = 8.0
MIN_SHARE = 0.22
#: A faint step: the median jump along both parts of the staircase, less the larger median off it,
#: at least this many times the picture's own jump noise (robust spread of every boundary jump).
#: The most any of the 5,699 intact cxr3 films reaches is 2.1.
FAINT_STRENGTH = 3.0
#: Each part of a faint step's staircase spans at least this many block columns.
_FAINT_SPAN = 3
#: Boundaries (the ones with the largest mean staircase) whose medians are worked out.
_FAINT_CANDIDATES = 12
#: Past the boundary, the picture must stay shifted by this share of the step (a drawn line does not).
_FAINT_PERSISTS = 0.5
#: Jumps within this fraction (+1 grey level) of the step's height count as the same step.
_AGREEMENT = 0.25
#: A seam: sharp jumps on this share of the block rows from where it starts to the bottom, over at
#: least ``_SEAM_ROWS`` rows, between blocks whose median pixel-to-pixel change is ``_SEAM_BUSY``.
_SEAM_SHARE = 0.6
_SEAM_ROWS = 8
_SEAM_BUSY = 2.0
#: A broken row: this share of the blocks along one inner boundary break off sharply.
_BROKEN_SHARE = 0.27
#: Block columns (and rows) looked at, at most: larger films are sampled evenly.
_MOST_BLOCKS = 64
#: A washed-out block: mean within this many grey levels of 255, and nearly flat.
_WASHED_LEVELS = 10.0
_WASHED_SPREAD = 4.0
#: A washed-out tail: this share of the blocks after its start, which lies this many blocks or
#: more inside the row, while the blocks before it in that row are mostly not washed out.
_TAIL_SHARE = 0.9
_TAIL_MARGIN = 2
#: A quantisation entry this many times the median of its 8 neighbours, and this far above it.
_TABLE_RATIO = 4.0
_TABLE_EXCESS = 8


@dataclass(frozen=True)
class BrightnessStep:
    """Where the picture's brightness jumps on the block grid, and by how much."""

    row: int
    column: int
    levels: float
    share: float

    def describe(self) -> str:
        darker = "darker" if self.levels < 0 else "brighter"
        return (
            f"the JPEG data looks damaged: from row {self.row}, column {self.column} to the end the picture is "
            f"{abs(self.levels):.0f} grey levels {darker}, a step on the 8-pixel block grid that corrupted "
            "compressed data leaves; compare with the original file before relying on the score"
        )


@dataclass(frozen=True)
class BlockSeam:
    """Where the picture starts to sit displaced along the block grid."""

    row: int
    column: int
    share: float

    def describe(self) -> str:
        return (
            f"the JPEG data looks damaged: from row {self.row} down, the picture is displaced along the 8-pixel "
            f"block grid (a seam at column {self.column}), as corrupted compressed data leaves it; compare with "
            "the original file before relying on the score"
        )


@dataclass(frozen=True)
class WashedOutTail:
    """Where the picture turns flat white to its end, starting inside a block row."""

    row: int
    column: int

    def describe(self) -> str:
        return (
            f"the JPEG data looks damaged: from row {self.row}, column {self.column} to the end the picture is flat"
            " white, starting inside a row of 8-pixel blocks as corrupted compressed data leaves it; compare with"
            " the original file before relying on the score"
        )


@dataclass(frozen=True)
class BrokenRow:
    """A boundary of the block grid where a large share of the blocks do not continue the row above."""

    row: int
    share: float

    def describe(self) -> str:
        return (
            f"the JPEG data looks damaged: at row {self.row}, {100 * self.share:.0f}% of the 8-pixel blocks break off"
            " sharply from the row above, as corrupted compressed data leaves them; compare with the original file"
            " before relying on the score"
        )


Damage = BrightnessStep | BlockSeam | BrokenRow | WashedOutTail


def scan_damage(grey: np.ndarray, block: int = 8) -> Damage | None:
    """What silent scan damage left in the decoded picture, if anything (see the module's text).

    ``grey`` is the 8-bit decoded picture, as laid out in the file (before any EXIF turn), and
    ``block`` the size of its coded blocks in decoded pixels (8, or 8 / the reduced-decode scale).
    """
    height, width = grey.shape[:2]
    if block < 4 or height < 4 * block or width < 4 * block:
        return None
    column_step, row_step = _sample_step(width // block), _sample_step(height // block)
    columns = grey[:, : width // block * block].reshape(height, -1, block)[:, ::column_step]
    across = columns.reshape(height, -1).astype(np.float32)
    mean, spread = _block_stats(across, block)
    jumps, sharp = _boundary_jumps(across, spread, block)
    found = (
        _brightness_step(jumps, sharp, block)
        or _block_seam(grey[: height // block * block].reshape(-1, block, width)[::row_step], block)
        or _broken_row(sharp, block)
        or _washed_out_tail(mean, spread, block)
        or _faint_step(jumps, across, block)
    )
    if isinstance(found, BrightnessStep | WashedOutTail):
        return replace(found, column=found.column * column_step)
    if isinstance(found, BlockSeam):
        return replace(found, row=found.row * row_step)
    return found


def _sample_step(blocks: int) -> int:
    """1 up to ``_MOST_BLOCKS`` blocks, else the step of an even sample: the findings are shares, so
    a large film is judged on a sample of its block columns (rows, for the seam) at a bounded cost."""
    return max(1, blocks // _MOST_BLOCKS)


def _washed_out_tail(mean: np.ndarray, spread: np.ndarray, block: int) -> WashedOutTail | None:
    """Flat white blocks from inside one block row to the end of the picture, or None.

    Only white: black tails starting inside a row are common on intact films (the black corners of
    a film scanned at a slant run into a black band below it).
    """
    washed = (mean >= 255 - _WASHED_LEVELS) & (spread <= _WASHED_SPREAD)
    order = washed.ravel()
    after = np.cumsum(order[::-1])[::-1] / np.arange(order.size, 0, -1)
    columns = washed.shape[1]
    for start in np.flatnonzero(after >= _TAIL_SHARE):
        row, column = divmod(int(start), columns)
        if order.size - start < 2 * columns or not _TAIL_MARGIN <= column <= columns - _TAIL_MARGIN:
            continue
        if washed[row, :column].mean() <= 1 - _TAIL_SHARE and not washed[max(row - 2, 0) : row].all(axis=0).any():
            return WashedOutTail(row=row * block, column=column * block)
        break
    return None


def _broken_row(sharp: np.ndarray, block: int) -> BrokenRow | None:
    """A boundary of the block grid along which many blocks break off sharply, or None."""
    shares = sharp.mean(axis=1)
    if shares.size == 0 or shares.max() < _BROKEN_SHARE:
        return None
    boundary = int(np.argmax(shares))
    return BrokenRow(row=(boundary + 1) * block, share=float(shares[boundary]))


def _block_seam(sampled_rows: np.ndarray, block: int) -> BlockSeam | None:
    """The vertical seam a picture displaced along the block grid shows, or None.

    ``sampled_rows`` holds the picture's rows of blocks (or an even sample of them), shape
    (rows of blocks, block, width).
    """
    image = sampled_rows.reshape(-1, sampled_rows.shape[2]).astype(np.float32)
    _, spread = _block_stats(image, block)
    _, sharp = _boundary_jumps(np.ascontiguousarray(image.T), spread.T, block)
    if sharp.sum(axis=1).max(initial=0) < _SEAM_SHARE * _SEAM_ROWS:
        return None
    busy = _busyness(image, block)
    textured = (np.minimum(busy[:, :-1], busy[:, 1:]) >= _SEAM_BUSY).T[: sharp.shape[0], : sharp.shape[1]]
    seams = sharp & textured
    rows = seams.shape[1]
    if rows < _SEAM_ROWS:
        return None
    to_bottom = np.cumsum(seams[:, ::-1], axis=1)[:, ::-1] / np.arange(rows, 0, -1)[None, :]
    to_bottom[:, rows - _SEAM_ROWS + 1 :] = 0.0
    column, row = np.unravel_index(int(np.argmax(to_bottom)), to_bottom.shape)
    share = float(to_bottom[column, row])
    if share < _SEAM_SHARE:
        return None
    return BlockSeam(row=int(row) * block, column=(int(column) + 1) * block, share=share)


def _brightness_step(jumps: np.ndarray, sharp: np.ndarray, block: int) -> BrightnessStep | None:
    """The constant brightness step a silently damaged scan leaves, or None."""
    columns = jumps.shape[1]
    counts = sharp.sum(axis=1)
    best: BrightnessStep | None = None
    for boundary in range(len(jumps) - 1):
        if counts[boundary] + counts[boundary + 1] < MIN_SHARE * columns:
            continue
        step = _staircase(jumps[boundary : boundary + 2], sharp[boundary : boundary + 2])
        if step is not None and (best is None or step[2] > best.share):
            start, levels, share = step
            best = BrightnessStep(row=(boundary + 1) * block, column=start * block, levels=levels, share=share)
    return best


def _faint_step(jumps: np.ndarray, image: np.ndarray, block: int) -> BrightnessStep | None:
    """A step too faint to stand out block by block, found by its staircase as a whole, or None.

    A step of a few grey levels hides in the texture of any one block, but along the staircase
    (under row ``r`` from the starting column on, under row ``r + 1`` before it) every jump carries
    it, so the median of each part of the staircase rises above the noise while the medians off the
    staircase stay near zero. Natural edges on the grid are short, or cross the whole width on one
    boundary (a band), or are thin lines that do not persist past the boundary (boxes drawn on
    the film): none rises on both parts with the off parts flat.
    """
    boundaries, columns = jumps.shape
    if boundaries < 2 or columns < 2 * _FAINT_SPAN:
        return None
    noise = 1.4826 * float(np.median(np.abs(jumps - np.median(jumps)))) + 0.25
    starts = np.arange(columns + 1)
    spans = (starts >= _FAINT_SPAN) & (starts <= columns - _FAINT_SPAN)
    candidates = _staircase_candidates(jumps, spans)
    rows = np.unique(np.concatenate([candidates, candidates + 1]))
    before, after = _prefix_suffix_medians(jumps[rows])
    upper, lower = np.searchsorted(rows, candidates), np.searchsorted(rows, candidates + 1)
    on_first, on_second = after[upper], before[lower]
    height = np.minimum(np.abs(on_first), np.abs(on_second))
    off = np.maximum(np.abs(before[upper]), np.abs(after[lower]))
    sign = np.sign(on_first)
    agree = spans[None, :] & (sign == np.sign(on_second))
    kept_before, kept_after = _prefix_suffix_medians(_shifts(image, rows, block))
    persists = np.minimum(sign * kept_after[upper], sign * kept_before[lower]) >= _FAINT_PERSISTS * height
    strength = np.where(agree & persists, (height - off) / noise, 0.0)
    index, start = (int(i) for i in np.unravel_index(int(np.argmax(strength)), strength.shape))
    if strength[index, start] < FAINT_STRENGTH:
        return None
    boundary, levels = int(candidates[index]), float(on_first[index, start])
    path = np.concatenate([jumps[boundary, start:], jumps[boundary + 1, :start]])
    share = float(np.mean(np.sign(path) == np.sign(levels)))
    return BrightnessStep(row=(boundary + 1) * block, column=start * block, levels=levels, share=share)


def _staircase_candidates(jumps: np.ndarray, spans: np.ndarray) -> np.ndarray:
    """The boundaries whose staircase (by means, cheap) is highest; medians are worked out for these."""
    boundaries, columns = jumps.shape
    sums = np.concatenate([np.zeros((boundaries, 1)), np.cumsum(jumps, axis=1)], axis=1)
    counts = np.arange(columns + 1)
    with np.errstate(invalid="ignore", divide="ignore"):
        after = (sums[:, -1:] - sums) / (columns - counts)
        before = sums / counts
    first, second = after[:-1], before[1:]
    agree = spans[None, :] & (np.sign(first) == np.sign(second))
    rough = np.where(agree, np.minimum(np.abs(first), np.abs(second)), 0.0)
    return np.argsort(rough.max(axis=1))[::-1][:_FAINT_CANDIDATES]


def _prefix_suffix_medians(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row and each start ``c`` in 0..columns: the median of ``row[:c]`` and of ``row[c:]``
    (NaN where empty). Sorting with the excluded entries as NaN (which sort last) keeps it vectorised."""
    count, columns = rows.shape
    starts = np.arange(columns + 1)[:, None]
    inside = np.arange(columns)[None, :] < starts
    prefix = np.sort(np.where(inside[None], rows[:, None, :], np.nan), axis=2)
    suffix = np.sort(np.where(inside[None], np.nan, rows[:, None, :]), axis=2)
    return _sorted_median(prefix, starts[:, 0]), _sorted_median(suffix, columns - starts[:, 0])


def _sorted_median(ordered: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    low = np.clip((lengths - 1) // 2, 0, None)
    high = np.clip(lengths // 2, 0, ordered.shape[2] - 1)
    pick = np.broadcast_to(np.stack([low, high], axis=1)[None], (ordered.shape[0], len(lengths), 2))
    middle = np.take_along_axis(ordered, pick, axis=2).mean(axis=2)
    return np.where(lengths[None, :] > 0, middle, np.nan)


def _shifts(image: np.ndarray, boundaries: np.ndarray, block: int) -> np.ndarray:
    """Per boundary and block column, how far the picture below the boundary sits from the picture
    above it, the lesser (towards zero) of two depths, the next few rows and the block after them:
    a step persists at both (by ``_FAINT_PERSISTS`` of its height), a drawn line does not."""
    columns = image.shape[1] // block
    width = columns * block

    def band(top: int, bottom: int) -> np.ndarray:
        return np.asarray(image[max(top, 0) : bottom, :width].mean(axis=0))

    found = []
    for boundary in boundaries:
        row = (int(boundary) + 1) * block
        near = band(row + 1, row + 5) - band(row - 5, row - 1)
        far = band(row + 5, row + 9) - band(row - 9, row - 5) if row + 5 < image.shape[0] else near
        depths = np.stack([near, far]).reshape(2, columns, block)
        medians = np.median(depths, axis=2)
        found.append(np.where(np.abs(medians[0]) < np.abs(medians[1]), medians[0], medians[1]))
    return np.asarray(found)


def _block_stats(image: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Per block, the mean and the standard deviation of its pixels (from block means of x and x squared)."""
    rows, columns = image.shape[0] // block, image.shape[1] // block
    area = np.ascontiguousarray(image[: rows * block, : columns * block])
    mean: np.ndarray = cv2.resize(area, (columns, rows), interpolation=cv2.INTER_AREA)
    square: np.ndarray = cv2.resize(area * area, (columns, rows), interpolation=cv2.INTER_AREA)
    spread: np.ndarray = np.sqrt(np.maximum(square - mean * mean, 0.0))
    return mean, spread


def _boundary_jumps(image: np.ndarray, spread: np.ndarray, block: int) -> tuple[np.ndarray, np.ndarray]:
    """Per horizontal block boundary and block column: the jump's height, and whether it is sharp.

    The height is the jump across the boundary less the slope either side (median over the
    block's pixel columns); sharp means clearly above every neighbouring row step, with texture
    of a like amount on both sides.
    """
    height, width = image.shape
    rows_of_blocks, columns = height // block, width // block
    rows = np.arange(1, rows_of_blocks) * block
    rows = rows[rows + 2 < height]

    def step(at: np.ndarray) -> np.ndarray:
        return np.subtract(image[at, : columns * block], image[at - 1, : columns * block])

    def per_block(values: np.ndarray) -> np.ndarray:
        return np.asarray(np.median(values.reshape(len(rows), columns, block), axis=2))

    across = step(rows)
    above, below = step(rows - 1), step(rows + 1)
    beside = np.maximum.reduce([np.abs(above), np.abs(below), np.abs(step(rows - 2)), np.abs(step(rows + 2))])
    jumps = per_block(across - 0.5 * (above + below))
    smooth = per_block(beside)
    low, high = np.minimum(spread[:-1], spread[1:]), np.maximum(spread[:-1], spread[1:])
    alike = ((low >= _MIN_TEXTURE) & (low >= _TEXTURE_RATIO * high))[: len(rows)]
    return jumps, alike & (np.abs(jumps) >= _SHARPNESS * smooth + _SLACK)


def _busyness(image: np.ndarray, block: int) -> np.ndarray:
    """Per block, the median change from one pixel to the next: near 0 on film borders and bands."""
    rows, columns = image.shape[0] // block, image.shape[1] // block
    area = image[: rows * block, : columns * block]
    across = np.abs(np.diff(area, axis=1, append=area[:, -1:]))
    down = np.abs(np.diff(area, axis=0, append=area[-1:, :]))
    return np.asarray(np.median((across + down).reshape(rows, block, columns, block), axis=(1, 3)))


def _staircase(jumps: np.ndarray, sharp: np.ndarray) -> tuple[int, float, float] | None:
    """Best start column, height and share of a step under row r from ``start`` on, under r + 1 before it."""
    columns = jumps.shape[1]
    before = np.arange(columns)[None, :] < np.arange(columns + 1)[:, None]
    heights = np.where(before, jumps[1][None, :], jumps[0][None, :])
    counted = np.where(before, sharp[1][None, :], sharp[0][None, :])
    any_counted = counted.any(axis=1)
    levels = np.zeros(columns + 1)
    if any_counted.any():
        chosen = np.where(counted[any_counted], heights[any_counted], np.nan)
        levels[any_counted] = np.nanmedian(chosen, axis=1)
    close = np.abs(heights - levels[:, None]) <= _AGREEMENT * np.abs(levels[:, None]) + 1.0
    share = np.where(np.abs(levels) >= MIN_STEP, (counted & close).sum(axis=1) / columns, 0.0)
    start = int(np.argmax(share))
    if share[start] < MIN_SHARE:
        return None
    return start, float(levels[start]), float(share[start])


def implausible_quantisation(tables: dict[int, list[int]]) -> str | None:
    """The warning for a quantisation table with an entry far above its neighbours, or None.

    ``tables`` are as Pillow reads them from the header: 64 entries per table, in natural order.
    """
    for number, table in sorted(tables.items()):
        if len(table) != 64:
            continue
        values = np.asarray(table, dtype=np.float64).reshape(8, 8)
        padded = np.pad(values, 1, mode="edge")
        neighbours = np.stack(
            [padded[1 + dy : 9 + dy, 1 + dx : 9 + dx] for dy in (-1, 0, 1) for dx in (-1, 0, 1) if dy or dx]
        )
        typical = np.median(neighbours, axis=0)
        odd = (values > _TABLE_RATIO * np.maximum(typical, 1.0)) & (values - typical >= _TABLE_EXCESS)
        if odd.any():
            row, column = (int(i) for i in np.argwhere(odd)[0])
            return (
                f"the JPEG header looks damaged: quantisation table {number} holds {values[row, column]:.0f} where its"
                f" neighbours are near {typical[row, column]:.0f}, which rescales part of every block;"
                " compare with the original file before relying on the score"
            )
    return None
