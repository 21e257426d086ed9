"""Round trip through a real Orthanc: push real films, find and retrieve them through the app
(C-FIND, C-GET, C-MOVE and DICOMweb), score them, send the report and heat-map back, fetch those
from Orthanc and check what they say and what they reference."""

from __future__ import annotations

import pydicom
import pytest

from cxr_desktop.core.screening import screen
from cxr_desktop.pacs import dicomweb
from cxr_desktop.pacs.listener import write_results
from cxr_desktop.pacs.nodes import Node, PacsError, echo
from cxr_desktop.pacs.query import StudyQuery, find_studies, get_study, move_study_here
from cxr_desktop.pacs.results_sr import probabilities_of
from cxr_desktop.pacs.send import send_instances
from tests.pacs.orthanc import free_port


@pytest.fixture(scope="module")
def loaded(orthanc, films):
    orthanc.clear()
    send_instances(orthanc.node, [pydicom.dcmread(path) for path in films])
    return {str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID): path for path in films}


def test_echo_and_a_clear_error_for_a_node_that_is_not_there(orthanc):
    echo(orthanc.node)
    with pytest.raises(PacsError, match="no answer|cannot connect"):
        echo(Node("NOBODY", "127.0.0.1", free_port()))


def test_query_by_patient_date_and_modality(orthanc, loaded):
    both = find_studies(orthanc.node, StudyQuery(modality="DX"))
    assert len(both) == 2 and {study.patient_id for study in both} == {"CXRTEST0000", "CXRTEST0001"}
    one = find_studies(orthanc.node, StudyQuery(patient="TEST0001", date_from="20240101", date_to="20240131"))
    assert [study.patient_id for study in one] == ["CXRTEST0001"] and one[0].instances == 3
    assert find_studies(orthanc.node, StudyQuery(modality="CT")) == []
    assert find_studies(orthanc.node, StudyQuery(date_from="20250101")) == []
    web = dicomweb.search_studies(orthanc.dicomweb, StudyQuery(patient="TEST0000"))
    assert [study.patient_id for study in web] == ["CXRTEST0000"]


def test_retrieve_score_send_back_and_fetch(orthanc, loaded, engine, bundle_3class, app_port, tmp_path):
    studies = {study.patient_id: study for study in find_studies(orthanc.node, StudyQuery())}
    got = get_study(orthanc.node, studies["CXRTEST0000"].study_uid, tmp_path / "get")
    moved = move_study_here(orthanc.node, studies["CXRTEST0001"].study_uid, tmp_path / "move", port=app_port)
    web = dicomweb.retrieve_study(orthanc.dicomweb, studies["CXRTEST0001"].study_uid, tmp_path / "web")
    assert len(got) == len(moved) == len(web) == 3
    for path in [*got, *moved, *web]:
        original = loaded[str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)]
        assert pydicom.dcmread(path).PixelData == pydicom.dcmread(original).PixelData

    rows = list(screen(got, engine, thresholds=bundle_3class.thresholds, explain=True))
    assert all(row.ok for row in rows)
    sent = {}
    for path, row in zip(got, rows):
        header = pydicom.dcmread(path, stop_before_pixels=True)
        results = write_results(header, row, bundle_3class, tmp_path / "results")
        send_instances(orthanc.node, [results.sr, results.heatmap])
        sent[str(header.SOPInstanceUID)] = (header, row)

    study_uid = studies["CXRTEST0000"].study_uid
    fetched = dicomweb.retrieve_study(orthanc.dicomweb, study_uid, tmp_path / "back")
    reports = [pydicom.dcmread(p) for p in fetched if pydicom.dcmread(p, stop_before_pixels=True).Modality == "SR"]
    heatmaps = [pydicom.dcmread(p) for p in fetched if pydicom.dcmread(p, stop_before_pixels=True).Modality == "OT"]
    assert len(reports) == len(heatmaps) == 3
    meanings = {"covid": "COVID-19", "pneumonia": "Pneumonia", "normal": "No abnormality detected"}
    for report in reports:
        evidence = report.CurrentRequestedProcedureEvidenceSequence[0]
        assert evidence.StudyInstanceUID == study_uid and report.StudyInstanceUID == study_uid
        referenced = evidence.ReferencedSeriesSequence[0].ReferencedSOPSequence[0].ReferencedSOPInstanceUID
        header, row = sent.pop(referenced)
        assert report.SeriesInstanceUID != header.SeriesInstanceUID and report.PatientID == header.PatientID
        assert report.VerificationFlag == "UNVERIFIED"
        found = probabilities_of(report)
        for name, probability in row.probabilities.items():
            assert found[meanings[name]] == pytest.approx(probability, abs=0.01)
    assert not sent
    for heatmap in heatmaps:
        assert heatmap.StudyInstanceUID == study_uid and list(heatmap.ImageType)[:2] == ["DERIVED", "SECONDARY"]
        assert heatmap.SourceImageSequence[0].ReferencedSOPInstanceUID in loaded
        assert "not for primary diagnosis" in heatmap.SeriesDescription.lower()
