"""Patient identifiers in exports: keep, pseudonymise or omit the image path.

File and folder names on a clinic's shared drive routinely contain patient names, ids and dates,
so the path is the identifier an exported CSV carries. Three modes:

- ``keep``: the path as found (for files that stay on the workstation);
- ``pseudonymise``: a stable pseudonym ``anon-<16 hex>``, a keyed HMAC-SHA256 of the absolute path
  with a secret generated once per installation and kept in the user's data folder. The same file
  gets the same pseudonym on every run of this installation, so results can be compared over time,
  but nobody without the key can recover the path or test a guess. The local audit trail records
  each pseudonym beside its real path: that is where a result is traced back to its image;
- ``omit``: an empty path.

The file content hash (``sha256`` column) is kept in every mode: it identifies an image only to
someone who already holds the file.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
from pathlib import Path
from typing import Callable

from cxr_desktop.core.errors import CxrError

IDENTIFIER_MODES = ("keep", "pseudonymise", "omit")
KEY_FILE = "pseudonym.key"
KEY_BYTES = 32
PREFIX = "anon-"


class PrivacyError(CxrError):
    """The pseudonymisation key cannot be created or read."""


def key_path() -> Path:
    from cxr_desktop.core.appdirs import user_data_dir

    return user_data_dir() / KEY_FILE


def installation_key(path: Path | None = None) -> bytes:
    """Read the installation's secret, creating it (owner-readable only) on first use.

    A damaged key is an error rather than silently replaced: a new key would give every image a
    new pseudonym and break comparisons with earlier exports.
    """
    path = path or key_path()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    except OSError as exc:
        raise PrivacyError(f"cannot create the pseudonymisation key ({exc.strerror or exc})", path) from None
    else:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_hex(KEY_BYTES) + "\n")
    try:
        text = path.read_text(encoding="ascii").strip()
        key = bytes.fromhex(text)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise PrivacyError(f"pseudonymisation key cannot be read ({exc})", path) from None
    if len(key) < 16:
        raise PrivacyError("pseudonymisation key is too short (damaged file?)", path)
    return key


def canonical_path(path: str | Path) -> str:
    """Absolute, normalised path text (no symlink resolution: a loop must not hang an export)."""
    return os.path.normcase(os.path.abspath(os.fspath(path)))


def display_path(path: str | Path) -> str:
    """The path as text that any UTF-8 writer accepts: bytes that are not UTF-8 shown as ``\\xff``.

    Python keeps such bytes of a file name as lone surrogates; strict UTF-8 writers (CSV, Qt,
    logging) then raise, which stopped a batch and aborted the GUI.
    """
    return os.fsencode(os.fspath(path)).decode("utf-8", "backslashreplace")


def pseudonym(path: str | Path, key: bytes) -> str:
    digest = hmac.new(key, canonical_path(path).encode("utf-8", "surrogateescape"), hashlib.sha256)
    return PREFIX + digest.hexdigest()[:16]


def path_labeller(mode: str, key: bytes | None = None) -> Callable[[Path], str]:
    """What goes into an export's ``path`` column for each image, per identifier mode."""
    if mode == "keep":
        return display_path
    if mode == "omit":
        return lambda _path: ""
    if mode == "pseudonymise":
        secret = key if key is not None else installation_key()
        return lambda path: pseudonym(path, secret)
    raise ValueError(f"identifiers must be one of {', '.join(IDENTIFIER_MODES)}, not {mode!r}")
