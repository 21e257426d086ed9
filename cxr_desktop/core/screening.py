"""The one screening loop: files in, one ``ScreeningRow`` per file out, never an exception.

The CLI drives it with a terminal progress bar, the GUI worker with a Qt progress bar, the
self-test and the trainer's evaluation without one. Decoding and preprocessing run in a small
thread pool ahead of inference (OpenCV and pydicom's decoders release the GIL), so the model is
never waiting for JPEG work; each batch is then scored by ``scoring.score_prepared``.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Callable, Iterable, Iterator, Mapping

from cxr_desktop.core.ood import OodGate
from cxr_desktop.core.preprocessing import PreprocessingSpec
from cxr_desktop.core.radiograph import load_radiograph
from cxr_desktop.core.scoring import (
    Gate,
    Prepared,
    ScoringEngine,
    ScreeningRow,
    bundle_gate,
    error_row,
    prepare,
    score_prepared,
)

log = logging.getLogger(__name__)


def find_images(folder: str | Path) -> list[Path]:
    """Every regular file under ``folder``, recursively, in a stable (sorted) order.

    Nothing is skipped silently: files that are not images become error rows with a reason.
    Symbolic links to folders are not followed (no loops); links to files are listed.
    """
    found = []
    for root, dirs, files in os.walk(folder, followlinks=False):
        dirs.sort()
        for name in sorted(files):
            found.append(Path(root) / name)
    return found


def _load(path: Path, spec: PreprocessingSpec) -> Prepared:
    return prepare(load_radiograph(path), spec)


def screen(
    paths: Iterable[Path],
    engine: ScoringEngine,
    *,
    thresholds: Mapping[str, float],
    batch_size: int = 16,
    explain: bool = False,
    should_stop: Callable[[], bool] = lambda: False,
    workers: int = 2,
    ood_gate: OodGate | Gate | None = None,
) -> Iterator[ScreeningRow]:
    """Yield one row per path, in input order, batching inference and prefetching decodes.

    ``should_stop`` is polled between batches: cancelling loses at most the batch in flight, and
    every row already yielded stays valid. ``ood_gate`` defaults to the gate stored in the engine's
    bundle (none for bundles without one); flagged rows keep their scores and get a warning.
    ``explain`` adds every class's heat-map to each row (``row.cams``).
    """
    paths = list(paths)
    gate = _gate(ood_gate, engine)
    lookahead = max(2 * batch_size, workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cxr-decode") as pool:
        pending: deque[tuple[Path, Future[Prepared]]] = deque()
        queue = iter(paths)

        def fill() -> None:
            while len(pending) < lookahead:
                path = next(queue, None)
                if path is None:
                    return
                pending.append((path, pool.submit(_load, path, engine.spec)))

        fill()
        while pending:
            if should_stop():
                for _, future in pending:
                    future.cancel()
                return
            ready: list[Prepared] = []
            order: list[ScreeningRow | int] = []
            while pending and len(ready) < batch_size:
                path, future = pending.popleft()
                try:
                    prepared = future.result()
                except BaseException as exc:  # noqa: BLE001 - every failure becomes a row
                    order.append(error_row(path, exc))
                else:
                    order.append(len(ready))
                    ready.append(prepared)
                fill()
            scored: list[ScreeningRow] = []
            if ready:
                try:
                    scored = score_prepared(ready, engine, gate, thresholds=thresholds, explain=explain)
                except Exception as exc:  # noqa: BLE001 - one bad batch must not end the run
                    scored = [error_row(item.radiograph.path, exc) for item in ready]
            for item in order:
                yield scored[item] if isinstance(item, int) else item


def _gate(ood_gate: OodGate | Gate | None, engine: ScoringEngine) -> Gate:
    if isinstance(ood_gate, Gate):
        return ood_gate
    if ood_gate is not None:
        return Gate(ood_gate)
    return bundle_gate(getattr(engine, "bundle", None))
