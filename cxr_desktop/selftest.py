"""Self-test: does this installation score the shipped samples exactly as the build did?

The build command (``cxr-build``) scores ``resources/samples`` with every bundled model from the
source tree and records the results in ``selftest_expected.json`` inside the build. On a
workstation, ``cxr-desktop --self-test`` loads each bundled model, scores the same images through
the same screening loop and compares: a missing library, a damaged or swapped model file, a broken
DICOM plugin or a numerical change in the packaged TensorFlow shows up as a failed row, headless,
before the tool is used on patients. No Qt is imported here.

The expected results live in the build, not the source tree, because they belong to the exact
model weights bundled (a site may bundle a retrained model with ``cxr-build --models``): a copy in
the source tree would go stale the moment a model is retrained.
"""

from __future__ import annotations

import logging
import math
import sys
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, TextIO

from cxr_desktop import __version__
from cxr_desktop.core.bundle import DEFAULT_MODEL, METADATA_FILE, ModelBundle, load_bundle, write_json_atomic
from cxr_desktop.core.errors import BundleError, CxrError
from cxr_desktop.core.resources import is_frozen, resource_path, sample_images

log = logging.getLogger(__name__)

SCHEMA = "cxr-desktop-selftest/1"
EXPECTED_FILE = "selftest_expected.json"
#: Largest accepted difference of any probability: room for float32 rounding in another CPU's
#: SIMD kernels, far below what a wrong model or a broken preprocessing step changes.
TOLERANCE = 1e-3
#: Scored in float32 whatever the machine would choose, so the comparison is about the software,
#: not about whether this CPU happens to support bfloat16.
PRECISION = "float32"


@dataclass(frozen=True)
class Check:
    """One row of the summary: what was checked, what was expected, what was found."""

    subject: str
    item: str
    expected: str
    got: str
    passed: bool
    delta: float | None = None


def expected_path() -> Path:
    """Where the build put the expected results (inside the frozen app's ``resources/``)."""
    return resource_path(EXPECTED_FILE)


def bundle_folders(models_root: Path) -> list[Path]:
    """Every bundle folder directly under ``models_root``, sorted by name."""
    return sorted(p for p in models_root.iterdir() if (p / METADATA_FILE).is_file())


def score_samples(model: str | Path, samples: list[Path]) -> tuple[ModelBundle, dict[str, dict[str, Any]]]:
    """Score ``samples`` with one model through the product's own screening loop."""
    from cxr_desktop.core.screening import screen
    from cxr_desktop.engine import load_engine

    bundle = load_bundle(model)
    engine = load_engine(bundle, precision=PRECISION)
    results = {}
    for row in screen(samples, engine, thresholds=bundle.thresholds, batch_size=max(len(samples), 1)):
        results[row.path.name] = {
            "status": row.status,
            "prediction": row.prediction,
            "probabilities": row.probabilities,
            "message": row.message,
        }
    return bundle, results


def record_expected(models_root: Path, target: Path) -> dict[str, Any]:
    """Build time: score the samples with every bundle in ``models_root`` and write ``target``.

    Refuses (``CxrError``) when the default model is missing or a sample cannot be scored, so a
    build never ships a self-test that could not pass.
    """
    folders = bundle_folders(models_root)
    if DEFAULT_MODEL not in {folder.name for folder in folders}:
        raise BundleError(f"model folder {models_root} has no '{DEFAULT_MODEL}' bundle (the app's default model)")
    samples = sample_images()
    if not samples:
        raise CxrError(f"no sample images found in {resource_path('samples')}")
    models = {}
    for folder in folders:
        bundle, results = score_samples(folder, samples)
        failed = [name for name, result in results.items() if result["status"] != "ok"]
        if failed:
            raise CxrError(f"{bundle.title} could not score the samples {', '.join(failed)}")
        models[folder.name] = {
            "title": bundle.title,
            "model_sha256": bundle.sha256,
            "classes": bundle.classes,
            "samples": results,
        }
        log.info("recorded self-test results of %s", bundle.title)
    data = {
        "schema": SCHEMA,
        "app_version": __version__,
        "recorded_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "precision": PRECISION,
        "tolerance": TOLERANCE,
        "models": models,
    }
    write_json_atomic(target, data)
    return data


