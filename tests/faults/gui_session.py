"""Run the real window for a while, screen the samples and switch models from the menu.

Started as a separate process by ``test_gui_start.py``: a crash inside Qt or the driver (SIGSEGV,
SIGABRT) then shows as the exit status instead of taking the test run down with it.
Usage: ``python tests/faults/gui_session.py SETTINGS_INI SECONDS MODEL_A MODEL_B SWITCHES``.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from PyQt5.QtCore import QEventLoop, QTimer

from cxr_desktop.core.resources import samples_dir
from cxr_desktop.ui.app import create_application
from cxr_desktop.ui.main_window import MainWindow
from cxr_desktop.ui.settings import AppSettings

#: Generous: a model load takes ~5 s alone, minutes on a shared 2-core machine.
LOAD_S = 600


def wait_for(signal, seconds: float) -> bool:
    """Spin the event loop until ``signal`` fires or ``seconds`` pass; True when it fired."""
    loop, fired = QEventLoop(), []
    signal.connect(lambda *_: (fired.append(True), loop.quit()))
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec_()
    return bool(fired)


def run(app, window, seconds: float, model_a: str, model_b: str, switches: int) -> int:
    started = time.monotonic()
    if not wait_for(window.model_ready, LOAD_S):
        print("model never loaded", file=sys.stderr)
        return 3
    films = sorted(samples_dir().glob("*.jpg"))
    window.open_paths(films)
    wait_for(window.batch_completed, LOAD_S)
    for index in range(switches):
        window.models.actions[(model_b, model_a)[index % 2]].trigger()
        if not wait_for(window.model_ready, LOAD_S):
            print(f"model switch {index + 1} never finished", file=sys.stderr)
            return 4
        window.open_image(films[index % len(films)])
        wait_for(window.result_displayed, LOAD_S)
    remaining = seconds - (time.monotonic() - started)
    if remaining > 0:
        QTimer.singleShot(int(remaining * 1000), app.quit)
        app.exec_()
    return 0


def main(ini: str, seconds: str, model_a: str, model_b: str, switches: str) -> int:
    app = create_application()
    window = MainWindow(AppSettings.at(ini), model=model_a)
    window.show()
    try:
        return run(app, window, float(seconds), model_a, model_b, int(switches))
    finally:
        window.close()
        print("session finished", file=sys.stderr)


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
