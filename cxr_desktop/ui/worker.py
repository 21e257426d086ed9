"""The one long-lived worker that owns the engine, and the GUI-side host that talks to it.

TensorFlow objects are not safe to share across threads, so the ``Engine`` is created and used
only in the worker's own ``QThread``. The GUI never calls the worker directly: it goes through
``WorkerHost``, whose queued signals run the worker's slots in the worker thread. Every request
carries an id; the GUI drops answers whose id is not the latest it asked for, and the worker skips
requests that a newer one has already superseded.

Single-image requests take priority: while a folder is being screened the worker answers them
between rows, so double-clicking a row during a batch still shows that image promptly.
"""

from __future__ import annotations

import ctypes
import dataclasses
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from collections.abc import Mapping
from pathlib import Path

import numpy as np
from PyQt5.QtCore import QObject, QRunnable, QThread, QThreadPool, pyqtSignal, pyqtSlot

from cxr_desktop.core import audit
from cxr_desktop.core.bundle import ModelBundle, load_bundle
from cxr_desktop.core.errors import CxrError
from cxr_desktop.core.film_details import film_details
from cxr_desktop.core.image import Radiograph
from cxr_desktop.core.radiograph import load_radiograph
from cxr_desktop.core.scoring import Gate, ScreeningRow, bundle_gate, score
from cxr_desktop.core.screening import find_images, screen
from cxr_desktop.ui.qimage import thumbnail

log = logging.getLogger(__name__)

#: Rows are sent to the GUI in groups of at most this many, or sooner when the oldest waits too long.
BATCH_SIZE = 16
MAX_ROW_WAIT_S = 0.25


@dataclass(frozen=True)
class ModelInfo:
    """What the GUI needs to know about the loaded model (the engine itself never leaves the worker)."""

    bundle: ModelBundle
    device: str
    #: The CSV's ``model`` and ``engine`` columns for results of this model (``engine.provenance``).
    provenance: dict[str, str]

    @property
    def title(self) -> str:
        return self.bundle.title

    @property
    def classes(self) -> list[str]:
        return self.bundle.classes


@dataclass(frozen=True)
class ImageScore:
    """The scored single image as the window shows it: the scoring row plus what the view needs.

    Everything about the image (probabilities, decision, heat-maps, warnings) is the row made by
    ``core.scoring``, the same row the CLI writes to its CSV and the audit trail records.
    """

    row: ScreeningRow
    model_title: str
    thresholds: Mapping[str, float]
    seconds: float

    @property
    def path(self) -> Path:
        return self.row.path

    @property
    def classes(self) -> list[str]:
        return self.row.classes

    @property
    def probabilities(self) -> np.ndarray:
        return np.array([self.row.probabilities[name] for name in self.classes], dtype=np.float32)

    @property
    def prediction(self) -> str:
        return self.row.prediction

    @property
    def flagged(self) -> list[str]:
        return self.row.flagged

    @property
    def risk(self) -> float:
        return self.row.risk

    @property
    def cams(self) -> np.ndarray:
        """Every class's heat-map (single images are always scored with them)."""
        return np.stack([self.row.cam(name) for name in self.classes])

    @property
    def warnings(self) -> tuple[str, ...]:
        return self.row.warnings

    @property
    def out_of_distribution(self) -> bool:
        return self.row.out_of_distribution

    @property
    def ood_score(self) -> float:
        return self.row.ood_score

    def probability(self, name: str) -> float:
        return self.row.probability(name)


@dataclass(frozen=True)
class BatchRow:
    """A screening row stripped of its pixels (memory stays flat), with a small thumbnail."""

    row: ScreeningRow
    thumbnail: np.ndarray | None


def score_radiograph(engine, radiograph: Radiograph, gate: Gate) -> ImageScore:
    """Score one radiograph through ``core.scoring`` with every class's heat-map."""
    started = time.perf_counter()
    bundle = engine.bundle
    (row,) = score([radiograph], engine, gate, thresholds=bundle.thresholds, explain=True)
    return ImageScore(row, bundle.title, bundle.thresholds, time.perf_counter() - started)


def to_batch_row(row: ScreeningRow) -> BatchRow:
    small = thumbnail(row.radiograph.pixels) if row.radiograph is not None else None
    return BatchRow(row=dataclasses.replace(row, radiograph=None), thumbnail=small)


_thread_state = threading.local()


