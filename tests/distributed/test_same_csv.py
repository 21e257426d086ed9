"""A distributed run writes the serial run's CSV: same rows, same order, same values."""

from __future__ import annotations

import pytest

from tests.distributed.helpers import link_films, pick_films, read_csv, run_screen

PROBABILITY_TOLERANCE = 1e-6


def assert_same_csv(dask_rows: list[dict[str, str]], serial_rows: list[dict[str, str]]) -> None:
    """Every column equal (the CSV has no timing column); probabilities and risk within 1e-6."""
    assert [row["path"] for row in dask_rows] == [row["path"] for row in serial_rows]
    for ours, theirs in zip(dask_rows, serial_rows):
        assert ours.keys() == theirs.keys()
        for column in ours:
            if (column.startswith("p_") or column == "risk") and ours[column] and theirs[column]:
                assert abs(float(ours[column]) - float(theirs[column])) <= PROBABILITY_TOLERANCE, (column, ours)
            else:
                assert ours[column] == theirs[column], (column, ours["path"])


def test_two_local_workers_write_the_serial_csv(films_40, serial_40, tmp_path):
    out = tmp_path / "dask.csv"
    result = run_screen(films_40, out, "--backend", "dask", "--workers", "2", "--chunk-size", "8")
    assert result.returncode == 0, result.stderr
    assert "2 Dask workers" in result.stderr and "Dask dashboard: http://" in result.stderr
    assert_same_csv(read_csv(out), serial_40)
    assert len(serial_40) == 40


@pytest.mark.slow
def test_500_real_films_on_two_local_workers_match_the_serial_run(cxr3, tmp_path):
    folder = link_films(pick_films(cxr3, 500), tmp_path / "films")
    serial, dask = tmp_path / "serial.csv", tmp_path / "dask.csv"
    assert run_screen(folder, serial).returncode == 0
    result = run_screen(folder, dask, "--backend", "dask", "--workers", "2")
    assert result.returncode == 0, result.stderr
    serial_rows = read_csv(serial)
    assert len(serial_rows) == 500
    assert_same_csv(read_csv(dask), serial_rows)
