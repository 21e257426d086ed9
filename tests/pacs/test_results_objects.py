"""The SR and the heat-map Secondary Capture of a real scored film: valid DICOM (dciodvfy) and
saying what the issue asks: codes, algorithm, verification flag, study, references, derivation."""

from __future__ import annotations

import shutil
import subprocess

import pydicom
import pytest

from cxr_desktop.core.radiograph import load_radiograph
from cxr_desktop.core.scoring import bundle_gate, score
from cxr_desktop.pacs.listener import write_results


@pytest.fixture(scope="module")
def written(films, engine, bundle_3class, tmp_path_factory):
    row = score(
        [load_radiograph(films[0])],
        engine,
        bundle_gate(bundle_3class),
        thresholds=bundle_3class.thresholds,
        explain=True,
    )[0]
    source = pydicom.dcmread(films[0], stop_before_pixels=True)
    return source, row, write_results(source, row, bundle_3class, tmp_path_factory.mktemp("results"))


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (dicom3tools) is not installed")
def test_dciodvfy_finds_no_errors(written):
    for path in written[2].paths:
        result = subprocess.run(["dciodvfy", str(path)], capture_output=True, text=True, timeout=60)
        errors = [line for line in (result.stdout + result.stderr).splitlines() if line.startswith("Error")]
        assert errors == [], f"{path.name}: {errors}"


def test_sr_content(written, bundle_3class):
    source, row, results = written
    sr = pydicom.dcmread(results.paths[0])
    assert sr.StudyInstanceUID == source.StudyInstanceUID and sr.SeriesInstanceUID != source.SeriesInstanceUID
    assert (sr.VerificationFlag, sr.CompletionFlag) == ("UNVERIFIED", "COMPLETE")
    assert sr.ContentTemplateSequence[0].TemplateIdentifier == "1500"
    group = sr.ContentSequence[-1].ContentSequence[0].ContentSequence
    texts = {item.ConceptNameCodeSequence[0].CodeMeaning: item.TextValue for item in group if item.ValueType == "TEXT"}
    assert texts["Algorithm Name"] == bundle_3class.name and texts["Algorithm Version"] == bundle_3class.version
    numbers = {
        item.ConceptNameCodeSequence[0].CodeValue: float(item.MeasuredValueSequence[0].NumericValue)
        for item in group
        if item.ValueType == "NUM"
    }
    assert numbers == pytest.approx(
        {
            "840539006": row.probability("covid"),
            "233604007": row.probability("pneumonia"),
            "281900007": row.probability("normal"),
        },
        abs=1e-6,
    )
    finding = next(item for item in group if item.ValueType == "CODE")
    assert finding.ConceptCodeSequence[0].CodingSchemeDesignator == "SCT"


def test_heatmap_is_derived_and_not_for_diagnosis(written):
    source, row, results = written
    image = pydicom.dcmread(results.paths[1])
    assert list(image.ImageType)[:2] == ["DERIVED", "SECONDARY"] and image.BurnedInAnnotation == "YES"
    assert image.StudyInstanceUID == source.StudyInstanceUID and image.SeriesInstanceUID != source.SeriesInstanceUID
    assert image.SourceImageSequence[0].ReferencedSOPInstanceUID == source.SOPInstanceUID
    assert "not for primary diagnosis" in image.DerivationDescription
    assert image.pixel_array.shape == (row.radiograph.height, row.radiograph.width, 3)
