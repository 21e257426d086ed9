"""The scored film as a DICOM Structured Report (TID 1500 Measurement Report, built with highdicom).

Same patient and study as the film, a new series; one numeric measurement per class probability,
the headline finding as a coded qualitative evaluation, the model as the algorithm, and the report
left UNVERIFIED: no reader has signed it.
"""

from __future__ import annotations

from highdicom.sr import (
    AlgorithmIdentification,
    CodedConcept,
    DeviceObserverIdentifyingAttributes,
    EnhancedSR,
    Measurement,
    MeasurementReport,
    MeasurementsAndQualitativeEvaluations,
    ObservationContext,
    ObserverContext,
    QualitativeEvaluation,
    SourceImageForMeasurementGroup,
    TrackingIdentifier,
)
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import generate_uid

from cxr_desktop import __version__
from cxr_desktop.core.bundle import ModelBundle
from cxr_desktop.core.scoring import ScreeningRow
from cxr_desktop.pacs import codes as cxr_codes

MANUFACTURER = "CXR Desktop"

#: Series numbers of the objects this application writes into a study (high, to sort after the films).
SR_SERIES_NUMBER = 9901
HEATMAP_SERIES_NUMBER = 9902

#: DCM 121071 "Finding": the concept name of the headline.
FINDING = CodedConcept("121071", "DCM", "Finding")


def algorithm(bundle: ModelBundle) -> AlgorithmIdentification:
    return AlgorithmIdentification(name=bundle.name, version=bundle.version)


def build_sr(source: Dataset, row: ScreeningRow, bundle: ModelBundle) -> EnhancedSR:
    """The report of ``row`` (scored from ``source``), referencing ``source`` as its evidence."""
    device = DeviceObserverIdentifyingAttributes(
        uid=generate_uid(), name="CXR Desktop", manufacturer_name=MANUFACTURER, model_name=bundle.title
    )
    context = ObservationContext(
        observer_person_context=None,
        observer_device_context=ObserverContext(observer_type=codes.DCM.Device, observer_identifying_attributes=device),
    )
    model = algorithm(bundle)
    measurements = [
        Measurement(name=cxr_codes.finding(name), value=float(p), unit=cxr_codes.PROBABILITY, algorithm_id=model)
        for name, p in row.probabilities.items()
    ]
    group = MeasurementsAndQualitativeEvaluations(
        tracking_identifier=TrackingIdentifier(uid=generate_uid(), identifier=f"{bundle.title} result"),
        algorithm_id=model,
        measurements=measurements,
        qualitative_evaluations=[QualitativeEvaluation(FINDING, cxr_codes.finding(row.prediction))],
        source_images=[SourceImageForMeasurementGroup.from_source_image(source)],
    )
    report = MeasurementReport(
        observation_context=context,
        procedure_reported=cxr_codes.CHEST_RADIOGRAPH,
        imaging_measurements=[group],
    )
    return EnhancedSR(
        evidence=[source],
        content=report,
        series_instance_uid=generate_uid(),
        series_number=SR_SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        is_complete=True,
        is_final=False,
        is_verified=False,
        series_description="CXR Desktop result, unverified decision support",
        software_versions=__version__,
    )


def probabilities_of(sr: Dataset) -> dict[str, float]:
    """Class meaning -> probability as stored in a report from ``build_sr`` (for checks and tests)."""
    found: dict[str, float] = {}
    for group in _items(sr, "Imaging Measurements"):
        for item in getattr(group, "ContentSequence", []):
            if item.ValueType == "NUM":
                name = item.ConceptNameCodeSequence[0].CodeMeaning
                found[name] = float(item.MeasuredValueSequence[0].NumericValue)
    return found


def _items(sr: Dataset, meaning: str) -> list[Dataset]:
    for item in sr.ContentSequence:
        if item.ConceptNameCodeSequence[0].CodeMeaning == meaning:
            return [group for group in item.ContentSequence]
    return []
