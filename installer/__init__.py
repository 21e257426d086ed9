"""Packaging: the ``cxr-build`` command that turns the source tree into the one-folder app."""
