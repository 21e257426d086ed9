"""Workers die: a film in flight is scored once elsewhere; a film that keeps killing workers is an error row."""

from __future__ import annotations

import os
import signal
import time
from collections import Counter

from tests.distributed.helpers import (
    PoisonFilm,
    read_csv,
    run_screen,
    scored_paths,
    start_screen,
    wait_for_rows,
    worker_pids,
)
from tests.distributed.test_same_csv import assert_same_csv


def busy_worker(client, timeout: float = 60) -> str:
    """The address of a worker running a chunk right now."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [address for address, keys in client.processing().items() if keys]
        if busy:
            return busy[0]
        time.sleep(0.05)
    raise AssertionError("no worker was running a chunk")


def test_a_worker_killed_mid_run_loses_no_film_and_scores_none_twice(dask_cluster, films_40, serial_40, tmp_path):
    address, client = dask_cluster
    out, audit = tmp_path / "dask.csv", tmp_path / "audit"
    process = start_screen(
        films_40, out, "--backend", "dask", "--scheduler", address, "--chunk-size", "4", audit_dir=audit
    )
    wait_for_rows(out, 4, process)
    victim = busy_worker(client)
    os.kill(worker_pids(client)[victim], signal.SIGKILL)
    _, stderr = process.communicate(timeout=300)
    assert process.returncode == 0, stderr
    rows = read_csv(out)
    assert_same_csv(rows, serial_40)
    assert all(row["status"] == "ok" for row in rows)
    scored = Counter(scored_paths(audit))
    assert len(scored) == 40 and set(scored.values()) == {1}
    client.wait_for_workers(2, timeout=120)


def test_a_film_that_keeps_killing_workers_becomes_an_error_row(dask_cluster, films_40, serial_40, tmp_path):
    """Its chunk kills two workers (the allowed failures + 1), is halved, and the half with the film
    kills two more; the film alone kills two more and is given up on. The other films are scored."""
    address, client = dask_cluster
    films = sorted(films_40.rglob("*.jpg"))[:6]
    folder = tmp_path / "films"
    folder.mkdir()
    for film in films:
        (folder / film.name).symlink_to(film.resolve())
    poison = folder / films[3].name
    client.register_plugin(PoisonFilm(poison.name))
    try:
        result = run_screen(
            folder, tmp_path / "dask.csv", "--backend", "dask", "--scheduler", address, "--chunk-size", "2"
        )
    finally:
        client.unregister_worker_plugin(PoisonFilm.name)
    assert result.returncode == 0, result.stderr
    rows = read_csv(tmp_path / "dask.csv")
    assert [row["path"] for row in rows] == [str(folder / film.name) for film in sorted(films, key=lambda f: f.name)]
    failed = [row for row in rows if row["status"] == "error"]
    assert [row["path"] for row in failed] == [str(poison)]
    assert "stopped 2 times" in failed[0]["message"] and "not retried" in failed[0]["message"]
    serial = {row["sha256"]: row for row in serial_40}
    for row in rows:
        if row["status"] == "ok":
            assert_same_csv([{**row, "path": ""}], [{**serial[row["sha256"]], "path": ""}])
    client.wait_for_workers(2, timeout=120)
