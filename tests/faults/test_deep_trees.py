"""Deep, long and unreadable folders: every film found, and what cannot be listed is a row saying why.

Before the fix ``os.walk`` recursed (a 1,100-deep tree raised ``RecursionError``) and swallowed the
errors of folders it could not list: an unreadable sub-folder, or one whose path is longer than the
system allows, vanished from the results without a row.
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from cxr_desktop.core import screening
from cxr_desktop.core.screening import find_images, screen


def _nest(top: Path, names: list[str], film: Path) -> Path:
    """Create ``top/names[0]/names[1]/...`` one level at a time (``os.makedirs`` itself recurses and
    fails past the path limit) and copy ``film`` into the deepest folder; returns its path text."""
    fd = os.open(top, os.O_RDONLY)
    try:
        for name in names:
            os.mkdir(name, dir_fd=fd)
            inner = os.open(name, os.O_RDONLY, dir_fd=fd)
            os.close(fd)
            fd = inner
        target = os.open(film.name, os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        with open(target, "wb") as handle:
            handle.write(film.read_bytes())
    finally:
        os.close(fd)
    return top.joinpath(*names, film.name)


def _remove_nested(top: Path, names: list[str], film: str) -> None:
    """Delete what ``_nest`` made, bottom up through folder descriptors: pytest's own clean-up
    (``shutil.rmtree``) recurses once per level and would fail on the 1,100-deep tree."""
    fds = [os.open(top, os.O_RDONLY)]
    try:
        for name in names:
            fds.append(os.open(name, os.O_RDONLY, dir_fd=fds[-1]))
        os.unlink(film, dir_fd=fds[-1])
        for name in reversed(names):
            os.close(fds.pop())
            os.rmdir(name, dir_fd=fds[-1])
    finally:
        for fd in fds:
            os.close(fd)


def test_a_1100_deep_tree_is_walked_and_its_film_scored(tmp_path, sample_images, tiny_engine, tiny_bundle):
    names = ["d"] * 1100
    deepest = _nest(tmp_path, names, sample_images[0])
    shutil.copy(sample_images[1], tmp_path / "top.jpg")
    try:
        found = find_images(tmp_path)
        assert found == [tmp_path / "top.jpg", deepest]
        rows = list(screen(found, tiny_engine, thresholds=tiny_bundle.thresholds))
        assert [row.status for row in rows] == ["ok", "ok"]
    finally:
        _remove_nested(tmp_path, names, sample_images[0].name)


def test_a_path_too_long_to_open_is_an_error_row(tmp_path, sample_images, tiny_engine, tiny_bundle):
    names = [f"{index:02d}-" + "x" * 200 for index in range(24)]
    _nest(tmp_path, names, sample_images[0])
    found = find_images(tmp_path)
    assert len(found) == 1 and len(os.fsencode(found[0])) > 4096 - 256
    (row,) = screen(found, tiny_engine, thresholds=tiny_bundle.thresholds)
    assert row.status == "error" and "path too long" in row.message, row.message
    assert "not screened" in row.message or "rename the folders" in row.message


def test_an_unreadable_folder_is_an_error_row(tmp_path, sample_images, tiny_engine, tiny_bundle, monkeypatch):
    (tmp_path / "locked").mkdir()
    shutil.copy(sample_images[0], tmp_path / "locked" / "hidden.jpg")
    shutil.copy(sample_images[1], tmp_path / "open.jpg")
    locked = tmp_path / "locked"
    real = os.scandir

    def scandir(path):
        if Path(path) == locked:  # as chmod 000 would, for a user other than root
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        return real(path)

    monkeypatch.setattr(screening.os, "scandir", scandir)
    found = find_images(tmp_path)
    assert found == [tmp_path / "open.jpg", locked]
    from cxr_desktop.core import radiograph

    monkeypatch.setattr(radiograph.os, "scandir", scandir)
    rows = list(screen(found, tiny_engine, thresholds=tiny_bundle.thresholds))
    assert [row.status for row in rows] == ["ok", "error"]
    assert rows[1].path == locked
    assert "folder cannot be listed (permission denied)" in rows[1].message


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads any folder whatever its permissions")
def test_a_chmod_000_folder_is_an_error_row(tmp_path, sample_images):
    locked = tmp_path / "locked"
    locked.mkdir()
    shutil.copy(sample_images[0], locked / "hidden.jpg")
    locked.chmod(0)
    try:
        assert find_images(tmp_path) == [locked]
    finally:
        locked.chmod(0o755)
