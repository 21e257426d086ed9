"""An interrupted distributed run leaves a valid CSV in order; --resume scores only what it lacks."""

from __future__ import annotations

import signal
from collections import Counter

from tests.distributed.helpers import SlowFilms, read_csv, run_screen, scored_paths, start_screen, wait_for_rows
from tests.distributed.test_same_csv import assert_same_csv


def test_ctrl_c_then_resume_gives_the_serial_csv_scoring_each_remaining_film_once(
    dask_cluster, films_40, serial_40, tmp_path
):
    address, client = dask_cluster
    out = tmp_path / "dask.csv"
    dask = ("--backend", "dask", "--scheduler", address, "--chunk-size", "2")
    client.register_plugin(SlowFilms(0.25))
    try:
        process = start_screen(films_40, out, *dask, audit_dir=tmp_path / "first")
        wait_for_rows(out, 1, process)
        process.send_signal(signal.SIGINT)
        _, stderr = process.communicate(timeout=120)
    finally:
        client.unregister_worker_plugin(SlowFilms.name)
    assert process.returncode == 130, stderr
    assert "--resume" in stderr
    kept = read_csv(out)
    order = [row["path"] for row in serial_40]
    assert 1 <= len(kept) < 40
    assert [row["path"] for row in kept] == sorted((row["path"] for row in kept), key=order.index)

    result = run_screen(films_40, out, *dask, "--resume", audit_dir=tmp_path / "second")
    assert result.returncode == 0, result.stderr
    assert_same_csv(read_csv(out), serial_40)
    rescored = Counter(scored_paths(tmp_path / "second"))
    assert set(rescored.values()) == {1}
    assert set(rescored) == set(order) - {row["path"] for row in kept}
    assert not (tmp_path / "dask.csv.resume-backup").exists()


def test_resume_refuses_a_csv_of_another_folder(dask_cluster, films_40, serial_40, tmp_path):
    address, _ = dask_cluster
    out = tmp_path / "other.csv"
    stranger = {**serial_40[0], "path": "/elsewhere/a.jpg"}
    out.write_text(",".join(stranger) + "\n" + ",".join(stranger.values()) + "\n", encoding="utf-8")
    result = run_screen(films_40, out, "--backend", "dask", "--scheduler", address, "--resume")
    assert result.returncode == 2
    assert "not in this folder" in result.stderr and "Traceback" not in result.stderr


def test_resume_is_refused_without_the_dask_backend(films_40, tmp_path):
    result = run_screen(films_40, tmp_path / "out.csv", "--resume")
    assert result.returncode == 2
    assert "--resume needs --backend dask" in result.stderr and "Traceback" not in result.stderr
