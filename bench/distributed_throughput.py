"""Screening throughput on Dask beside the serial run, in one process, on the same real films.

(a) serial: ``core.screening.screen`` with one engine in this process, as ``screen`` runs it;
(b) one worker process pinned to one core: one simulated 1-core machine, the unit of scaling;
(c) ``--backend dask --workers 1`` and (d) ``--workers 2`` (any counts given with ``--workers``),
the cores split among the workers as the CLI does. Each worker is a separate process on its own
TCP port with its own engine: the set-up of workers on separate machines, minus the network, so
N one-core machines are simulated by N pinned workers while the cores last (here: 2).

The clusters are started (and their engines loaded) once, outside the timing, which is reported
apart; then the variants alternate round by round, so a busy machine slows them alike, and the
median rate of each is compared with the serial one. Films per second count films scored end to
end (decode, preprocess, model, OOD gate, decision), rows back in the client.

    nice -n 15 .venv/bin/python bench/distributed_throughput.py --quick
    .venv/bin/python bench/distributed_throughput.py            # 256 films x 3 rounds, idle machine
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import machine, real_images, table  # noqa: E402

MODEL = "densenet121-3class"


def lscpu() -> str:
    """The CPU as lscpu names it: model, cores, and the vector extensions that set inference speed."""
    try:
        text = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return "lscpu unavailable"
    fields = dict(line.split(":", 1) for line in text.splitlines() if ":" in line)
    flags = fields.get("Flags", "").split()
    vector = [flag for flag in ("avx2", "avx512f", "avx512_bf16", "amx_bf16") if flag in flags]
    return (
        f"{fields.get('Model name', '?').strip()} | CPU(s) {fields.get('CPU(s)', '?').strip()}"
        f" | threads per core {fields.get('Thread(s) per core', '?').strip()} | {' '.join(vector) or 'no AVX2'}"
    )


def cpu_seconds(pids: list[int]) -> float:
    """CPU time used so far by this process and ``pids`` (the workers): it barely moves when other
    jobs compete for the cores, so it shows the cost per film even on a busy machine."""
    import psutil

    total = time.process_time()
    for pid in pids:
        times = psutil.Process(pid).cpu_times()
        total += times.user + times.system + times.children_user + times.children_system
    return total


@dataclass
class Variant:
    """One way of screening the films, with its figures per round."""

    name: str
    run: Callable[[], tuple[float, float, float]]
    start_up: float
    rates: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)
    client_ms: list[float] = field(default_factory=list)

    def measure(self) -> None:
        rate, cpu_ms, client_ms = self.run()
        self.rates.append(rate)
        self.cpu_ms.append(cpu_ms)
        self.client_ms.append(client_ms)


def serial_run(films: list[Path], engine, bundle) -> tuple[float, float, float]:
    """(films/s, CPU ms per film, no client or scheduler: NaN)."""
    from cxr_desktop.core.screening import screen

    cpu, started = cpu_seconds([]), time.perf_counter()
    rows = list(screen(films, engine, thresholds=bundle.thresholds))
    assert len(rows) == len(films)
    cost = 1000 * (cpu_seconds([]) - cpu) / len(films)
    return len(films) / (time.perf_counter() - started), cost, math.nan


def start_cluster(workers: int, bundle, share_cores: int):
    """A local cluster like ``screen --backend dask --workers N`` makes, engines loaded; (client, cluster, s).

    ``share_cores``: how many workers split the cores (``worker_state.pin_to_share``); the CLI
    passes N; the one-core baseline passes the core count with one worker, which gets one core.
    """
    import dask
    from distributed import Client, LocalCluster

    from cxr_desktop.distributed.bundle_identity import bundle_hash
    from cxr_desktop.distributed.run import SCHEDULER_CONFIG
    from cxr_desktop.distributed.worker_state import BundleOnWorker

    started = time.perf_counter()
    with dask.config.set(SCHEDULER_CONFIG):
        cluster = LocalCluster(
            n_workers=workers,
            threads_per_worker=1,
            processes=True,
            silence_logs=logging.ERROR,
            dashboard_address=":0",
        )
    client = Client(cluster)
    client.register_plugin(BundleOnWorker(MODEL, bundle_hash(bundle), share_cores=share_cores))
    return client, cluster, time.perf_counter() - started


def dask_run(films: list[Path], client, chunk_size: int) -> tuple[float, float, float]:
    """(films/s, CPU ms per film of client + scheduler + workers, of client + scheduler alone).

    The scheduler of a local cluster runs in this process, so this process's CPU time is what a
    client and its scheduler cost per film: the ceiling on how many machines one client can feed.
    """
    import distributed

    from cxr_desktop.distributed.run import _scored

    options = argparse.Namespace(chunk_size=chunk_size, batch_size=16)
    pids = list(client.run(os.getpid).values())
    cpu, own, started = cpu_seconds(pids), time.process_time(), time.perf_counter()
    rows = list(_scored(distributed, client, films, list(range(len(films))), options))
    assert len(rows) == len(films)
    wall = time.perf_counter() - started
    return (
        len(films) / wall,
        1000 * (cpu_seconds(pids) - cpu) / len(films),
        1000 * (time.process_time() - own) / len(films),
    )


def main() -> int:
    logging.getLogger("distributed").setLevel(logging.ERROR)
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--films", type=int, default=256)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--workers", default="1,2", help="worker counts to measure, comma-separated")
    parser.add_argument("--chunk-size", type=int, default=32)
    parser.add_argument("--quick", action="store_true", help="64 films, 1 round")
    args = parser.parse_args()
    if args.quick:
        args.films, args.rounds = 64, 1

    from cxr_desktop.core.bundle import load_bundle
    from cxr_desktop.engine import load_engine
    from cxr_desktop.engine.device import usable_cores

    films = real_images(args.films)
    bundle = load_bundle(MODEL)
    started = time.perf_counter()
    engine = load_engine(bundle)
    variants = [
        Variant(
            "serial (this process, all cores)", lambda: serial_run(films, engine, bundle), time.perf_counter() - started
        )
    ]
    cores = usable_cores()
    layouts = [(1, cores, "dask, 1 worker on 1 core (one simulated 1-core machine)")] if cores > 1 else []
    layouts += [
        (count, count, f"dask, {count} worker{'s' if count > 1 else ''}, cores split (--workers {count})")
        for count in (int(text) for text in args.workers.split(","))
    ]
    clusters = []
    try:
        for workers, share, name in layouts:
            client, cluster, start_up = start_cluster(workers, bundle, share)
            clusters.append((client, cluster))
            dask_run(films[:16], client, args.chunk_size)
            variants.append(Variant(name, partial(dask_run, films, client, args.chunk_size), start_up))
        serial_run(films[:16], engine, bundle)
        for _ in range(args.rounds):
            for variant in variants:
                variant.measure()
    finally:
        for client, cluster in clusters:
            client.close()
            cluster.close()
    serial = statistics.median(variants[0].rates)
    rows = [
        (
            variant.name,
            f"{statistics.median(variant.rates):.2f}",
            f"{statistics.median(variant.rates) / serial:.2f}",
            " ".join(f"{value:.2f}" for value in variant.rates),
            f"{statistics.median(variant.cpu_ms):.0f}",
            "-" if math.isnan(variant.client_ms[0]) else f"{statistics.median(variant.client_ms):.1f}",
            f"{variant.start_up:.1f}",
        )
        for variant in variants
    ]
    print(f"CPU: {lscpu()}")
    print(f"machine: {machine()}")
    print(f"{bundle.title} on {engine.device_description}; {len(films)} real films x {args.rounds} rounds,")
    print(f"chunks of {args.chunk_size} films, batches of 16; one single-threaded worker per process")
    header = (
        "variant",
        "films/s",
        "x serial",
        "per round",
        "CPU ms/film",
        "client+scheduler CPU ms/film",
        "start-up s",
    )
    print(table(rows, header))
    print("CPU ms/film: all processes (client, scheduler, workers); it barely moves when other jobs share the cores.")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
