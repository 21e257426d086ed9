"""Damage the decoder accepts (a JPEG's scan data, a DICOM's raw pixel bytes) is a warned or error row.

The mutants are from the seeded corpora of ``bench/mutant_corpus.py`` (real cxr3 films). The ones
used here decode without any complaint from libjpeg-turbo and pydicom; before the fix they were
scored silently, up to 0.6 off in probability. Where the stream itself proves the damage (it falls
out of step, or codes a block mean outside 0-255) the row is an error; where only the picture shows
it, a warning. Clean films must raise neither: a damage warning on an intact film would teach users
to ignore it.
"""

from __future__ import annotations

from pathlib import Path

import io

import cv2
import numpy as np
import pytest
import simplejpeg
from libjpeg.utils import decode as reference_decode
from PIL import Image, JpegImagePlugin

from bench.mutant_corpus import Mutant, film_files, make_mutants
from cxr_desktop.core.errors import ImageReadError
from cxr_desktop.core.jpeg_damage import (
    BlockSeam,
    BrightnessStep,
    BrokenRow,
    WashedOutTail,
    implausible_quantisation,
    scan_damage,
)
from cxr_desktop.core.jpeg_stream import check_block_means, check_entropy_coding
from cxr_desktop.core.radiograph import load_radiograph
from tests.core.dicom_factory import make_dataset, to_bytes

#: Mutants (seed, index) that were silently wrong, what the picture checks find in each, and the
#: row they now give: a warning from the picture, or an error where the stream itself holds a block
#: mean outside 0-255 (``jpeg_stream``, checked first).
SILENT_BEFORE = {
    (15, 97): (BrightnessStep, "warned"),
    (15, 136): (BrightnessStep, "error"),
    (15, 202): (BrightnessStep, "error"),
    (15, 226): (BlockSeam, "error"),
    (15, 361): (BlockSeam, "warned"),
    (16, 529): (BrokenRow, "error"),
    (16, 397): (BrokenRow, "warned"),
    (17, 388): (BrokenRow, "warned"),
    (22, 358): (WashedOutTail, "error"),
    (28, 307): (BrightnessStep, "error"),
    (52, 112): (BrightnessStep, "warned"),
    (36, 250): (BrightnessStep, "error"),
    (37, 214): (BrightnessStep, "error"),
}
#: Mutants (seed, index) libjpeg-turbo decoded silently, whose compressed data falls out of step:
#: a run of AC coefficients past the end of its block, and an invalid Huffman code.
OUT_OF_STEP = {(15, 574): "AC coefficient decoding out of sync", (35, 322): "invalid huffman code"}
#: Mutants (seed, index) that decode silently in every decoder, clipped to black or white from the
#: damage on, whose scan holds block means no encoder writes (-208 and -31 on the 0-255 scale).
IMPOSSIBLE_MEANS = {(28, 229): -208, (44, 466): -31}
DAMAGED = "the JPEG data looks damaged"


@pytest.fixture(scope="module")
def corpora(cxr3):
    seeds = {s for s, _ in SILENT_BEFORE} | {s for s, _ in OUT_OF_STEP} | {s for s, _ in IMPOSSIBLE_MEANS}
    return {seed: make_mutants(film_files(cxr3, 20, seed), 600, seed) for seed in seeds}


def test_silent_jpeg_scan_damage_is_a_warned_or_error_row(corpora, tmp_path):
    for (seed, index), (kind, row) in SILENT_BEFORE.items():
        mutant, path, intact = _written(corpora, tmp_path, seed, index)
        pixels = simplejpeg.decode_jpeg(mutant.data, colorspace="GRAY")[..., 0]  # the decoder itself raises nothing
        assert _row(path) == row, (mutant.film, mutant.damage)
        path.write_bytes(intact)
        assert _row(path) == "clean"
        assert isinstance(scan_damage(pixels), kind)


def _written(corpora, tmp_path: Path, seed: int, index: int) -> tuple[Mutant, Path, bytes]:
    """Mutant ``index`` of the seed's corpus, the file it was written to, and its intact film's bytes."""
    intact, mutants = corpora[seed]
    mutant = mutants[index]
    path = tmp_path / f"m{index}-{mutant.film}"
    path.write_bytes(mutant.data)
    return mutant, path, intact[mutant.film]


def _row(path: Path) -> str:
    try:
        warnings = load_radiograph(path).warnings
    except ImageReadError as exc:
        assert "damaged JPEG file" in str(exc)
        return "error"
    return "warned" if any(w.startswith(DAMAGED) for w in warnings) else "clean"


