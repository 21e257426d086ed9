"""Coded concepts for the structured results: the findings in SNOMED CT, units in UCUM."""

from __future__ import annotations

from highdicom.sr import CodedConcept

#: What each bundled class means, in SNOMED CT.
FINDINGS = {
    "covid": CodedConcept("840539006", "SCT", "COVID-19"),
    "pneumonia": CodedConcept("233604007", "SCT", "Pneumonia"),
    "normal": CodedConcept("281900007", "SCT", "No abnormality detected"),
}

#: A probability in [0, 1]: dimensionless, annotated so a reader knows what the number is.
PROBABILITY = CodedConcept("{probability}", "UCUM", "probability")

#: The procedure the report is about.
CHEST_RADIOGRAPH = CodedConcept("399208008", "SCT", "Plain chest X-ray")

#: The scheme of classes a custom bundle names that SNOMED CT is not mapped for here.
LOCAL_SCHEME = "99CXRDESKTOP"


def finding(class_name: str) -> CodedConcept:
    """The class's SNOMED CT code, or a local code for classes of custom bundles."""
    return FINDINGS.get(class_name) or CodedConcept(class_name[:16].upper(), LOCAL_SCHEME, class_name)
