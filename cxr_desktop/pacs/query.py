"""Find studies on a node (C-FIND) and bring them here (C-GET, or C-MOVE to a storage SCP)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from pydicom.dataset import Dataset
from pynetdicom import build_role, evt
from pynetdicom.sop_class import (
    StudyRootQueryRetrieveInformationModelFind,
    StudyRootQueryRetrieveInformationModelGet,
    StudyRootQueryRetrieveInformationModelMove,
)
from pynetdicom.status import code_to_category

from cxr_desktop.core.atomic import write_bytes_atomic
from cxr_desktop.pacs.listener import CHEST_IMAGE_CLASSES
from cxr_desktop.pacs.nodes import DEFAULT_AE_TITLE, Node, PacsError, application_entity, associate
from cxr_desktop.pacs.scp import SUCCESS, Received, StorageServer

#: The modalities a chest film is filed under.
CHEST_MODALITIES = ("CR", "DX")


@dataclass(frozen=True)
class StudyQuery:
    """What the user searches by; empty fields match anything. ``patient`` matches name or ID."""

    patient: str = ""
    date_from: str = ""
    date_to: str = ""
    modality: str = ""

    def identifiers(self) -> list[Dataset]:
        """The C-FIND identifiers: one by patient name and, when a patient is given, one by ID."""
        base = Dataset()
        base.QueryRetrieveLevel = "STUDY"
        for keyword in ("StudyInstanceUID", "PatientID", "PatientName", "StudyDescription", "AccessionNumber"):
            setattr(base, keyword, "")
        base.StudyDate = f"{self.date_from}-{self.date_to}" if self.date_from or self.date_to else ""
        base.ModalitiesInStudy = self.modality
        base.NumberOfStudyRelatedInstances = ""
        if not self.patient:
            return [base]
        by_name, by_id = Dataset(), Dataset()
        by_name.update(base)
        by_id.update(base)
        by_name.PatientName = f"*{self.patient}*"
        by_id.PatientID = f"*{self.patient}*"
        return [by_name, by_id]


@dataclass(frozen=True)
class Study:
    study_uid: str
    patient_id: str
    patient_name: str
    date: str
    modalities: str
    description: str
    instances: int


def find_studies(node: Node, query: StudyQuery, calling_ae: str = DEFAULT_AE_TITLE) -> list[Study]:
    """Studies on ``node`` matching ``query`` (C-FIND, study root), each once, newest first."""
    ae = application_entity(calling_ae)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelFind)
    found: dict[str, Study] = {}
    assoc = associate(ae, node)
    try:
        for identifier in query.identifiers():
            for status, match in assoc.send_c_find(identifier, StudyRootQueryRetrieveInformationModelFind):
                _check(status, node, "C-FIND")
                if match is not None and status.Status in (0xFF00, 0xFF01):
                    study = study_from(match)
                    found.setdefault(study.study_uid, study)
    finally:
        assoc.release()
    return sorted(found.values(), key=lambda study: study.date, reverse=True)


def get_study(
    node: Node,
    study_uid: str,
    folder: Path,
    calling_ae: str = DEFAULT_AE_TITLE,
    sop_classes: Sequence[str] = tuple(CHEST_IMAGE_CLASSES),
) -> list[Path]:
    """Retrieve a study's instances into ``folder`` with C-GET; returns the files written."""
    ae = application_entity(calling_ae)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelGet)
    for sop_class in sop_classes:
        ae.add_requested_context(sop_class)
    roles = [build_role(sop_class, scp_role=True) for sop_class in sop_classes]
    written: list[Path] = []

    def on_store(event: evt.Event) -> int:
        path = Path(folder) / study_uid / f"{event.request.AffectedSOPInstanceUID}.dcm"
        write_bytes_atomic(path, event.encoded_dataset(include_meta=True))
        written.append(path)
        return SUCCESS

    assoc = associate(ae, node, ext_neg=roles, evt_handlers=[(evt.EVT_C_STORE, on_store)])
    try:
        for status, _ in assoc.send_c_get(_study_key(study_uid), StudyRootQueryRetrieveInformationModelGet):
            _check(status, node, "C-GET")
    finally:
        assoc.release()
    return written


def move_study(
    node: Node,
    study_uid: str,
    destination_ae: str,
    calling_ae: str = DEFAULT_AE_TITLE,
) -> None:
    """Ask ``node`` to send a study to ``destination_ae`` (C-MOVE); the node must know that AE."""
    ae = application_entity(calling_ae)
    ae.add_requested_context(StudyRootQueryRetrieveInformationModelMove)
    assoc = associate(ae, node)
    try:
        for status, _ in assoc.send_c_move(
            _study_key(study_uid), destination_ae, StudyRootQueryRetrieveInformationModelMove
        ):
            _check(status, node, f"C-MOVE to {destination_ae}")
    finally:
        assoc.release()


def move_study_here(
    node: Node,
    study_uid: str,
    folder: Path,
    *,
    ae_title: str = DEFAULT_AE_TITLE,
    port: int,
    on_received: Callable[[Received], None] = lambda _: None,
) -> list[Path]:
    """C-MOVE a study to a storage SCP started here for the retrieval (``node`` must know it)."""
    received: list[Path] = []

    def keep(item: Received) -> None:
        received.append(item.path)
        on_received(item)

    server = StorageServer(folder, keep, ae_title=ae_title, port=port)
    server.start()
    try:
        move_study(node, study_uid, ae_title, calling_ae=ae_title)
    finally:
        server.stop()
    return received


def _study_key(study_uid: str) -> Dataset:
    key = Dataset()
    key.QueryRetrieveLevel = "STUDY"
    key.StudyInstanceUID = study_uid
    return key


def _check(status: Dataset, node: Node, what: str) -> None:
    if not status:
        raise PacsError(f"{node.label}: {what} got no response (connection lost or timed out)")
    if code_to_category(status.Status) == "Failure":
        comment = status.get("ErrorComment", "")
        raise PacsError(
            f"{node.label}: {what} failed (status 0x{status.Status:04X}{': ' + comment if comment else ''})"
        )


def study_from(match: Dataset) -> Study:
    """A study-level match (C-FIND or QIDO-RS, as a data set) as a ``Study``."""
    modalities = match.get("ModalitiesInStudy", "") or ""
    return Study(
        study_uid=str(match.get("StudyInstanceUID", "")),
        patient_id=str(match.get("PatientID", "")),
        patient_name=str(match.get("PatientName", "")),
        date=str(match.get("StudyDate", "")),
        modalities=modalities if isinstance(modalities, str) else "\\".join(modalities),
        description=str(match.get("StudyDescription", "")),
        instances=int(match.get("NumberOfStudyRelatedInstances", 0) or 0),
    )
