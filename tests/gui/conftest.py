"""GUI fixtures: a window factory with private settings that checks at teardown that nothing leaked."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("PyQt5")

MODEL_TIMEOUT_MS = 120_000


@pytest.fixture
def settings_file(tmp_path: Path) -> Path:
    """Each test gets its own INI file, so no test reads or writes the user's real settings."""
    return tmp_path / "settings" / "cxr-desktop.ini"


@pytest.fixture(autouse=True)
def private_user_folders(tmp_path: Path, monkeypatch) -> Path:
    """Audit trail and pseudonymisation key go to the test's folder, never the user's."""
    home = tmp_path / "cxr-home"
    monkeypatch.setenv("CXR_HOME", str(home))
    monkeypatch.setenv("CXR_AUDIT_DIR", str(home / "audit"))
    return home


@pytest.fixture
def make_window(qtbot, qapp, settings_file, tiny_bundle):
    """Build a themed ``MainWindow`` (tiny bundle unless told otherwise) with its model loaded.

    At teardown every window is closed and its worker thread must have stopped.
    """
    from cxr_desktop.ui.app import create_application
    from cxr_desktop.ui.main_window import MainWindow
    from cxr_desktop.ui.settings import AppSettings

    create_application()
    windows: list = []

    def factory(model: str | Path | None = None, wait_for_model: bool = True, ini: Path | None = None):
        settings = AppSettings.at(ini or settings_file)
        chosen = (
            str(model)
            if model is not None
            else (None if settings.store.contains("model/name") else str(tiny_bundle.folder))
        )
        window = MainWindow(settings, model=chosen)
        qtbot.addWidget(window)
        windows.append(window)
        if wait_for_model:
            with qtbot.waitSignal(window.model_ready, timeout=MODEL_TIMEOUT_MS):
                window.show()
        else:
            window.show()
        return window

    yield factory
    for window in windows:
        window.close()
        assert not window.host.thread.isRunning(), "the engine thread outlived its window"
