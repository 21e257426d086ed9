"""A real local Dask cluster (two single-threaded worker processes under nannies) shared by the
distributed tests, the real bundled model, and real films from the shared data set."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from tests.distributed.helpers import link_films, pick_films, read_csv, run_screen


@pytest.fixture(scope="session")
def films_40(cxr3, tmp_path_factory) -> Path:
    return link_films(pick_films(cxr3, 40), tmp_path_factory.mktemp("films40"))


@pytest.fixture(scope="session")
def serial_40(films_40, tmp_path_factory) -> list[dict[str, str]]:
    """The serial run's CSV: what every distributed run must reproduce."""
    out = tmp_path_factory.mktemp("serial40") / "serial.csv"
    result = run_screen(films_40, out)
    assert result.returncode == 0, result.stderr
    return read_csv(out)


@pytest.fixture(scope="session")
def dask_cluster():
    """A scheduler address; workers are killed and restarted by the tests, the nannies bring them back."""
    import dask
    from distributed import Client, LocalCluster

    from cxr_desktop.distributed.run import SCHEDULER_CONFIG

    with dask.config.set(SCHEDULER_CONFIG):
        cluster = LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, silence_logs=logging.ERROR, dashboard_address=":0"
        )
    client = Client(cluster)
    yield cluster.scheduler_address, client
    client.close()
    cluster.close()
