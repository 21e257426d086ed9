"""Screening a folder on a Dask distributed cluster: ``cxr-desktop screen FOLDER --backend dask``.

A hospital archive (tens of thousands of films) outgrows one workstation; this package spreads the
same screening loop (``core.screening.screen``, hence ``core.scoring``) over Dask workers and writes
the same CSV, in the same order, with the same writer as a serial run. Nothing here is imported by
the default single-machine path, and dask itself is imported only when a distributed run starts
(``dependency.import_distributed``), so the app needs no new dependency.
"""
