"""The one scoring path: radiograph -> tensor -> probabilities (+ heat-maps) -> OOD gate -> decision -> row.

The GUI worker (one image, or a folder through ``screening.screen``), the ``screen`` CLI, the
self-test and the trainer's evaluation and heat-map sheet all score through ``score`` or
``score_prepared``, so a fix here reaches every one of them and the same file and bundle give the
same probabilities everywhere. The row it returns is what the table, the CSV, the PDF report and
the audit trail (``audit.record_scored``) are made from.

The core never imports the engine: it declares the little it needs (``ScoringEngine``) and
``cxr_desktop.engine.Engine`` provides it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import numpy as np

from cxr_desktop.core import decision
from cxr_desktop.core.bundle import ModelBundle
from cxr_desktop.core.errors import CxrError
from cxr_desktop.core.image import Radiograph
from cxr_desktop.core.ood import OodGate, load_gate, population_warning, warning_text
from cxr_desktop.core.preprocessing import PreprocessingSpec, preprocess

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Scores:
    """Engine output for a batch of N preprocessed images and C classes.

    ``probabilities`` (N, C) calibrated, ``features`` (N, D) pooled features for the OOD gate,
    ``cams`` (N, C, h, w) Grad-CAM maps in [0, 1] when asked for.
    """

    probabilities: np.ndarray
    features: np.ndarray
    cams: np.ndarray | None = None


class ScoringEngine(Protocol):
    """What scoring needs from a model (``cxr_desktop.engine.Engine`` implements it)."""

    @property
    def spec(self) -> PreprocessingSpec: ...

    @property
    def classes(self) -> list[str]: ...

    def score(self, images: np.ndarray) -> Scores: ...

    def explain(self, images: np.ndarray) -> Scores: ...


@dataclass
class ScreeningRow:
    """One file's result: what the table, the CSV, the reports and the audit trail show.

    ``warnings`` are what a reader must be told (the OOD warning first); ``message`` is the
    warnings and the loader's notes in one line (or the reason a file could not be scored).
    ``cams`` holds every class's heat-map when the row was scored with ``explain``.
    """

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
    warnings: tuple[str, ...] = ()
    cams: np.ndarray | None = None

    @property
    def ok(self) -> bool:
        return self.status == "ok"

    @property
    def classes(self) -> list[str]:
        return list(self.probabilities)

    def probability(self, name: str) -> float:
        return self.probabilities[name]

    def cam(self, name: str) -> np.ndarray:
        """The heat-map explaining class ``name`` (the row must have been scored with ``explain``)."""
        if self.cams is None:
            raise ValueError(f"{self.path.name} was scored without heat-maps")
        return np.asarray(self.cams[self.classes.index(name)])


@dataclass(frozen=True)
class Prepared:
    """A radiograph with its model input, made ahead of inference (possibly in another thread)."""

    radiograph: Radiograph
    tensor: np.ndarray


@dataclass(frozen=True)
class Gate:
    """The OOD gate to apply (None: the bundle has none), a note to show when it is unusable, and
    the populations the bundle was validated on (per class: age groups, views), for the second
    verdict: a real frontal film of a patient the model was not validated for."""

    gate: OodGate | None = None
    note: str = ""
    validated: Mapping[str, Mapping[str, Sequence[str]]] = field(default_factory=dict)


def prepare(radiograph: Radiograph, spec: PreprocessingSpec) -> Prepared:
    return Prepared(radiograph, preprocess(radiograph.pixels, spec))


def bundle_gate(bundle: ModelBundle | None) -> Gate:
    """The bundle's OOD gate; a damaged gate becomes a note shown with every result, not a crash."""
    if bundle is None:
        return Gate()
    validated = bundle.metadata.get("validated_populations") or {}
    try:
        return Gate(load_gate(bundle), validated=validated)
    except CxrError as exc:
        log.warning("OOD gate unusable: %s", exc)
        return Gate(note=f"out-of-distribution check unavailable ({exc.reason})", validated=validated)


def score(
    radiographs: Sequence[Radiograph],
    engine: ScoringEngine,
    gate: Gate,
    *,
    thresholds: Mapping[str, float],
    explain: bool = False,
) -> list[ScreeningRow]:
    """Score radiographs in one batch: preprocessing, model, OOD gate and decision rule."""
    return score_prepared(
        [prepare(r, engine.spec) for r in radiographs], engine, gate, thresholds=thresholds, explain=explain
    )


def score_prepared(
    items: Sequence[Prepared],
    engine: ScoringEngine,
    gate: Gate,
    *,
    thresholds: Mapping[str, float],
    explain: bool = False,
) -> list[ScreeningRow]:
    """``score`` for radiographs already preprocessed by ``prepare`` (the screening loop's prefetch)."""
    if not items:
        return []
    images = np.stack([item.tensor for item in items])
    scores = engine.explain(images) if explain else engine.score(images)
    classes = list(engine.classes)
    verdicts = _gate_verdicts(gate.gate, scores.features, images)
    rows = []
    for index, item in enumerate(items):
        probabilities = scores.probabilities[index]
        found = decision.decide(probabilities, classes, thresholds)
        ood_score, outlier, ood_warning = verdicts[index]
        radiograph = item.radiograph
        population = population_warning(radiograph.dicom, gate.validated)
        warnings = tuple(filter(None, (ood_warning or gate.note, population, *radiograph.warnings)))
        rows.append(
            ScreeningRow(
                path=radiograph.path,
                status="ok",
                prediction=found.prediction,
                probabilities={name: float(p) for name, p in zip(classes, probabilities)},
                risk=found.risk,
                flagged=list(found.flagged),
                message="; ".join((*warnings, *radiograph.notes)),
                sha256=radiograph.sha256,
                radiograph=radiograph,
                ood_score=ood_score,
                out_of_distribution=outlier,
                warnings=warnings,
                cams=scores.cams[index] if scores.cams is not None else None,
            )
        )
    return rows


def _gate_verdicts(gate: OodGate | None, features: np.ndarray, images: np.ndarray) -> list[tuple[float, bool, str]]:
    """OOD score, flag and (when flagged) the warning per image; the prediction is kept either way."""
    if gate is None:
        return [(float("nan"), False, "")] * len(images)
    result = gate.assess(features, images)
    verdicts = []
    for distance, layout, flagged in zip(result.distance, result.layout, result.flagged):
        warning = warning_text(gate, float(distance), float(layout)) if flagged else ""
        verdicts.append((float(distance), bool(flagged), warning))
    return verdicts


def error_row(path: Path, exc: BaseException) -> ScreeningRow:
    """A row for a file that could not be scored; unexpected exceptions are logged, not shown raw."""
    if isinstance(exc, CxrError):
        return ScreeningRow(path=path, status="error", message=exc.reason)
    log.exception("unexpected failure on %s", path, exc_info=exc)
    return ScreeningRow(path=path, status="error", message=f"unexpected error while reading ({type(exc).__name__})")