def decoder_checks() -> list[Check]:
    """The DICOM pixel-data plugins are found the way pydicom finds them (import + entry points)."""
    from pydicom import uid
    from pydicom.pixels.decoders import pylibjpeg as pydicom_plugin

    try:
        from pylibjpeg.utils import get_pixel_data_decoders

        discovered = get_pixel_data_decoders(version=2)
    except ImportError:
        discovered = {}
    syntaxes = (
        ("JPEG lossless / JPEG-LS (libjpeg)", uid.JPEGLSLossless),
        ("JPEG 2000 (openjpeg)", uid.JPEG2000Lossless),
        ("RLE lossless (rle)", uid.RLELossless),
    )
    checks = []
    for label, syntax in syntaxes:
        found = pydicom_plugin.is_available(syntax) and bool(discovered.get(syntax))
        checks.append(Check("DICOM decoder", label, "available", "available" if found else "missing", found))
    return checks


def model_checks(name: str, expected: dict[str, Any], tolerance: float) -> list[Check]:
    """Load one bundled model, check its weights are the built ones, and compare every sample."""
    samples = [resource_path("samples", sample) for sample in expected["samples"]]
    missing = [path.name for path in samples if not path.is_file()]
    if missing:
        return [Check(name, "samples", "present", f"missing: {', '.join(missing)}", False)]
    try:
        bundle, results = score_samples(name, samples)
    except CxrError as exc:
        return [Check(name, "load", "loads", exc.reason, False)]
    except Exception as exc:  # noqa: BLE001 - a self-test reports a broken install, it does not crash on it
        log.exception("self-test could not run %s", name)
        return [Check(name, "load", "loads", f"{type(exc).__name__}: {exc}", False)]
    checks = [
        Check(
            name,
            "weights sha256",
            expected["model_sha256"][:12],
            bundle.sha256[:12],
            bundle.sha256 == expected["model_sha256"],
        )
    ]
    for sample, want in expected["samples"].items():
        got = results.get(sample, {"status": "missing", "prediction": "", "probabilities": {}, "message": ""})
        if got["status"] != "ok":
            checks.append(Check(name, sample, want["prediction"], f"error: {got['message']}", False))
            continue
        deltas = [
            abs(float(got["probabilities"].get(c, float("nan"))) - float(p)) for c, p in want["probabilities"].items()
        ]
        delta = float("inf") if any(math.isnan(d) for d in deltas) else max(deltas, default=float("inf"))
        passed = got["prediction"] == want["prediction"] and delta <= tolerance
        checks.append(Check(name, sample, want["prediction"], got["prediction"], passed, delta))
    return checks


def run_checks(expected: dict[str, Any]) -> list[Check]:
    tolerance = float(expected.get("tolerance", TOLERANCE))
    checks = decoder_checks()
    for name, model in expected["models"].items():
        checks.extend(model_checks(name, model, tolerance))
    return checks


def format_table(checks: list[Check]) -> str:
    header = ("subject", "item", "expected", "got", "max |dp|", "result")
    rows = [header] + [
        (
            c.subject,
            c.item,
            c.expected,
            c.got,
            "" if c.delta is None else f"{c.delta:.2e}",
            "ok" if c.passed else "FAIL",
        )
        for c in checks
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    return "\n".join("  ".join(cell.ljust(width) for cell, width in zip(row, widths)).rstrip() for row in rows)


def load_expected(path: Path) -> dict[str, Any]:
    import json

    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CxrError(
            f"no expected results at {path}: they are recorded by the build command (cxr-build) into"
            " the built app, so the self-test runs in a built app"
        ) from None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CxrError(f"expected results {path} cannot be read: {exc}") from None
    if not isinstance(data, dict) or data.get("schema") != SCHEMA or not data.get("models"):
        raise CxrError(f"expected results {path} are not a {SCHEMA} file with at least one model")
    return data


def run_selftest(expected_file: Path | None = None, out: TextIO = sys.stdout) -> int:
    """Run every check, print the summary table to ``out``; 0 when all pass, 1 otherwise."""
    path = expected_file or expected_path()
    build = "frozen build" if is_frozen() else "source checkout"
    out.write(f"CXR Desktop self-test (cxr-desktop {__version__}, {build})\n")
    try:
        expected = load_expected(path)
    except CxrError as exc:
        out.write(f"self-test FAILED: {exc}\n")
        return 1
    out.write(
        f"expected results: {path} (recorded {expected.get('recorded_at', '?')},"
        f" tolerance {float(expected.get('tolerance', TOLERANCE)):g})\n\n"
    )
    checks = run_checks(expected)
    out.write(format_table(checks) + "\n\n")
    failed = sum(1 for check in checks if not check.passed)
    if failed:
        out.write(f"self-test FAILED: {failed} of {len(checks)} checks failed\n")
        return 1
    out.write(f"self-test passed: {len(checks)} checks\n")
    return 0
