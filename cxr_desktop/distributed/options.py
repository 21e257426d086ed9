"""The ``screen`` options of a distributed run, kept here so the CLI adds them in one line."""

from __future__ import annotations

import argparse

#: Films per Dask task: big enough that the task overhead (tens of ms) is noise beside scoring,
#: small enough that a lost worker costs a few seconds and the progress line moves.
CHUNK_SIZE = 32


def add_dask_arguments(screen: argparse.ArgumentParser) -> None:
    screen.add_argument(
        "--backend",
        choices=("local", "dask"),
        default="local",
        help="local (default): this process; dask: a Dask distributed cluster (pip install .[distributed])",
    )
    where = screen.add_mutually_exclusive_group()
    where.add_argument(
        "--scheduler", default=None, help="with --backend dask: address of a running scheduler (tcp://HOST:8786)"
    )
    where.add_argument(
        "--workers",
        type=int,
        default=None,
        help="with --backend dask and no --scheduler: worker processes on this machine (default: one per core)",
    )
    screen.add_argument(
        "--chunk-size", type=int, default=CHUNK_SIZE, help="with --backend dask: films per task (default 32)"
    )
    screen.add_argument(
        "--resume",
        action="store_true",
        help="with --backend dask: keep the rows already in --csv (an interrupted run) and score only the rest",
    )
