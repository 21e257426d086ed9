"""A DICOM Storage SCP that keeps every instance it acknowledges, whole, before it says so.

Each C-STORE is written to ``store/<Study UID>/<SOP Instance UID>.dcm`` through an atomic rename
and only then answered with Success, so a sender that drops mid-association (pynetdicom never
hands over a partial data set) or a crash mid-write leaves no half-stored file: the sender still
holds the instance and sends it again. What to do with a stored instance is the caller's
(``on_received``), called in the association's thread after the file is safe.
"""

from __future__ import annotations

import logging
import re
import ssl
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

from pynetdicom import AE, AllStoragePresentationContexts, evt
from pynetdicom.sop_class import Verification
from pynetdicom.transport import ThreadedAssociationServer

from cxr_desktop.core.atomic import write_bytes_atomic
from cxr_desktop.pacs.nodes import DEFAULT_AE_TITLE, PacsError

log = logging.getLogger(__name__)

#: C-STORE statuses (PS3.4 B.2.3).
SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
CANNOT_UNDERSTAND = 0xC000

_UID = re.compile(r"^[0-9]+(\.[0-9]+)*$")


@dataclass(frozen=True)
class Received:
    """One instance stored: where, from whom, and the identifiers the log and the results need."""

    path: Path
    calling_ae: str
    sop_class_uid: str
    sop_instance_uid: str
    study_uid: str
    received_at: str


class StorageServer:
    """Storage SCP (every storage SOP class, as a full storage SCP must) plus Verification (C-ECHO).

    ``allow``: calling AE titles accepted (empty: any). ``host`` is 127.0.0.1 by default, so only
    this computer can send until the listener is told otherwise. ``ssl_context`` wraps every
    association in TLS (pynetdicom's ``ssl_context``).
    """

    def __init__(
        self,
        store: Path,
        on_received: Callable[[Received], None],
        *,
        ae_title: str = DEFAULT_AE_TITLE,
        host: str = "127.0.0.1",
        port: int = 11112,
        allow: Sequence[str] = (),
        ssl_context: ssl.SSLContext | None = None,
        max_associations: int = 8,
    ) -> None:
        self.store = Path(store)
        self.on_received = on_received
        self.ae = AE(ae_title=ae_title)
        self.ae.supported_contexts = AllStoragePresentationContexts
        self.ae.add_supported_context(Verification)
        self.ae.require_calling_aet = list(allow)
        self.ae.maximum_associations = max_associations
        self.address = (host, port)
        self.ssl_context = ssl_context
        self.server: ThreadedAssociationServer | None = None
        self._lock = threading.Lock()

    @property
    def port(self) -> int:
        """The port listened on (the one the system chose when started on port 0)."""
        if self.server is None:
            return self.address[1]
        return int(self.server.server_address[1])

    def start(self) -> None:
        try:
            self.server = self.ae.start_server(
                self.address,
                block=False,
                ssl_context=self.ssl_context,
                evt_handlers=[(evt.EVT_C_STORE, self._on_store)],
            )
        except OSError as exc:
            raise PacsError(f"cannot listen on {self.address[0]}:{self.address[1]} ({exc})") from exc

    def stop(self) -> None:
        if self.server is not None:
            self.server.shutdown()
            self.server = None

    def _on_store(self, event: evt.Event) -> int:
        request = event.request
        sop_instance = str(request.AffectedSOPInstanceUID)
        try:
            dataset = event.dataset
            study = str(dataset.get("StudyInstanceUID", ""))
        except Exception as exc:  # noqa: BLE001 - a data set that does not decode is refused, not stored
            log.warning("C-STORE of %s refused: data set does not decode (%s)", sop_instance, exc)
            return CANNOT_UNDERSTAND
        if not _UID.match(sop_instance) or not _UID.match(study):
            log.warning("C-STORE refused: invalid SOP Instance UID %r or Study UID %r", sop_instance, study)
            return CANNOT_UNDERSTAND
        path = self.store / study / f"{sop_instance}.dcm"
        try:
            write_bytes_atomic(path, event.encoded_dataset(include_meta=True))
        except OSError as exc:
            log.error("C-STORE of %s not stored: %s", sop_instance, exc)
            return OUT_OF_RESOURCES
        received = Received(
            path=path,
            calling_ae=str(event.assoc.requestor.ae_title).strip(),
            sop_class_uid=str(request.AffectedSOPClassUID),
            sop_instance_uid=sop_instance,
            study_uid=study,
            received_at=datetime.now(timezone.utc).isoformat(timespec="milliseconds"),
        )
        with self._lock:
            self.on_received(received)
        return SUCCESS