def test_jpeg_whose_compressed_data_falls_out_of_step_is_an_error_row(corpora, tmp_path):
    """libjpeg-turbo's fast path lets these pass without a word; the reference decoder stops."""
    for (seed, index), reason in OUT_OF_STEP.items():
        mutant, path, intact = _written(corpora, tmp_path, seed, index)
        simplejpeg.decode_jpeg(mutant.data, colorspace="GRAY")
        with pytest.raises(ImageReadError, match=f"falls out of step: .*{reason}") as raised:
            load_radiograph(path)
        assert path.name in str(raised.value)
        path.write_bytes(intact)
        assert load_radiograph(path).warnings == ()


def test_jpeg_with_a_block_mean_outside_0_255_is_an_error_row(corpora, tmp_path):
    """The picture clips these to 0, like any black film border; the stream says what was coded."""
    for (seed, index), mean in IMPOSSIBLE_MEANS.items():
        mutant, path, intact = _written(corpora, tmp_path, seed, index)
        reference_decode(mutant.data)  # the reference decoder accepts it too
        with pytest.raises(ImageReadError, match=f"mean brightness of {mean} on the 0-255 scale"):
            load_radiograph(path)
        path.write_bytes(intact)
        assert load_radiograph(path).warnings == ()


def test_intact_jpegs_of_saturated_content_are_not_refused():
    """Black and white areas with sharp edges, at every quality, by two encoders, baseline and
    progressive, grey and colour: every block mean sits at the ends of the range, none outside."""
    picture = np.zeros((256, 256), np.uint8)
    picture[:, 128:] = 255
    picture[64:192, 32:96] = 255
    picture[::16, :] = 255
    for content in (picture, 255 - picture):
        for quality in (5, 25, 50, 75, 95, 100):
            encoded = [cv2.imencode(".jpg", content, [cv2.IMWRITE_JPEG_QUALITY, quality])[1].tobytes()]
            for mode, progressive in (("L", True), ("RGB", False)):
                buffer = io.BytesIO()
                Image.fromarray(content).convert(mode).save(buffer, "JPEG", quality=quality, progressive=progressive)
                encoded.append(buffer.getvalue())
            for data in encoded:
                check_block_means(Path("intact.jpg"), data)
                check_entropy_coding(Path("intact.jpg"), data)


def test_a_damaged_quantisation_table_is_a_warned_row(cxr3, tmp_path):
    """Seed 18, mutant 319: one byte of the table became 200 among 3s to 7s; libjpeg decodes it."""
    intact, mutants = make_mutants(film_files(cxr3, 20, 18), 600, 18)
    mutant = mutants[319]
    path = tmp_path / "table.jpg"
    path.write_bytes(mutant.data)
    warnings = load_radiograph(path).warnings
    assert any("quantisation table 0 holds 200" in w for w in warnings), warnings
    path.write_bytes(intact[mutant.film])
    assert not any("quantisation" in w for w in load_radiograph(path).warnings)


def test_clean_films_raise_no_damage_warning(cxr3, sample_images):
    films = sorted(cxr3.glob("*/*.jpg"))[::12] + list(sample_images)
    flagged = []
    for film in films:
        data = film.read_bytes()
        check_block_means(film, data)
        check_entropy_coding(film, data)
        with JpegImagePlugin.JpegImageFile(io.BytesIO(data)) as header:
            tables = dict(header.quantization)
        if scan_damage(simplejpeg.decode_jpeg(data, colorspace="GRAY")[..., 0]) or implausible_quantisation(tables):
            flagged.append(film.name)
    assert len(films) > 450 and flagged == []


def _dicom(cxr3: Path, **attributes) -> bytearray:
    import cv2

    film = sorted(cxr3.glob("normal/*.jpg"))[0]
    grey = cv2.imread(str(film), cv2.IMREAD_GRAYSCALE)
    return bytearray(to_bytes(make_dataset(grey.astype(np.uint16) * 16, bits_stored=12, **attributes)))


def _overwrite_pixels(data: bytearray, offset: int = 4000) -> bytes:
    start = data.rindex(b"\xe0\x7f\x10\x00") + 12
    data[start + offset : start + offset + 64] = bytes(range(180, 244))
    return bytes(data)


def test_damaged_raw_dicom_pixels_are_a_warned_row(cxr3, tmp_path):
    intact, damaged = tmp_path / "intact.dcm", tmp_path / "damaged.dcm"
    intact.write_bytes(bytes(_dicom(cxr3)))
    damaged.write_bytes(_overwrite_pixels(_dicom(cxr3)))
    assert not any("Bits Stored" in w for w in load_radiograph(intact).warnings)
    warnings = load_radiograph(damaged).warnings
    assert any(w.startswith("32 pixel value(s) use bits above Bits Stored (12)") for w in warnings), warnings


def test_signed_sign_extended_dicom_pixels_are_not_flagged(tmp_path):
    stored = np.linspace(-2048, 2047, 256 * 256).reshape(256, 256).astype(np.int16)
    path = tmp_path / "signed.dcm"
    path.write_bytes(to_bytes(make_dataset(stored, bits_stored=12)))
    assert not any("Bits Stored" in w for w in load_radiograph(path).warnings)
