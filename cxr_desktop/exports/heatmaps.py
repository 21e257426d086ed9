"""Heat-map overlay files for scored rows (``cxr-desktop screen --heatmaps``).

One file per input path, named so that two inputs can never share a file (the GUI once showed
another patient's overlay when ``sub/x.jpg`` and ``sub__x.jpg`` both became ``sub__x.jpg...``)
and so that a name carries no more identity than the CSV's path column does in the same mode.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from pathlib import Path

from cxr_desktop.core.atomic import write_png_atomic
from cxr_desktop.core.image import reduce
from cxr_desktop.core.overlay import heatmap_to_image, render_overlay
from cxr_desktop.core.privacy import IDENTIFIER_MODES, pseudonym
from cxr_desktop.core.scoring import ScreeningRow

SUFFIX = ".gradcam.png"

#: Overlay files are rendered with their longer side at most this long: blending a 4000 x 4000 film
#: in float32 RGB took 0.9 GB for a picture no screen shows at that size.
MAX_OVERLAY_SIDE = 2048

#: Room left under the usual 255-byte file-name limit for the suffix and the hash of a long name.
_MAX_READABLE_BYTES = 180


def heatmap_name(
    path: Path, root: Path | None = None, *, identifiers: str = "keep", key: bytes | None = None, sha256: str = ""
) -> str:
    """The overlay's file name for ``path`` under the identifier mode of the CSV beside it.

    ``keep``: the path below ``root``, flattened with ``%2F`` for each ``/`` (and ``%25`` for a
    ``%``, so the flattening is one-to-one); a name too long for a file system keeps its start and
    gets a hash of the whole path. ``pseudonymise``: the row's pseudonym, as in the CSV. ``omit``:
    the file's content hash (``sha256``), which ties the overlay to the CSV's ``sha256`` column and
    nothing else; two copies of one film share it, and their overlays are the same picture.
    """
    if identifiers not in IDENTIFIER_MODES:
        raise ValueError(f"identifiers must be one of {', '.join(IDENTIFIER_MODES)}, not {identifiers!r}")
    if identifiers == "pseudonymise":
        if key is None:
            raise ValueError("pseudonymised heat-map names need the installation key")
        return pseudonym(path, key) + SUFFIX
    if identifiers == "omit":
        if not sha256:
            raise ValueError("heat-map names without identifiers need the film's content hash")
        return "sha256-" + sha256[:32] + SUFFIX
    relative = path.relative_to(root) if root is not None and path.is_relative_to(root) else Path(path.name)
    flat = relative.as_posix().replace("%", "%25").replace("/", "%2F")
    encoded = os.fsencode(flat)
    if len(encoded) > _MAX_READABLE_BYTES:
        digest = hashlib.sha256(encoded).hexdigest()[:16]
        flat = os.fsdecode(encoded[:_MAX_READABLE_BYTES]) + "~" + digest
    return flat + SUFFIX


def write_heatmap(
    row: ScreeningRow,
    folder: Path,
    root: Path | None = None,
    *,
    identifiers: str = "keep",
    key: bytes | None = None,
) -> Path:
    """Write the overlay explaining the row's predicted class; the row must hold its radiograph and maps."""
    if row.radiograph is None:
        raise ValueError(f"{row.path.name}: the row no longer holds its image")
    pixels = row.radiograph.pixels
    pixels = reduce(pixels, -(-max(pixels.shape[:2]) // MAX_OVERLAY_SIDE))
    heatmap = heatmap_to_image(row.cam(row.prediction), pixels.shape[1], pixels.shape[0])
    target = folder / heatmap_name(row.path, root, identifiers=identifiers, key=key, sha256=row.sha256)
    write_png_atomic(target, render_overlay(pixels, heatmap))
    return target


#: Write failures that concern the whole folder, not one file: after the first, no more are tried.
_FOLDER_ERRORS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EIO})


class HeatmapFolder:
    """Writes a batch's overlays into one folder; a full or read-only folder stops them, not the batch.

    A full disk once made every row an error. Now the first folder-wide failure is noted on that
    row, kept in ``failure`` for the caller to report once, and later rows are scored as usual
    without an overlay.
    """

    def __init__(self, folder: Path, root: Path | None, *, identifiers: str = "keep", key: bytes | None = None) -> None:
        self.folder, self.root, self.identifiers, self.key = folder, root, identifiers, key
        self.written = 0
        self.failure = ""

    def write(self, row: ScreeningRow) -> None:
        if self.failure or not row.ok:
            return
        try:
            row.heatmap_path = write_heatmap(row, self.folder, self.root, identifiers=self.identifiers, key=self.key)
        except OSError as exc:
            reason = f"heat-map not written ({exc.strerror or exc})"
            row.message = "; ".join(filter(None, (row.message, reason)))
            if exc.errno in _FOLDER_ERRORS:
                self.failure = f"{exc.strerror or exc} in {self.folder}"
            return
        self.written += 1


def check_writable(folder: Path) -> None:
    """Raise ``OSError`` now when ``folder`` cannot take files (read-only, no permission, missing parent)."""
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=folder, prefix=".cxr-write-test-"):
        pass
