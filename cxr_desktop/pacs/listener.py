"""What the listener does with each stored instance: score it, write the results, send them on.

One worker thread takes instances in the order they were stored (so results for a study come in
the order its films arrived) and scores up to ``batch_size`` waiting films in one batch through
``core.scoring.score``, the path the GUI and ``screen`` use. The queue holds file paths only:
films wait on disk, not in memory, however fast they arrive. A film that cannot be scored stays
stored and its log row says why.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import (
    ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation,
    DigitalXRayImageStorageForProcessing,
    SecondaryCaptureImageStorage,
)

from cxr_desktop.core import audit
from cxr_desktop.core.bundle import ModelBundle
from cxr_desktop.core.radiograph import load_radiograph
from cxr_desktop.core.scoring import ScreeningRow, bundle_gate, error_row, score
from cxr_desktop.pacs.heatmap_sc import build_heatmap_sc
from cxr_desktop.pacs.nodes import DEFAULT_AE_TITLE, Node, PacsError
from cxr_desktop.pacs.receive_log import Outcome, ReceiveLog
from cxr_desktop.pacs.results_sr import build_sr
from cxr_desktop.pacs.scp import Received
from cxr_desktop.pacs.send import send_instances

log = logging.getLogger(__name__)

#: The image SOP classes a chest film arrives as.
CHEST_IMAGE_CLASSES = frozenset(
    {
        ComputedRadiographyImageStorage,
        DigitalXRayImageStorageForPresentation,
        DigitalXRayImageStorageForProcessing,
        SecondaryCaptureImageStorage,
    }
)

#: Body Part Examined values of a chest film (an absent value is given the benefit of the doubt).
CHEST_BODY_PARTS = frozenset({"", "CHEST", "THORAX", "LUNG", "PORT CHEST"})


def not_scorable(header: Dataset, sop_class_uid: str) -> str:
    """Why an instance is kept but not scored; empty when it is a chest film to score."""
    if sop_class_uid not in CHEST_IMAGE_CLASSES:
        name = pydicom.uid.UID(sop_class_uid).name
        return f"stored, not scored: {name} is not a CR, DX or Secondary Capture chest film"
    part = str(header.get("BodyPartExamined", "")).strip().upper()
    if part not in CHEST_BODY_PARTS:
        return f"stored, not scored: body part examined is {part}, not chest"
    return ""


@dataclass(frozen=True)
class Results:
    """The report and heat-map written for one film, and where they were saved."""

    sr: Dataset
    heatmap: Dataset
    paths: tuple[Path, Path]


def write_results(source: Dataset, row: ScreeningRow, bundle: ModelBundle, folder: Path) -> Results:
    """Build the SR and the heat-map Secondary Capture for ``row`` and save both under ``folder``."""
    sr = build_sr(source, row, bundle)
    heatmap = build_heatmap_sc(source, row, bundle)
    paths = []
    for ds in (sr, heatmap):
        path = folder / str(ds.StudyInstanceUID) / f"{ds.SOPInstanceUID}.dcm"
        path.parent.mkdir(parents=True, exist_ok=True)
        ds.save_as(path, enforce_file_format=True)
        paths.append(path)
    return Results(sr, heatmap, (paths[0], paths[1]))


class Listener:
    """Scores what a ``StorageServer`` stores; call ``received`` from its ``on_received``."""

    def __init__(
        self,
        engine: Any,
        bundle: ModelBundle,
        receive_log: ReceiveLog,
        results_dir: Path,
        *,
        forward: Node | None = None,
        calling_ae: str = DEFAULT_AE_TITLE,
        batch_size: int = 8,
    ) -> None:
        self.engine, self.bundle, self.log = engine, bundle, receive_log
        self.results_dir = Path(results_dir)
        self.forward, self.calling_ae, self.batch_size = forward, calling_ae, batch_size
        self.gate = bundle_gate(bundle)
        self.queue: queue.Queue[Received | None] = queue.Queue()
        self.thread = threading.Thread(target=self._run, name="cxr-listen-scoring", daemon=True)
        self.thread.start()

    def received(self, item: Received) -> None:
        self.queue.put(item)

    def wait_idle(self) -> None:
        """Return when every instance received so far has its log row."""
        self.queue.join()

    def stop(self) -> None:
        """Finish what was received, then end the worker."""
        self.queue.put(None)
        self.thread.join()

    def _run(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                self.queue.task_done()
                return
            batch = [item]
            while len(batch) < self.batch_size:
                try:
                    waiting = self.queue.get_nowait()
                except queue.Empty:
                    break
                if waiting is None:
                    self.queue.put(None)
                    self.queue.task_done()
                    break
                batch.append(waiting)
            try:
                self.process(batch)
            except Exception:  # noqa: BLE001 - the worker must outlive any one batch
                log.exception("listener batch failed")
                for done in batch:
                    self.log.add(done, Outcome("error", message="unexpected error while processing (see the log)"))
            finally:
                for _ in batch:
                    self.queue.task_done()

    def process(self, batch: Sequence[Received]) -> None:
        """Score the scorable films of ``batch`` together, then log every instance in order."""
        headers: dict[str, Dataset] = {}
        outcomes: dict[str, Outcome] = {}
        radiographs = []
        for item in batch:
            try:
                header = pydicom.dcmread(item.path, stop_before_pixels=True)
            except Exception as exc:  # noqa: BLE001 - a stored file that will not parse is logged
                outcomes[item.sop_instance_uid] = Outcome("error", message=f"stored, cannot be read ({exc})")
                continue
            reason = not_scorable(header, item.sop_class_uid)
            if reason:
                outcomes[item.sop_instance_uid] = Outcome("stored", message=reason)
                continue
            try:
                radiographs.append(load_radiograph(item.path))
            except Exception as exc:  # noqa: BLE001 - becomes the row's reason
                outcomes[item.sop_instance_uid] = self._error(item, exc)
                continue
            headers[item.sop_instance_uid] = header
        rows = self._score(radiographs)
        for row in rows:
            uid = row.path.stem
            outcomes[uid] = self._finish(headers[uid], row) if row.ok else Outcome("error", message=row.message)
            audit.record_scored(row, self.bundle, source="listen")
        for item in batch:
            self.log.add(item, outcomes[item.sop_instance_uid])

    def _score(self, radiographs: list[Any]) -> list[ScreeningRow]:
        try:
            return score(radiographs, self.engine, self.gate, thresholds=self.bundle.thresholds, explain=True)
        except Exception as exc:  # noqa: BLE001 - one bad batch must not stop the listener
            return [error_row(radiograph.path, exc) for radiograph in radiographs]

    def _error(self, item: Received, exc: BaseException) -> Outcome:
        row = error_row(item.path, exc)
        audit.record_scored(row, self.bundle, source="listen")
        return Outcome("error", message=f"stored, not scored: {row.message}")

    def _finish(self, header: Dataset, row: ScreeningRow) -> Outcome:
        outcome = Outcome(
            "scored",
            prediction=row.prediction,
            probabilities=dict(row.probabilities),
            flagged=row.flagged,
            message=row.message,
        )
        try:
            results = write_results(header, row, self.bundle, self.results_dir)
        except Exception as exc:  # noqa: BLE001 - the score stands even if its DICOM objects fail
            log.exception("results for %s not written", row.path)
            outcome.message = "; ".join(filter(None, (outcome.message, f"results not written ({exc})")))
            return outcome
        outcome.sr_uid, outcome.heatmap_uid = str(results.sr.SOPInstanceUID), str(results.heatmap.SOPInstanceUID)
        if self.forward is not None:
            try:
                send_instances(self.forward, [results.sr, results.heatmap], self.calling_ae)
                outcome.forwarded = self.forward.label
            except PacsError as exc:
                outcome.forwarded = f"failed: {exc}"
        return outcome
