"""C-STORE of the objects this application writes (report, heat-map) to a remote node."""

from __future__ import annotations

from collections.abc import Sequence

from pydicom.dataset import Dataset

from cxr_desktop.pacs.nodes import DEFAULT_AE_TITLE, Node, PacsError, application_entity, associate


def send_instances(node: Node, datasets: Sequence[Dataset], calling_ae: str = DEFAULT_AE_TITLE) -> None:
    """Send every data set in one association; ``PacsError`` names the first one refused."""
    if not datasets:
        return
    ae = application_entity(calling_ae)
    for sop_class in dict.fromkeys(str(ds.SOPClassUID) for ds in datasets):
        syntaxes = dict.fromkeys(str(ds.file_meta.TransferSyntaxUID) for ds in datasets if ds.SOPClassUID == sop_class)
        ae.add_requested_context(sop_class, list(syntaxes))
    assoc = associate(ae, node)
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            code = getattr(status, "Status", None)
            if code is None or code not in (0x0000, 0xB000, 0xB006, 0xB007):
                shown = "no response" if code is None else f"status 0x{code:04X}"
                raise PacsError(f"{node.label}: C-STORE of {ds.SOPClassUID.name} refused ({shown})")
    finally:
        assoc.release()
