"""A full disk or a read-only folder for the outputs: scores are kept, the failure is said once and clearly.

``ENOSPC`` is raised at the write call of the heat-map files (the bytes are about to reach the
disk), as a full disk raises it. Before the fix every row carried its own "heat-map not written"
message and nothing told the user once that the folder was full; a read-only CSV folder ended the
run with "unexpected error (PermissionError ...)".
"""

from __future__ import annotations

import errno
import os
import shutil
from pathlib import Path

import pytest

from cxr_desktop.core import atomic
from tests.faults.cli_run import rows, screen


@pytest.fixture
def films(tmp_path, sample_images) -> Path:
    folder = tmp_path / "films"
    folder.mkdir()
    for film in sample_images:
        shutil.copy(film, folder / film.name)
    return folder


def _failing_for(folder: Path, code: int):
    real = atomic.write_bytes_atomic

    def write(target, data):
        if Path(target).parent == folder:
            raise OSError(code, os.strerror(code), str(target))
        real(target, data)

    return write


def test_full_disk_for_heatmaps_keeps_every_score_and_says_so_once(films, tiny_bundle, tmp_path, monkeypatch, capsys):
    maps = tmp_path / "maps"
    monkeypatch.setattr(atomic, "write_bytes_atomic", _failing_for(maps, errno.ENOSPC))
    out = tmp_path / "out.csv"
    assert screen(films, tiny_bundle.folder, out, "--heatmaps", str(maps)) == 0
    records = rows(out)
    assert len(records) == len(list(films.iterdir()))
    assert all(record["status"] == "ok" and record["p_normal"] for record in records), records
    assert sum("heat-map not written (No space left on device)" in record["message"] for record in records) == 1
    err = capsys.readouterr().err
    assert err.count("heat-maps stopped: No space left on device") == 1 and "Traceback" not in err


def _refuse_new_files_in(folder: Path, code: int, monkeypatch) -> None:
    """Creating a file in ``folder`` fails as on a read-only mount (root ignores permission bits)."""
    real = os.open

    def guarded(path, flags, *args, **kwargs):
        if Path(os.fsdecode(path)).parent == folder and flags & os.O_CREAT:
            raise OSError(code, os.strerror(code), path)
        return real(path, flags, *args, **kwargs)

    monkeypatch.setattr(os, "open", guarded)


def test_read_only_heatmap_folder_is_refused_before_scoring(films, tiny_bundle, tmp_path, monkeypatch, capsys):
    maps = tmp_path / "maps"
    maps.mkdir()
    _refuse_new_files_in(maps, errno.EROFS, monkeypatch)
    assert screen(films, tiny_bundle.folder, tmp_path / "out.csv", "--heatmaps", str(maps)) == 2
    err = capsys.readouterr().err
    assert f"cannot write heat-maps into {maps}: Read-only file system" in err and "Traceback" not in err


def test_read_only_csv_folder_is_a_clear_error(films, tiny_bundle, tmp_path, monkeypatch, capsys):
    target = tmp_path / "locked" / "out.csv"
    target.parent.mkdir()
    _refuse_new_files_in(target.parent, errno.EACCES, monkeypatch)
    assert screen(films, tiny_bundle.folder, target) == 2
    err = capsys.readouterr().err
    assert f"cannot write the CSV {target}: Permission denied" in err and "unexpected error" not in err
