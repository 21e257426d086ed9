"""The one screening loop: files in, one ``ScreeningRow`` per file out, never an exception.

The CLI drives it with a terminal progress bar, the GUI worker with a Qt progress bar, the
self-test and the trainer's evaluation without one. Decoding and preprocessing run in a small
thread pool ahead of inference (OpenCV and pydicom's decoders release the GIL), so the model is
never waiting for JPEG work; each batch is then scored by ``scoring.score_prepared``.
"""

from __future__ import annotations

import ctypes
import logging
import os
import sys
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

#: Decoded pixels the loop may hold at once (display pixels are float32: 4 bytes each, so about
#: 100 MB), whether as prefetched films or as the batch being gathered; a batch is cut short
#: rather than exceed it, and a single larger film still goes through on its own.
PIXELS_IN_FLIGHT = 24_000_000

#: glibc's M_MMAP_THRESHOLD: blocks at least this big get their own mapping, returned on free.
_MMAP_THRESHOLD = 1024 * 1024
_M_MMAP_THRESHOLD = -3


def _return_freed_images_to_the_system() -> None:
    """Give every buffer of a megabyte or more its own mapping (glibc only; elsewhere nothing).

    glibc raises its mapping threshold to the largest block freed (up to 32 MB), so the decode
    threads' per-film buffers were then carved from heaps that fragment and never shrink: a folder
    of DR-sized films grew past 1.5 GB although the loop holds a bounded number of pixels.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(_M_MMAP_THRESHOLD, _MMAP_THRESHOLD)
    except (OSError, AttributeError):
        return


def find_images(folder: str | Path) -> list[Path]:
    """Every entry under ``folder`` to give a row, recursively, in a stable (sorted) order.

    Nothing is skipped silently: files that are not images become error rows with a reason, and so
    does a sub-folder that cannot be listed (no permission, a path longer than the system allows):
    it is returned itself, and the loader names why its files were not read. The walk keeps its
    own stack (``os.walk`` recursed, and a 1,100-deep tree raised ``RecursionError``). Links to
    folders are listed, not followed (no loops); links to files are listed.
    """
    found: list[Path] = []
    stack = [Path(folder)]
    while stack:
        current = stack.pop()
        try:
            with os.scandir(current) as listing:
                entries = sorted(listing, key=lambda entry: entry.name)
        except OSError:
            found.append(current)
            continue
        subfolders = []
        for entry in entries:
            if _is_real_folder(entry):
                subfolders.append(Path(entry.path))
            else:
                found.append(Path(entry.path))
        stack.extend(reversed(subfolders))
    return found


def _is_real_folder(entry: os.DirEntry[str]) -> bool:
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


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
    pixels_in_flight: int = PIXELS_IN_FLIGHT,
) -> Iterator[ScreeningRow]:
    """Yield one row per path, in input order, batching inference and prefetching decodes.

    ``should_stop`` is polled between batches: cancelling loses at most the batch in flight, and
    every row already yielded stays valid. ``ood_gate`` defaults to the gate stored in the engine's
    bundle (none for bundles without one); flagged rows keep their scores and get a warning.
    ``explain`` adds every class's heat-map to each row (``row.cams``). Memory is bounded by
    ``pixels_in_flight`` (decoded pixels held ahead of and inside the batch, at least one film),
    not by the number of files: 32 DR-sized films prefetched once took 3 to 5 GB.
    """
    _return_freed_images_to_the_system()
    paths = list(paths)
    gate = _gate(ood_gate, engine)
    lookahead = max(2 * batch_size, workers)
    pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cxr-decode")
    pending: deque[tuple[Path, Future[Prepared]]] = deque()
    queue = iter(paths)
    ready: list[Prepared] = []

    def fill() -> None:
        """Submit decodes while the queue is short and the decoded pixels held are under budget."""
        while len(pending) < lookahead and (not pending or _held_pixels(pending, ready) < pixels_in_flight):
            path = next(queue, None)
            if path is None:
                return
            pending.append((path, pool.submit(_load, path, engine.spec)))

    try:
        fill()
        while pending:
            if should_stop():
                return
            ready = []
            order: list[ScreeningRow | int] = []
            while pending and len(ready) < batch_size and (not ready or _pixels(ready) < pixels_in_flight):
                path, future = pending.popleft()
                try:
                    prepared = future.result()
                except (KeyboardInterrupt, SystemExit):
                    # A signal while waiting on a decode is the user stopping the batch, not a
                    # failure of this file (it once became an error row and the batch went on).
                    raise
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
            ready = []
            for item in order:
                yield scored[item] if isinstance(item, int) else item
    finally:
        # Stopping (cancel, a signal, a consumer that closes the generator) must not wait for the
        # decodes queued ahead; only those already running finish, in the background.
        pool.shutdown(wait=False, cancel_futures=True)


def _pixels(items: Iterable[Prepared]) -> int:
    return sum(int(item.radiograph.pixels.size) for item in items)


def _held_pixels(pending: Iterable[tuple[Path, Future[Prepared]]], ready: list[Prepared]) -> int:
    """Pixels decoded and not yet scored: the batch being gathered plus finished prefetches."""
    done = [future.result() for _, future in pending if future.done() and future.exception() is None]
    return _pixels(ready) + _pixels(done)


def _gate(ood_gate: OodGate | Gate | None, engine: ScoringEngine) -> Gate:
    if isinstance(ood_gate, Gate):
        return ood_gate
    if ood_gate is not None:
        return Gate(ood_gate)
    return bundle_gate(getattr(engine, "bundle", None))
