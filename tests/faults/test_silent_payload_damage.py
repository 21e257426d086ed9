"""Damage the decoder accepts (a JPEG's scan data, a DICOM's raw pixel bytes) becomes a warned row.

The mutants are from the seeded corpora of ``bench/mutant_corpus.py`` (real cxr3 films). The ones
used here decode without any complaint from libjpeg and pydicom; before the fix they were scored
silently, up to 0.5 off in probability. Clean films must not raise the warning: a damage warning
on an intact film would teach users to ignore it.
"""

from __future__ import annotations

from pathlib import Path

import io

import numpy as np
import pytest
import simplejpeg
from PIL import JpegImagePlugin

from bench.mutant_corpus import film_files, make_mutants
from cxr_desktop.core.jpeg_damage import (
    BlockSeam,
    BrightnessStep,
    BrokenRow,
    WashedOutTail,
    implausible_quantisation,
    scan_damage,
)
from cxr_desktop.core.radiograph import load_radiograph
from tests.core.dicom_factory import make_dataset, to_bytes

#: Mutants (seed, index) that were silently wrong, and what is found in each.
SILENT_BEFORE = {
    (15, 97): BrightnessStep,
    (15, 136): BrightnessStep,
    (15, 202): BrightnessStep,
    (15, 574): BrightnessStep,
    (15, 226): BlockSeam,
    (15, 361): BlockSeam,
    (16, 529): BrokenRow,
    (16, 397): BrokenRow,
    (17, 388): BrokenRow,
    (22, 358): WashedOutTail,
}
DAMAGED = "the JPEG data looks damaged"


@pytest.fixture(scope="module")
def corpora(cxr3):
    return {seed: make_mutants(film_files(cxr3, 20, seed), 600, seed) for seed in {s for s, _ in SILENT_BEFORE}}


def test_silent_jpeg_scan_damage_is_a_warned_row(corpora, tmp_path):
    for (seed, index), kind in SILENT_BEFORE.items():
        intact, mutants = corpora[seed]
        mutant = mutants[index]
        simplejpeg.decode_jpeg(mutant.data, colorspace="GRAY")  # the decoder itself raises nothing
        path = tmp_path / f"m{index}-{mutant.film}"
        path.write_bytes(mutant.data)
        warnings = load_radiograph(path).warnings
        assert any(w.startswith(DAMAGED) for w in warnings), (mutant.film, mutant.damage, warnings)
        clean = tmp_path / mutant.film
        clean.write_bytes(intact[mutant.film])
        assert not any(w.startswith(DAMAGED) for w in load_radiograph(clean).warnings)
        pixels = simplejpeg.decode_jpeg(mutant.data, colorspace="GRAY")[..., 0]
        assert isinstance(scan_damage(pixels), kind)


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
