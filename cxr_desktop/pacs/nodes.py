"""Remote DICOM nodes: how one is written down, stored in settings, and checked with C-ECHO."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

from cxr_desktop.core.errors import CxrError

if TYPE_CHECKING:
    from pynetdicom import AE
    from pynetdicom.association import Association

#: The AE title this application calls with and answers to unless told otherwise.
DEFAULT_AE_TITLE = "CXRDESKTOP"

#: Seconds to wait for a remote node to answer before saying it did not.
TIMEOUT_S = 30.0


#: Said when the optional DICOM network packages are missing.
NOT_INSTALLED = "DICOM networking is not installed (pip install .[pacs])"


class PacsError(CxrError):
    """A DICOM network operation failed; the message names the node and what went wrong."""


@dataclass(frozen=True)
class Node:
    """A remote DICOM node (DIMSE) and, where it speaks it, its DICOMweb root URL."""

    ae_title: str
    host: str
    port: int
    name: str = ""
    dicomweb_url: str = ""

    @property
    def label(self) -> str:
        return self.name or f"{self.ae_title}@{self.host}:{self.port}"


def parse_address(text: str) -> Node:
    """``HOST:PORT:AET`` (the ``--forward`` syntax) as a node; a clear error when malformed."""
    parts = text.rsplit(":", 2)
    if len(parts) != 3 or not all(parts):
        raise PacsError(f"{text!r} is not HOST:PORT:AET (e.g. 127.0.0.1:11112:ORTHANC)")
    host, port, ae_title = parts
    return Node(ae_title=check_ae_title(ae_title), host=host, port=check_port(port))


def check_ae_title(text: str) -> str:
    title = text.strip()
    if not 0 < len(title) <= 16 or "\\" in title or not title.isprintable():
        raise PacsError(f"{text!r} is not an AE title (1 to 16 printable characters, no backslash)")
    return title


def check_port(text: str | int) -> int:
    try:
        port = int(text)
    except ValueError:
        raise PacsError(f"port {text!r} is not a number") from None
    if not 0 < port < 65536:
        raise PacsError(f"port {port} is outside 1-65535")
    return port


def nodes_to_json(nodes: list[Node]) -> str:
    return json.dumps([asdict(node) for node in nodes])


def nodes_from_json(text: str) -> list[Node]:
    """Nodes saved by ``nodes_to_json``; entries that no longer parse are dropped, not fatal."""
    try:
        entries = json.loads(text or "[]")
    except json.JSONDecodeError:
        return []
    nodes = []
    for entry in entries if isinstance(entries, list) else []:
        try:
            nodes.append(
                Node(
                    ae_title=check_ae_title(str(entry["ae_title"])),
                    host=str(entry["host"]),
                    port=check_port(entry["port"]),
                    name=str(entry.get("name", "")),
                    dicomweb_url=str(entry.get("dicomweb_url", "")),
                )
            )
        except (KeyError, TypeError, PacsError):
            continue
    return nodes


def application_entity(calling_ae: str = DEFAULT_AE_TITLE) -> AE:
    """An AE calling as ``calling_ae``; pynetdicom is imported here so settings code needs none of it."""
    from pynetdicom import AE

    ae = AE(ae_title=calling_ae)
    ae.acse_timeout = ae.dimse_timeout = ae.network_timeout = TIMEOUT_S
    return ae


def associate(ae: AE, node: Node, **kwargs: Any) -> Association:
    """An established association with ``node``, or a ``PacsError`` saying why there is none."""
    try:
        assoc = ae.associate(node.host, node.port, ae_title=node.ae_title, **kwargs)
    except (OSError, ValueError) as exc:
        raise PacsError(f"{node.label}: cannot connect ({exc})") from exc
    if assoc.is_established:
        return assoc
    if assoc.is_rejected:
        raise PacsError(f"{node.label}: association rejected (is {ae.ae_title} configured on that node?)")
    raise PacsError(f"{node.label}: no answer from {node.host}:{node.port} (not running, or a firewall)")


def echo(node: Node, calling_ae: str = DEFAULT_AE_TITLE) -> None:
    """C-ECHO ``node``; returns quietly when it answers, raises ``PacsError`` saying what failed."""
    from pynetdicom.sop_class import Verification

    ae = application_entity(calling_ae)
    ae.add_requested_context(Verification)
    assoc = associate(ae, node)
    try:
        status = assoc.send_c_echo()
    finally:
        assoc.release()
    if not status or status.Status != 0x0000:
        raise PacsError(f"{node.label}: C-ECHO failed ({_status_text(status)})")


def _status_text(status: object) -> str:
    code = getattr(status, "Status", None)
    return "no response" if code is None else f"status 0x{code:04X}"
