"""int8 graphs, shipped only behind an accuracy gate measured on the bundle's test split.

Static quantisation (ONNX Runtime, QDQ, per-channel weights) calibrated on training films of every
class and source, so the activation ranges are those of real radiographs. The int8 graph becomes
the app's default only when, on every film of the test split, decisions (headline and flags, as
``core.decision.decide`` makes them) agree with float32 on >= 99.5% of films and |delta p| <= 0.01
on >= 99%; otherwise the bundle keeps float32 and its metadata records the measured gap.
"""

from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from cxr_desktop.core.bundle import ModelBundle, load_bundle, write_metadata
from cxr_desktop.core.decision import decide
from cxr_desktop.core.preprocessing import preprocess
from cxr_desktop.core.radiograph import load_radiograph
from trainer.data import Sample, read_split

log = logging.getLogger(__name__)

INT8_FILE = "model.int8.onnx"
CALIBRATION_FILMS = 96
SAME_DECISIONS = 0.995
SMALL_DELTA = 0.01
SMALL_DELTA_SHARE = 0.99


@dataclass(frozen=True)
class Int8Gate:
    """What the gate measured: float32 vs int8 on the same test films, same runtime."""

    films: int
    same_decisions: float
    within_delta: float
    max_delta: float
    float32_images_per_s: float
    int8_images_per_s: float
    runtime: str
    calibration_films: int

    @property
    def passed(self) -> bool:
        return self.same_decisions >= SAME_DECISIONS and self.within_delta >= SMALL_DELTA_SHARE

    def summary(self) -> str:
        verdict = "PASSED: int8 is the default" if self.passed else "FAILED: float32 stays the default"
        return (
            f"int8 gate on {self.films} test films ({self.runtime}): same decisions {100 * self.same_decisions:.2f}%"
            f" (>= {100 * SAME_DECISIONS:.1f}%), |dp| <= {SMALL_DELTA} on {100 * self.within_delta:.2f}%"
            f" (>= {100 * SMALL_DELTA_SHARE:.0f}%), max |dp| {self.max_delta:.3f};"
            f" {self.float32_images_per_s:.1f} -> {self.int8_images_per_s:.1f} img/s. {verdict}"
        )


def calibration_films(samples: list[Sample], count: int = CALIBRATION_FILMS) -> list[Sample]:
    """Training films spread over class x source, in a fixed order (round robin over the groups)."""
    groups: dict[tuple[str, str], list[Sample]] = {}
    for sample in sorted(samples, key=lambda s: str(s.path)):
        groups.setdefault((sample.label, sample.source), []).append(sample)
    chosen: list[Sample] = []
    while len(chosen) < count and any(groups.values()):
        for key in sorted(groups):
            if groups[key] and len(chosen) < count:
                chosen.append(groups[key].pop(0))
    return chosen


def quantise_graph(bundle: ModelBundle, films: list[Sample], out: Path) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    assert bundle.onnx is not None
    tensors = [preprocess(load_radiograph(s.path).pixels, bundle.preprocessing)[None] for s in films]

    class Films(CalibrationDataReader):
        def __init__(self) -> None:
            self.remaining = iter(tensors)

        def get_next(self) -> dict[str, np.ndarray] | None:
            tensor = next(self.remaining, None)
            return None if tensor is None else {"images": tensor}

    quantize_static(
        str(bundle.folder / bundle.onnx.file),
        str(out),
        Films(),
        quant_format=QuantFormat.QDQ,
        per_channel=True,
        activation_type=QuantType.QUInt8,
        weight_type=QuantType.QInt8,
    )


def verdict(probabilities: np.ndarray, bundle: ModelBundle) -> tuple[str, tuple[str, ...]]:
    """What a reader is told: the headline and the flags (the risk is a probability, compared apart)."""
    decision = decide(probabilities, bundle.classes, bundle.thresholds)
    return decision.prediction, decision.flagged


def measure_gate(bundle: ModelBundle, test: list[Sample], runtime: str, calibration: int) -> Int8Gate:
    from cxr_desktop.engine import load_engine
    from trainer.export import split_probabilities

    probabilities, rates = {}, {}
    for precision in ("float32", "int8"):
        engine = load_engine(bundle, backend=runtime, precision=precision)
        started = time.perf_counter()
        probabilities[precision] = split_probabilities(engine, test)
        rates[precision] = len(test) / (time.perf_counter() - started)
    p32, p8 = probabilities["float32"], probabilities["int8"]
    same = [verdict(a, bundle) == verdict(b, bundle) for a, b in zip(p32, p8, strict=True)]
    delta = np.abs(p32 - p8).max(axis=1)
    return Int8Gate(
        films=len(test),
        same_decisions=float(np.mean(same)),
        within_delta=float(np.mean(delta <= SMALL_DELTA)),
        max_delta=float(delta.max()),
        float32_images_per_s=rates["float32"],
        int8_images_per_s=rates["int8"],
        runtime=runtime,
        calibration_films=calibration,
    )


def quantise_bundle(folder: Path, data: Path, runtime: str = "openvino") -> Int8Gate:
    """Quantise, gate, and record the outcome; a failed int8 graph is not kept in the bundle."""
    bundle = load_bundle(folder)
    if bundle.onnx is None:
        raise ValueError(f"bundle {bundle.title} has no ONNX graph; run cxr-train export-onnx first")
    samples = read_split(folder / "split.csv", data)
    films = calibration_films([s for s in samples if s.split == "train"])
    staged = folder / INT8_FILE
    quantise_graph(bundle, films, staged)
    metadata = dict(bundle.metadata)
    onnx = {key: value for key, value in metadata["onnx"].items() if key not in ("int8", "int8_gate")}
    onnx["int8"] = {"file": INT8_FILE, "default": False}
    metadata["onnx"] = onnx
    candidate = write_metadata(folder, metadata)
    gate = measure_gate(candidate, [s for s in samples if s.split == "test"], runtime, len(films))
    log.info("%s: %s", bundle.title, gate.summary())
    onnx["int8_gate"] = {**asdict(gate), "passed": gate.passed, "summary": gate.summary()}
    if gate.passed:
        onnx["int8"] = {"file": INT8_FILE, "default": True}
    else:
        del onnx["int8"]
    write_metadata(folder, metadata)
    if not gate.passed:
        staged.unlink()
    return gate
