"""The one screening loop: files in, one ``ScreeningRow`` per file out, never an exception.

The CLI drives it with a terminal progress bar, the GUI worker with a Qt progress bar. Decoding
and preprocessing run in a small thread pool ahead of inference (OpenCV and pydicom's decoders
release the GIL), so the model is never waiting for JPEG work.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator, Protocol

import numpy as np

from cxr_desktop.core import decision
from cxr_desktop.core.errors import CxrError
from cxr_desktop.core.ood import OodGate, load_gate, warning_text
from cxr_desktop.core.overlay import heatmap_to_image, render_overlay
from cxr_desktop.core.preprocessing import PreprocessingSpec, preprocess
from cxr_desktop.core.radiograph import Radiograph, load_radiograph

log = logging.getLogger(__name__)


class ScoringEngine(Protocol):
    """What screening needs from ``cxr_desktop.engine.Engine`` (kept abstract so the core stays TF-free)."""

    spec: PreprocessingSpec
    classes: list[str]

    def score(self, images: np.ndarray): ...

    def explain(self, images: np.ndarray): ...


@dataclass
class ScreeningRow:
    path: Path
    status: str
    prediction: str = ""
    probabilities: dict[str, float] = field(default_factory=dict)
    risk: float = float("nan")
    flagged: list[str] = field(default_factory=list)
    message: str = ""
    sha256: str = ""
    radiograph: Radiograph | None = None
    heatmap_path: Path | None = None
    ood_score: float = float("nan")
    out_of_distribution: bool = False

    @property
    def ok(self) -> bool:
        return self.status == "ok"


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


def _load(path: Path, spec: PreprocessingSpec) -> tuple[Radiograph, np.ndarray]:
    radiograph = load_radiograph(path)
    return radiograph, preprocess(radiograph.pixels, spec)


def _message(radiograph: Radiograph) -> str:
    return "; ".join((*radiograph.warnings, *radiograph.notes))


def error_row(path: Path, exc: BaseException) -> ScreeningRow:
    """A row for a file that could not be scored; unexpected exceptions are logged, not shown raw."""
    if isinstance(exc, CxrError):
        return ScreeningRow(path=path, status="error", message=exc.reason)
    log.exception("unexpected failure on %s", path, exc_info=exc)
    return ScreeningRow(path=path, status="error", message=f"unexpected error while reading ({type(exc).__name__})")


def _score_batch(
    engine: ScoringEngine,
    batch: list[tuple[Path, Radiograph, np.ndarray]],
    heatmap_dir: Path | None,
    thresholds: dict[str, float],
    root: Path | None,
    gate: OodGate | None = None,
    gate_note: str = "",
) -> list[ScreeningRow]:
    images = np.stack([tensor for _, _, tensor in batch])
    scores = engine.explain(images) if heatmap_dir is not None else engine.score(images)
    rows = []
    for index, (path, radiograph, _) in enumerate(batch):
        probabilities = scores.probabilities[index]
        prediction = decision.predict_label(probabilities, engine.classes, thresholds)
        row = ScreeningRow(
            path=path,
            status="ok",
            prediction=prediction,
            probabilities={c: float(p) for c, p in zip(engine.classes, probabilities)},
            risk=decision.risk(probabilities, engine.classes),
            flagged=decision.flagged(probabilities, engine.classes, thresholds),
            message=_message(radiograph),
            sha256=radiograph.sha256,
            radiograph=radiograph,
        )
        _apply_gate(row, gate, gate_note, scores.features[index], images[index])
        if heatmap_dir is not None:
            row.heatmap_path = _write_heatmap(
                heatmap_dir, path, root, radiograph, scores.cams[index][engine.classes.index(prediction)]
            )
        rows.append(row)
    return rows


def gate_verdict(gate: OodGate, features: np.ndarray, image: np.ndarray) -> tuple[float, bool, str]:
    """OOD score, flag and (when flagged) the warning for one image, as every caller shows it."""
    result = gate.assess(features[None, :], image[None])
    score, flagged = float(result.distance[0]), bool(result.flagged[0])
    return score, flagged, warning_text(gate, score, float(result.layout[0])) if flagged else ""


def _apply_gate(row: ScreeningRow, gate: OodGate | None, gate_note: str, features: np.ndarray,
                image: np.ndarray) -> None:
    """Keep the prediction but put the OOD warning first in the message, where it cannot be missed."""
    if gate is None:
        if gate_note:
            row.message = "; ".join(filter(None, (gate_note, row.message)))
        return
    row.ood_score, row.out_of_distribution, warning = gate_verdict(gate, features, image)
    if warning:
        row.message = "; ".join(filter(None, (warning, row.message)))


def bundle_gate(engine: ScoringEngine) -> tuple[OodGate | None, str]:
    """The OOD gate of the engine's bundle (None without one) and a note when it cannot be used."""
    bundle = getattr(engine, "bundle", None)
    if bundle is None:
        return None, ""
    try:
        return load_gate(bundle), ""
    except CxrError as exc:
        log.warning("OOD gate unusable: %s", exc)
        return None, f"out-of-distribution check unavailable ({exc.reason})"


def _write_heatmap(folder: Path, path: Path, root: Path | None, radiograph: Radiograph, cam) -> Path:
    from cxr_desktop.core.atomic import write_png_atomic

    relative = path.relative_to(root) if root is not None and path.is_relative_to(root) else Path(path.name)
    target = folder / (relative.as_posix().replace("/", "__") + ".gradcam.png")
    heatmap = heatmap_to_image(cam, radiograph.width, radiograph.height)
    write_png_atomic(target, render_overlay(radiograph.pixels, heatmap))
    return target


def screen(
    paths: Iterable[Path],
    engine: ScoringEngine,
    *,
    thresholds: dict[str, float],
    batch_size: int = 16,
    heatmap_dir: Path | None = None,
    root: Path | None = None,
    should_stop: Callable[[], bool] = lambda: False,
    workers: int = 2,
    ood_gate: OodGate | None = None,
) -> Iterator[ScreeningRow]:
    """Yield one row per path, in input order, batching inference and prefetching decodes.

    ``should_stop`` is polled between batches: cancelling loses at most the batch in flight, and
    every row already yielded stays valid. ``ood_gate`` defaults to the gate stored in the engine's
    bundle (none for bundles without one); flagged rows keep their scores and get a warning.
    """
    paths = list(paths)
    gate, gate_note = (ood_gate, "") if ood_gate is not None else bundle_gate(engine)
    lookahead = max(2 * batch_size, workers)
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cxr-decode") as pool:
        pending: deque[tuple[Path, Future]] = deque()
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
            ready: list[tuple[Path, Radiograph, np.ndarray]] = []
            order: list[ScreeningRow | int] = []
            while pending and len(ready) < batch_size:
                path, future = pending.popleft()
                try:
                    radiograph, tensor = future.result()
                except BaseException as exc:  # noqa: BLE001 - every failure becomes a row
                    order.append(error_row(path, exc))
                else:
                    order.append(len(ready))
                    ready.append((path, radiograph, tensor))
                fill()
            scored: list[ScreeningRow] = []
            if ready:
                try:
                    scored = _score_batch(engine, ready, heatmap_dir, thresholds, root, gate, gate_note)
                except Exception as exc:  # noqa: BLE001 - one bad batch must not end the run
                    scored = [error_row(path, exc) for path, _, _ in ready]
            for item in order:
                yield scored[item] if isinstance(item, int) else item