def keep_thread_state() -> None:
    """Keep this thread's Python thread state alive until the thread ends; call with the GIL held.

    A ``QThread`` runs its event loop in C++, so PyQt creates a Python thread state for each slot
    call and destroys it on return. TensorFlow's pybind11 layer keeps the thread state it first saw
    on a thread and uses it again later: the second model load (switching models from the menu)
    acquired the GIL with a freed thread state and the process segfaulted. One extra, never
    released ``PyGILState_Ensure`` stops PyQt's release from destroying the state. (Running the
    event loop from a Python ``run()`` would keep it too, but ``QThread.exec_`` holds the GIL while
    it waits, which starves the GUI thread.)
    """
    if not getattr(_thread_state, "kept", False):
        ctypes.pythonapi.PyGILState_Ensure()
        _thread_state.kept = True


class EngineWorker(QObject):
    """Lives in the worker thread; its slots load the model, score images and screen folders."""

    model_loading = pyqtSignal(int, str)
    model_loaded = pyqtSignal(int, object)
    model_failed = pyqtSignal(int, str)
    image_scored = pyqtSignal(int, object)
    image_failed = pyqtSignal(int, str)
    batch_started = pyqtSignal(int, int)
    batch_rows_ready = pyqtSignal(int, list)
    batch_finished = pyqtSignal(int, bool, float)

    def __init__(self) -> None:
        super().__init__()
        self.engine = None
        self.gate = Gate()
        self.cancelled_up_to = 0
        self.latest_load_id = 0
        self._lock = threading.Lock()
        self._pending_score: tuple[int, Radiograph] | None = None

    def set_pending_score(self, request_id: int, radiograph: Radiograph) -> None:
        """Called from the GUI thread; only the newest pending single-image request is kept."""
        with self._lock:
            self._pending_score = (request_id, radiograph)

    def drop_pending_score(self) -> None:
        with self._lock:
            self._pending_score = None

    def _take_pending_score(self) -> tuple[int, Radiograph] | None:
        with self._lock:
            pending, self._pending_score = self._pending_score, None
        return pending

    @pyqtSlot(int, str)
    def _on_host_load_requested(self, request_id: int, model: str) -> None:
        keep_thread_state()
        if request_id < self.latest_load_id:
            return
        self.model_loading.emit(request_id, model)
        try:
            bundle = load_bundle(model)
            from cxr_desktop.engine import load_engine, provenance

            engine = load_engine(bundle)
        except CxrError as exc:
            self._drop_model()
            self.model_failed.emit(request_id, str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - a broken model must become a message, not a dead thread
            log.exception("model %s failed to load", model)
            self._drop_model()
            self.model_failed.emit(request_id, f"model '{model}' could not be loaded ({type(exc).__name__})")
            return
        self.engine = engine
        self.gate = bundle_gate(bundle)
        self.model_loaded.emit(
            request_id,
            ModelInfo(bundle, engine.device_description, provenance(bundle, engine.backend, engine.precision)),
        )
        self._serve_pending_score()

    def _drop_model(self) -> None:
        """After a failed load nothing is scored with the previous model: the window says no model
        is loaded, so a batch or image asked for now must not quietly use the old one."""
        self.engine, self.gate = None, Gate()

    @pyqtSlot()
    def _on_host_score_requested(self) -> None:
        keep_thread_state()
        self._serve_pending_score()

    def _serve_pending_score(self) -> None:
        if self.engine is None:
            return
        pending = self._take_pending_score()
        if pending is None:
            return
        request_id, radiograph = pending
        try:
            result = score_radiograph(self.engine, radiograph, self.gate)
        except CxrError as exc:
            self.image_failed.emit(request_id, str(exc))
            return
        except Exception as exc:  # noqa: BLE001
            log.exception("scoring %s failed", radiograph.path)
            self.image_failed.emit(request_id, f"{radiograph.path.name}: could not be scored ({type(exc).__name__})")
            return
        self.image_scored.emit(request_id, result)
        audit.record_scored(result.row, self.engine.bundle, source="gui")

    @pyqtSlot(int, list, str, list)
    def _on_host_batch_requested(self, request_id: int, items: list, root: str, skip: list) -> None:
        """Screen files and folders (folders recursively); listing happens here, off the GUI thread.

        ``skip``: paths already screened (a resumed batch) are left out."""
        keep_thread_state()
        started = time.perf_counter()

        def cancelled() -> bool:
            return request_id <= self.cancelled_up_to

        if self.engine is None or cancelled():
            self.batch_started.emit(request_id, 0)
            self.batch_finished.emit(request_id, True, 0.0)
            return
        paths: list[Path] = []
        for item in map(Path, items):
            paths.extend(find_images(item) if item.is_dir() else [item])
        done_before = set(skip)
        paths = [path for path in paths if str(path) not in done_before]
        self.batch_started.emit(request_id, len(paths))
        pending: list[BatchRow] = []
        oldest = 0.0
        done = 0
        rows = screen(
            paths,
            self.engine,
            thresholds=self.engine.bundle.thresholds,
            batch_size=BATCH_SIZE,
            should_stop=cancelled,
            ood_gate=self.gate,
        )
        for row in rows:
            if not pending:
                oldest = time.perf_counter()
            audit.record_scored(row, self.engine.bundle, source="gui-batch")
            pending.append(to_batch_row(row))
            done += 1
            if len(pending) >= BATCH_SIZE or time.perf_counter() - oldest >= MAX_ROW_WAIT_S:
                self.batch_rows_ready.emit(request_id, pending)
                pending = []
            self._serve_pending_score()
        if pending:
            self.batch_rows_ready.emit(request_id, pending)
        self.batch_finished.emit(request_id, done < len(paths), time.perf_counter() - started)


class _DecodeSignals(QObject):
    #: (request id, Radiograph, FilmDetails)
    loaded = pyqtSignal(int, object, object)
    failed = pyqtSignal(int, str)


class _DecodeTask(QRunnable):
    """Reads one file off the GUI thread, with what the reading tools need, so even a large DICOM
    never freezes the window."""

    def __init__(self, request_id: int, path: Path, signals: _DecodeSignals) -> None:
        super().__init__()
        self.request_id, self.path, self.signals = request_id, path, signals

    def run(self) -> None:
        try:
            radiograph = load_radiograph(self.path)
        except CxrError as exc:
            self.signals.failed.emit(self.request_id, str(exc))
            audit.record_scored(ScreeningRow(path=self.path, status="error", message=exc.reason), None, source="gui")
        except Exception as exc:  # noqa: BLE001 - never a traceback to the user
            log.exception("reading %s failed", self.path)
            self.signals.failed.emit(self.request_id, f"{self.path.name}: cannot be read ({type(exc).__name__})")
        else:
            self.signals.loaded.emit(self.request_id, radiograph, film_details(radiograph))


class WorkerHost(QObject):
    """GUI-side handle: issues request ids, forwards requests to the worker thread, shuts it down."""

    _load_requested = pyqtSignal(int, str)
    _score_requested = pyqtSignal()
    _batch_requested = pyqtSignal(int, list, str, list)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._ids = itertools.count(1)
        self._last_id = 0
        self.thread = QThread()
        self.thread.setObjectName("cxr-engine")
        self.worker = EngineWorker()
        self.worker.moveToThread(self.thread)
        self._load_requested.connect(self.worker._on_host_load_requested)
        self._score_requested.connect(self.worker._on_host_score_requested)
        self._batch_requested.connect(self.worker._on_host_batch_requested)
        self.decode_pool = QThreadPool(self)
        self.decode_pool.setMaxThreadCount(1)
        self.decoder = _DecodeSignals()
        self.thread.start()

    def next_id(self) -> int:
        self._last_id = next(self._ids)
        return self._last_id

    def load_model(self, model: str) -> int:
        request_id = self.next_id()
        self.worker.latest_load_id = request_id
        self._load_requested.emit(request_id, model)
        return request_id

    def decode(self, path: Path) -> int:
        request_id = self.next_id()
        self.decode_pool.start(_DecodeTask(request_id, path, self.decoder))
        return request_id

    def score(self, request_id: int, radiograph: Radiograph) -> None:
        self.worker.set_pending_score(request_id, radiograph)
        self._score_requested.emit()

    def start_batch(self, items: list[Path], root: Path | None, skip: list[Path] | None = None) -> int:
        """Screen ``items`` (files, or folders searched recursively) except ``skip``; paths in rows are
        shown relative to ``root``."""
        request_id = self.next_id()
        self._batch_requested.emit(
            request_id, [str(item) for item in items], str(root) if root else "", [str(p) for p in skip or []]
        )
        return request_id

    def cancel_batch(self) -> None:
        """Cancel every batch asked for so far; the screening loop polls this between batches.

        A plain integer written here and read by the worker is atomic under the GIL; a later
        batch gets a larger id, so cancelling an old batch never cancels the next one.
        """
        self.worker.cancelled_up_to = self._last_id

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Cancel everything, stop the worker thread and wait for it; True when nothing is left running."""
        self.worker.cancelled_up_to = 1 << 62
        self.worker.drop_pending_score()
        self.thread.quit()
        stopped = self.thread.wait(timeout_ms)
        self.decode_pool.clear()
        decoded = self.decode_pool.waitForDone(timeout_ms)
        if not stopped:
            log.error("engine thread did not stop within %d ms", timeout_ms)
        return stopped and decoded
