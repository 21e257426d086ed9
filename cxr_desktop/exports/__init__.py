"""Writers of results: they take scored rows (``core.scoring.ScreeningRow``), never an engine."""
