"""The viewer's Qt-free helpers on real films: window/level in the file's units, pixel spacing,
triage order, the batch journal, the lung-field prior, the tag list."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from cxr_desktop.core.batch_journal import BatchJournal, BatchPlan, read_unfinished
from cxr_desktop.core.film_details import corner_lines, film_details, format_dicom_age, format_dicom_date
from cxr_desktop.core.geometry import ruler_label, spacing_of
from cxr_desktop.core.lung_prior import OUTSIDE_WEIGHT, down_weight, load_prior, outside_share
from cxr_desktop.core.radiograph import load_radiograph
from cxr_desktop.core.scoring import ScreeningRow
from cxr_desktop.core.triage import READ_ERROR, READABLE, UNUSUAL, triage_group, triage_key
from cxr_desktop.core.windowing import FILE_PRESET, FULL_PRESET, lookup_table, presets, quantise
from tests.core.dicom_factory import make_dataset, write


def real_stored(sample: Path) -> np.ndarray:
    """A real film as 12-bit stored values."""
    return cv2.imread(str(sample), cv2.IMREAD_GRAYSCALE).astype(np.uint16) * 16


def test_file_window_in_stored_units_reproduces_the_decoder(sample_images, tmp_path):
    stored = real_stored(sample_images[0])
    path = write(
        make_dataset(stored, bits_stored=12, WindowCenter=1800, WindowWidth=2400, PixelSpacing=[0.143, 0.143]),
        tmp_path / "film.dcm",
    )
    radiograph = load_radiograph(path)
    details = film_details(radiograph)
    modality = details.modality
    assert modality.units == "stored value" and modality.file_window.center == 1800
    assert modality.value_at(10, 20) == stored[20, 10]
    grey = np.take(lookup_table(quantise(modality), modality.default_window()), quantise(modality).indices)
    assert np.abs(grey.astype(int) - np.round(radiograph.pixels * 255).astype(int)).max() <= 1
    found = presets(modality)
    assert list(found)[:2] == [FILE_PRESET, FULL_PRESET]
    assert found[FULL_PRESET].low < stored.min() + 1 and found[FULL_PRESET].high > stored.max()
    assert found["Lung"].center < found["Mediastinum"].center < found["Bone"].center
    assert details.spacing.row_mm == pytest.approx(0.143) and "Pixel Spacing (0028,0030)" in details.spacing.source


def test_monochrome1_presets_run_the_other_way(sample_images, tmp_path):
    stored = 4095 - real_stored(sample_images[1])
    path = write(make_dataset(stored, bits_stored=12, photometric="MONOCHROME1"), tmp_path / "m1.dcm")
    radiograph = load_radiograph(path)
    modality = film_details(radiograph).modality
    assert modality.monochrome1 and modality.file_window is None
    quantised = quantise(modality)
    grey = np.take(lookup_table(quantised, modality.default_window(), monochrome1=True), quantised.indices)
    assert np.abs(grey.astype(int) - np.round(radiograph.pixels * 255).astype(int)).max() <= 1, "same as the decoder"
    found = presets(modality)
    assert found["Lung"].center > found["Bone"].center, "lungs are dark: high values in MONOCHROME1"
    assert FILE_PRESET not in found


def test_rescaled_values_and_imager_spacing(sample_images, tmp_path):
    stored = real_stored(sample_images[2])
    ds = make_dataset(stored, bits_stored=12, RescaleSlope=1, RescaleIntercept=-1024, ImagerPixelSpacing=[0.2, 0.2])
    modality = film_details(load_radiograph(write(ds, tmp_path / "r.dcm"))).modality
    assert modality.units == "modality value" and modality.low == int(stored.min()) - 1024
    spacing = spacing_of(ds)
    assert "Imager Pixel Spacing" in spacing.source and "magnification" in spacing.source
    assert ruler_label((0, 0), (30, 40), spacing) == "10.0 mm"
    assert ruler_label((0, 0), (30, 40), None) == "50 px (no pixel spacing)"
    assert spacing_of(make_dataset(stored)) is None


def test_tags_dates_and_corners(sample_images, tmp_path):
    stored = real_stored(sample_images[0])
    ds = make_dataset(stored, PatientName="Doe^Jane", PatientID="P-7", PatientSex="F", PatientAge="045Y")
    ds.StudyDate, ds.ViewPosition = "20200315", "PA"
    radiograph = load_radiograph(write(ds, tmp_path / "t.dcm"))
    details = film_details(radiograph)
    by_keyword = {row.keyword: row for row in details.tags}
    assert by_keyword["PatientName"].tag == "(0010,0010)" and by_keyword["PatientName"].value == "Doe^Jane"
    assert by_keyword["PixelData"].value.startswith("<") and "TransferSyntaxUID" in by_keyword
    corners = corner_lines(radiograph, details)
    assert corners["top_left"] == ["Doe Jane", "ID P-7", "F 45 y"]
    assert corners["top_right"] == ["2020-03-15", "PA DX"]
    assert format_dicom_date("20200315") == "2020-03-15" and format_dicom_age("006M") == "6 mo"
    png = load_radiograph(sample_images[0])
    assert film_details(png).tags == () and corner_lines(png, film_details(png))["top_left"] == [png.path.name]


def test_triage_order_groups_readable_then_unusual_then_errors():
    def row(name, status="ok", risk=0.5, ood=False):
        return ScreeningRow(
            path=Path(name), status=status, risk=risk if status == "ok" else math.nan, out_of_distribution=ood
        )

    rows = [row("err", "error"), row("low", risk=0.1), row("odd", risk=0.99, ood=True), row("high", risk=0.9)]
    ordered = sorted(rows, key=triage_key)
    assert [r.path.name for r in ordered] == ["high", "low", "odd", "err"]
    assert [triage_group(r) for r in ordered] == [READABLE, READABLE, UNUSUAL, READ_ERROR]


def test_journal_round_trip_survives_a_torn_last_line(tmp_path):
    path = tmp_path / "journal.jsonl"
    odd_name = Path(b"/clinic/\xff-film.png".decode("utf-8", "surrogateescape"))
    rows = [
        ScreeningRow(
            path=odd_name,
            status="ok",
            prediction="normal",
            probabilities={"normal": 0.9, "covid": 0.1},
            risk=0.1,
            flagged=["covid"],
            sha256="ab",
            warnings=("w",),
        ),
        ScreeningRow(path=Path("/clinic/b.png"), status="error", message="not an image"),
    ]
    journal = BatchJournal(BatchPlan((Path("/clinic"),), Path("/clinic"), "densenet121-3class"), path=path)
    journal.add(rows)
    journal.close(complete=False)
    with path.open("a", encoding="utf-8") as handle:
        handle.write('{"path": "/clinic/c.png", "stat')
    unfinished = read_unfinished(path)
    assert unfinished.plan.model == "densenet121-3class" and unfinished.plan.items == (Path("/clinic"),)
    assert [r.path for r in unfinished.rows] == [odd_name, Path("/clinic/b.png")]
    assert unfinished.rows[0].flagged == ["covid"] and math.isnan(unfinished.rows[1].risk)
    BatchJournal(unfinished.plan, unfinished.rows, path=path).close(complete=True)
    assert read_unfinished(path) is None


def test_lung_prior_reports_heat_outside_the_lungs():
    prior = load_prior()
    assert prior is not None and prior.shape == (64, 64)
    corner = np.zeros((7, 7), np.float32)
    corner[0, 0] = 1.0
    lungs = np.zeros((7, 7), np.float32)
    lungs[3, 1] = lungs[3, 5] = 1.0
    assert outside_share(corner, prior) > 0.9
    assert outside_share(lungs, prior) < 0.3
    heat = np.ones((200, 200), np.float32)
    toned = down_weight(heat, prior)
    assert toned[2, 2] == pytest.approx(OUTSIDE_WEIGHT, abs=0.02) and toned[100, 50] == 1.0
