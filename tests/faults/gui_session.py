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


def wait_for(signal, seconds: float) -> bool:
    """Spin the event loop until ``signal`` fires or ``seconds`` pass; True when it fired."""
    loop, fired = QEventLoop(), []
    signal.connect(lambda *_: (fired.append(True), loop.quit()))
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec_()
    return bool(fired)


def main(ini: str, seconds: str, model_a: str, model_b: str, switches: str) -> int:
    app = create_application()
    window = MainWindow(AppSettings.at(ini), model=model_a)
    window.show()
    started = time.monotonic()
    if not wait_for(window.model_ready, 180):
        print("model never loaded", file=sys.stderr)
        return 3
    window.open_paths(sorted(samples_dir().glob("*.jpg")))
    wait_for(window.batch_completed, 120)
    for index in range(int(switches)):
        action = window.model_actions[(model_b, model_a)[index % 2]]
        action.trigger()
        if not wait_for(window.model_ready, 180):
            print(f"model switch {index + 1} never finished", file=sys.stderr)
            return 4
        window.open_image(sorted(samples_dir().glob("*.jpg"))[index])
        wait_for(window.result_displayed, 60)
    remaining = float(seconds) - (time.monotonic() - started)
    if remaining > 0:
        QTimer.singleShot(int(remaining * 1000), app.quit)
        app.exec_()
    window.close()
    print("session finished", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
