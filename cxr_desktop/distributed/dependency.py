"""Dask is an optional extra: a missing install is a clear message, never an ImportError traceback."""

from __future__ import annotations

from types import ModuleType

from cxr_desktop.core.errors import CxrError

INSTALL_HINT = "pip install .[distributed]"


def import_distributed() -> ModuleType:
    """``dask.distributed`` (it imports dask), or a ``CxrError`` naming the extra to install."""
    try:
        import distributed
    except ImportError as exc:
        raise CxrError(
            f"--backend dask needs Dask distributed, which is not installed here ({exc.name or 'dask'} missing):"
            f" {INSTALL_HINT}"
        ) from None
    return distributed
