"""``cxr-desktop.log``: owner-only, rotated, and without patient paths unless the user keeps them.

Before the fix the log was a plain ``FileHandler``: 0644, unbounded, every path written as found, and
a file name that is not UTF-8 made logging print its own traceback to the terminal.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import stat
from pathlib import Path

import pytest

from cxr_desktop.core import app_log


@pytest.fixture
def log_to(tmp_path, monkeypatch):
    monkeypatch.setenv("CXR_HOME", str(tmp_path / "home"))
    app_log.set_identifiers("pseudonymise")  # an in-process CLI run before may have asked to keep paths
    logger = logging.getLogger("cxr-fault-test")
    logger.propagate = False
    handlers = []

    def attach(path, max_bytes=app_log.MAX_BYTES):
        monkeypatch.setattr(app_log, "MAX_BYTES", max_bytes)
        handler = app_log.file_handler(path)
        logger.addHandler(handler)
        handlers.append(handler)
        return logger

    yield attach
    for handler in handlers:
        logger.removeHandler(handler)
        handler.close()
    app_log.set_identifiers("pseudonymise")


def test_log_is_private_and_names_no_patient(log_to, tmp_path, sample_images):
    path = tmp_path / "cxr-desktop.log"
    path.write_text("older line\n")
    os.chmod(path, 0o644)
    film = tmp_path / "Smith_John_1950-01-01" / "chest.jpg"
    logger = log_to(path)
    logger.warning("unexpected failure reading %s", film)
    try:
        raise OSError(2, "No such file or directory", str(film))
    except OSError:
        logger.exception("unexpected failure on %s", film)
    text = path.read_text(encoding="utf-8")
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert "Smith_John" not in text and "chest.jpg" not in text
    assert text.count("anon-") >= 3


def test_the_user_may_keep_paths(log_to, tmp_path):
    path = tmp_path / "cxr-desktop.log"
    app_log.set_identifiers("keep")
    log_to(path).warning("reading %s", tmp_path / "Smith_John.jpg")
    assert "Smith_John.jpg" in path.read_text(encoding="utf-8")


def test_log_rotates_and_survives_names_that_are_not_utf8(log_to, tmp_path, capsys):
    path = tmp_path / "cxr-desktop.log"
    app_log.set_identifiers("keep")
    logger = log_to(path, max_bytes=4_000)
    odd = tmp_path / os.fsdecode(b"caf\xe9.jpg")
    for index in range(200):
        logger.warning("line %d about %s", index, odd)
    assert "Logging error" not in capsys.readouterr().err
    files = sorted(p.name for p in tmp_path.glob("cxr-desktop.log*"))
    assert files == ["cxr-desktop.log", *(f"cxr-desktop.log.{n}" for n in range(1, app_log.BACKUPS + 1))]
    assert all(stat.S_IMODE(p.stat().st_mode) == 0o600 for p in tmp_path.glob("cxr-desktop.log*"))
    assert all(p.stat().st_size <= 4_000 for p in tmp_path.glob("cxr-desktop.log*"))
    assert "caf\\xe9.jpg" in path.read_text(encoding="utf-8")


def _log_lines(path: str, worker: int, start) -> None:
    logger = logging.getLogger(f"cxr-fault-rotation-{worker}")
    logger.propagate = False
    app_log.MAX_BYTES = 3_000
    logger.addHandler(app_log.file_handler(Path(path)))
    start.wait()
    for index in range(3000):
        logger.warning("worker %d line %d", worker, index)


def test_two_processes_rotating_the_log_at_once_print_no_logging_error(tmp_path, capfd):
    context = multiprocessing.get_context("fork")
    start = context.Event()
    path = str(tmp_path / "cxr-desktop.log")
    writers = [context.Process(target=_log_lines, args=(path, worker, start)) for worker in (1, 2)]
    for process in writers:
        process.start()
    start.set()
    for process in writers:
        process.join(60)
        assert process.exitcode == 0
    assert "Logging error" not in capfd.readouterr().err
