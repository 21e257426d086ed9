"""An interrupted distributed run leaves a valid CSV in order; --resume scores only what it lacks."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from collections import Counter

import pytest
from distributed import Client

from cxr_desktop.core.privacy import installation_key, pseudonym

from tests.distributed.helpers import (
    ROOT,
    SlowFilms,
    audit_env,
    read_csv,
    run_screen,
    scored_paths,
    start_screen,
    wait_for_rows,
)
from tests.distributed.test_same_csv import assert_same_csv


def test_ctrl_c_then_resume_gives_the_serial_csv_scoring_each_remaining_film_once(
    dask_cluster, films_40, serial_40, tmp_path
):
    """With the default identifiers: the rows are matched back to their films by pseudonym."""
    address, client = dask_cluster
    out = tmp_path / "dask.csv"
    dask = ("--backend", "dask", "--scheduler", address, "--chunk-size", "2", "--identifiers", "pseudonymise")
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
    key = installation_key()
    expected = [{**row, "path": pseudonym(row["path"], key)} for row in serial_40]
    order = [row["path"] for row in expected]
    kept = read_csv(out)
    assert 1 <= len(kept) < 40
    assert [row["path"] for row in kept] == sorted((row["path"] for row in kept), key=order.index)

    result = run_screen(films_40, out, *dask, "--resume", audit_dir=tmp_path / "second")
    assert result.returncode == 0, result.stderr
    assert_same_csv(read_csv(out), expected)
    rescored = Counter(pseudonym(path, key) for path in scored_paths(tmp_path / "second"))
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


def start_scheduler_and_workers(tmp_path, workers: int = 2) -> tuple[str, list[subprocess.Popen]]:
    """A scheduler and workers as separate processes, as on separate machines (here on ports of this one)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    env = {**audit_env(None), "PYTHONPATH": str(ROOT)}
    command = [sys.executable, "-m", "distributed.cli.dask_scheduler", "--port", str(port), "--dashboard-address", ":0"]
    processes = [subprocess.Popen(command, cwd=tmp_path, env=env, stderr=subprocess.DEVNULL)]
    worker = [sys.executable, "-m", "distributed.cli.dask_worker", address, "--nthreads", "1", "--no-nanny"]
    processes += [subprocess.Popen(worker, cwd=tmp_path, env=env, stderr=subprocess.DEVNULL) for _ in range(workers)]
    with Client(address, timeout="60s") as client:
        client.wait_for_workers(workers, timeout=120)
        client.register_plugin(SlowFilms(0.25))
    return address, processes


@pytest.mark.slow
def test_scheduler_killed_mid_run_then_resume_on_a_new_cluster(films_40, serial_40, tmp_path):
    out = tmp_path / "dask.csv"
    address, processes = start_scheduler_and_workers(tmp_path)
    try:
        run = start_screen(films_40, out, "--backend", "dask", "--scheduler", address, "--chunk-size", "2")
        wait_for_rows(out, 1, run)
        processes[0].kill()
        _, stderr = run.communicate(timeout=120)
    finally:
        for process in processes:
            process.kill()
    assert run.returncode == 130, stderr
    assert "lost the Dask scheduler" in stderr and "--resume" in stderr
    kept = read_csv(out)
    assert 1 <= len(kept) < 40
    address, processes = start_scheduler_and_workers(tmp_path)
    try:
        result = run_screen(films_40, out, "--backend", "dask", "--scheduler", address, "--resume")
    finally:
        for process in processes:
            process.kill()
    assert result.returncode == 0, result.stderr
    assert_same_csv(read_csv(out), serial_40)
