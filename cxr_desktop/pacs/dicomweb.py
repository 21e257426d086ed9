"""The same search and retrieval over DICOMweb (QIDO-RS, WADO-RS) for servers that speak it."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

import requests
from dicomweb_client.api import DICOMwebClient
from pydicom.dataset import Dataset

from cxr_desktop.pacs.nodes import TIMEOUT_S, PacsError
from cxr_desktop.pacs.query import Study, StudyQuery, study_from


def client(url: str) -> DICOMwebClient:
    return DICOMwebClient(url=url)


def search_studies(url: str, query: StudyQuery) -> list[Study]:
    """QIDO-RS study search with the same fields as the C-FIND search.

    The query string is built here, not by dicomweb-client, because its URL encoding turns the
    ``*`` wildcard into ``%2A``, which Orthanc 1.10 then matches literally (nothing found).
    """
    filters: dict[str, str] = {}
    if query.date_from or query.date_to:
        filters["StudyDate"] = f"{query.date_from}-{query.date_to}"
    if query.modality:
        filters["ModalitiesInStudy"] = query.modality
    searches = [{**filters, "PatientName": f"*{query.patient}*"}, {**filters, "PatientID": f"*{query.patient}*"}]
    found: dict[str, Study] = {}
    for search in searches if query.patient else [filters]:
        fields = "&".join(f"{key}={quote(value, safe='*')}" for key, value in search.items())
        try:
            response = requests.get(
                f"{url.rstrip('/')}/studies?{fields}", headers={"Accept": "application/dicom+json"}, timeout=TIMEOUT_S
            )
            response.raise_for_status()
            matches = response.json() if response.content else []
        except (requests.RequestException, ValueError) as exc:
            raise PacsError(f"{url}: DICOMweb search failed ({exc})") from exc
        for match in matches:
            study = study_from(Dataset.from_json(match))
            found.setdefault(study.study_uid, study)
    return sorted(found.values(), key=lambda study: study.date, reverse=True)


def retrieve_study(url: str, study_uid: str, folder: Path) -> list[Path]:
    """WADO-RS retrieval of a study's instances into ``folder``; returns the files written."""
    try:
        instances = client(url).retrieve_study(study_uid)
    except (requests.RequestException, OSError) as exc:
        raise PacsError(f"{url}: DICOMweb retrieval of study {study_uid} failed ({exc})") from exc
    written = []
    for ds in instances:
        path = Path(folder) / study_uid / f"{ds.SOPInstanceUID}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        written.append(path)
    return written
