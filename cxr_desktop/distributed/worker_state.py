"""Per-worker state: the bundle and engine each Dask worker loads once, and the chunk task.

Imported on the workers (and by the client, to ship the plugin); it imports dask at module level,
so only ``run.py`` imports it, after ``dependency.import_distributed`` has succeeded.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import os
from pathlib import Path
from typing import Any

import numpy as np
from distributed import Reschedule, WorkerPlugin, get_worker

from cxr_desktop.core.bundle import ModelBundle, load_bundle
from cxr_desktop.core.errors import CxrError
from cxr_desktop.core.scoring import ScreeningRow
from cxr_desktop.core.screening import screen
from cxr_desktop.distributed.bundle_identity import bundle_hash

log = logging.getLogger(__name__)

PLUGIN_NAME = "cxr-desktop-bundle"

#: What a row carries back to the client instead of the decoded picture (the CSV and the audit
#: trail need the radiograph's warnings and DICOM identifiers, not its pixels).
NO_PIXELS = np.zeros((0, 0), dtype=np.float32)


#: The engine this worker process loaded last, by (bundle hash, engine, precision, core share):
#: every run registers the plugin again, and a long-lived cluster should not reload the same
#: engine for each one. One entry, so memory holds one engine.
_LOADED: dict[tuple[str, str, str, int], Any] = {}


class BundleOnWorker(WorkerPlugin):
    """Loads the bundle and its engine once per worker and refuses a worker whose bundle differs.

    A worker that joins later (a restarted or a new one) runs ``setup`` too, before it takes a task.
    One whose bundle hash is not ``expected_hash`` closes itself (and its nanny, so it is not
    restarted) and says why in its log. ``engine`` and ``precision`` are the client's ``--engine``
    and ``--precision``, made on each worker by ``load_engine`` (which runtime that is depends on
    what the worker has installed). ``share_cores``: the number of workers of a local cluster,
    which split this machine's cores (``pin_to_share``).
    """

    name = PLUGIN_NAME

    def __init__(
        self, model: str, expected_hash: str, *, engine: str = "auto", precision: str = "auto", share_cores: int = 0
    ) -> None:
        self.model = model
        self.expected_hash = expected_hash
        self.engine_choice, self.precision = engine, precision
        self.share_cores = share_cores
        self.bundle: ModelBundle | None = None
        self.engine: Any = None
        self.refusal = ""

    async def setup(self, worker: Any) -> None:
        if self.share_cores > 1:
            pin_to_share(worker.name, self.share_cores)
        self.refusal = await asyncio.to_thread(self._load)
        if self.refusal:
            log.error("cxr-desktop: worker %s refused: %s", worker.address, self.refusal)
            worker.loop.add_callback(worker.close, nanny=True, reason=f"cxr-desktop: {self.refusal}")

    def _load(self) -> str:
        try:
            bundle = load_bundle(self.model)
        except CxrError as exc:
            return f"bundle cannot be loaded on this worker: {exc}"
        found = bundle_hash(bundle)
        if found != self.expected_hash:
            return f"bundle {bundle.title} here has hash {found[:12]}, the run uses {self.expected_hash[:12]}"
        key = (found, self.engine_choice, self.precision, self.share_cores)
        if key not in _LOADED:
            from cxr_desktop.engine import load_engine

            try:
                engine = load_engine(bundle, backend=self.engine_choice, precision=self.precision)
            except CxrError as exc:
                return f"no engine for the bundle on this worker: {exc}"
            _LOADED.clear()
            _LOADED[key] = engine
        self.bundle, self.engine = bundle, _LOADED[key]
        return ""


def pin_to_share(name: object, workers: int) -> None:
    """Give local worker ``name`` (0, 1, ...) its share of the cores, as if each were a machine.

    Every engine sizes its threads to the cores it may use (``engine.device.usable_cores``), so
    without this N local workers each start a thread per core and fight over all of them. Every
    thread of the process is pinned; threads started later inherit the mask.
    """
    try:
        cores = sorted(os.sched_getaffinity(0))
        index = int(str(name)) % workers
        share = cores[index::workers] if workers <= len(cores) else [cores[index % len(cores)]]
        for thread in os.listdir("/proc/self/task"):
            os.sched_setaffinity(int(thread), share)
    except (AttributeError, OSError, ValueError) as exc:
        log.warning("cxr-desktop: worker %s keeps every core (%s)", name, exc)


def worker_report(dask_worker: Any) -> dict[str, str]:
    """What the client prints per worker: its engine, or why it was refused (``Client.run`` passes
    the worker as ``dask_worker``)."""
    plugin = dask_worker.plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, BundleOnWorker):
        return {"refusal": "the cxr-desktop plugin is not set up on this worker"}
    engine = "" if plugin.engine is None else str(plugin.engine.device_description)
    return {"refusal": plugin.refusal, "engine": engine}


def score_chunk(paths: list[str], batch_size: int) -> list[ScreeningRow]:
    """Score consecutive films with the serial run's own loop and this worker's engine.

    Rows go back without pixels or heat-maps: the client writes the CSV and the audit record.
    """
    plugin = get_worker().plugins.get(PLUGIN_NAME)
    if not isinstance(plugin, BundleOnWorker) or plugin.engine is None or plugin.bundle is None:
        raise Reschedule()
    rows = screen(
        [Path(path) for path in paths], plugin.engine, thresholds=plugin.bundle.thresholds, batch_size=batch_size
    )
    return [_without_pixels(row) for row in rows]


def _without_pixels(row: ScreeningRow) -> ScreeningRow:
    radiograph = row.radiograph
    if radiograph is not None:
        radiograph = dataclasses.replace(radiograph, pixels=NO_PIXELS)
    return dataclasses.replace(row, radiograph=radiograph, cams=None)
