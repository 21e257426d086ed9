"""``cxr-train evaluate`` and ``cxr-train compare``: bundles scored through the application's own path.

Images go through ``load_radiograph``, the shared ``preprocess`` and the real ``Engine`` (via the
core's screening loop), with the bundle's temperature and thresholds, so the figures are those a
user of the application gets, not those of a training-time shortcut.

Which images: a bundle folder carries the ``split.csv`` of its run; when the data folder is the
one it was trained on, only that split's test rows are used (the other rows were seen in
training). ``--split`` names a split explicitly; otherwise every image in the class folders is used.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from pathlib import Path

import numpy as np

from cxr_desktop.core.bundle import ModelBundle, load_bundle, write_json_atomic
from cxr_desktop.core.decision import NEGATIVE_CLASS
from cxr_desktop.core.screening import screen
from trainer.data import DataError, Sample, read_split, scan_dataset
from trainer.evaluation import (
    classification_metrics,
    expected_calibration_error,
    group_metrics,
    paired_bootstrap_auc,
    uncalibrate,
)
from trainer.report import REPORT_DIR, Predictions, write_report

log = logging.getLogger(__name__)


def _same_folder(a: str | Path, b: str | Path) -> bool:
    return Path(a).expanduser().resolve() == Path(b).expanduser().resolve()


def own_test_paths(bundle: ModelBundle, data_dir: Path) -> set[Path] | None:
    """The test files of the bundle's own split, when ``data_dir`` is the data it was trained on."""
    split, config = bundle.folder / "split.csv", bundle.folder / "train_config.json"
    if not (split.is_file() and config.is_file()):
        return None
    trained_on = json.loads(config.read_text(encoding="utf-8")).get("data", "")
    if not trained_on or not _same_folder(trained_on, data_dir):
        return None
    return {s.path for s in read_split(split, data_dir) if s.split == "test"}


def select_samples(bundles: list[ModelBundle], data_dir: Path, split_csv: Path | None) -> tuple[list[Sample], str]:
    """The labelled images to score, and a sentence saying how they were chosen.

    With several bundles, only images in the test split of every bundle that has one on this data,
    so no model is scored on a film it was trained on.
    """
    classes = bundles[0].classes
    if split_csv is not None:
        samples = [s for s in read_split(split_csv, data_dir) if s.split == "test" and s.label in classes]
        selection = f"test rows of {split_csv}"
    else:
        samples = scan_dataset(data_dir, classes)
        selection = "every image in the class folders"
        for bundle in bundles:
            test = own_test_paths(bundle, data_dir)
            if test is not None:
                samples = [s for s in samples if s.path in test]
                selection = (
                    f"test split of {bundle.title}"
                    if selection.startswith("every")
                    else "images in the test splits of both bundles"
                )
    if not samples:
        raise DataError(f"no {'/'.join(classes)} images to evaluate in {data_dir} ({selection})")
    missing = [s.path for s in samples if not Path(s.path).is_file()]
    if missing:
        raise DataError(
            f"{len(missing)} of {len(samples)} listed images are missing under {data_dir},"
            f" e.g. {missing[0]}: is --data the folder the split was made on?"
        )
    return samples, selection


def score_samples(bundle: ModelBundle, samples: list[Sample]) -> tuple[list[Sample], np.ndarray, list[str]]:
    """Calibrated probabilities (in the bundle's class order) for every readable image.

    Returns the scored samples, their probabilities, and a message per unreadable file.
    """
    from cxr_desktop.engine.tensorflow_engine import Engine

    engine = Engine(bundle)
    print(
        f"scoring {len(samples)} images with {bundle.title} on {engine.device_description}", file=sys.stderr, flush=True
    )
    started = time.perf_counter()
    kept, probs, skipped = [], [], []
    rows = screen([s.path for s in samples], engine, thresholds=bundle.thresholds)
    for sample, row in zip(samples, rows):
        if row.ok:
            kept.append(sample)
            probs.append([row.probabilities[c] for c in bundle.classes])
        else:
            skipped.append(f"{Path(row.path).name}: {row.message}")
    log.info("%s: %d images in %.0fs", bundle.title, len(kept), time.perf_counter() - started)
    return kept, np.asarray(probs, dtype=np.float64).reshape(-1, len(bundle.classes)), skipped


def evaluation_metadata(
    bundle: ModelBundle, samples: list[Sample], probs: np.ndarray, data_dir: Path, selection: str, skipped: int
) -> dict:
    """Metrics in the shape of a bundle's metadata, so the export's report writer can lay them out."""
    classes, thresholds, temperature = bundle.classes, bundle.thresholds, bundle.temperature
    labels = np.array([classes.index(s.label) for s in samples], dtype=np.int64)
    return {
        "name": bundle.name,
        "version": bundle.version,
        "description": bundle.metadata.get("description", ""),
        "classes": classes,
        "thresholds": thresholds,
        "operating_point": bundle.metadata.get("operating_point", "the bundle's thresholds"),
        "calibration": {
            "temperature": temperature,
            "fitted_on": bundle.metadata["calibration"].get("fitted_on", "the bundle's validation split"),
            "ece_test_before": expected_calibration_error(uncalibrate(probs, temperature), labels),
            "ece_test_after": expected_calibration_error(probs, labels),
        },
        "metrics": {
            "split": selection,
            "test": classification_metrics(labels, probs, classes, thresholds),
            "per_source": group_metrics([s.source for s in samples], labels, probs, classes, thresholds),
            "per_age_group": group_metrics([s.age_group for s in samples], labels, probs, classes, thresholds),
        },
        "evaluation": {"data": str(data_dir), "selection": selection, "skipped": skipped},
    }


def _predictions(samples: list[Sample], probs: np.ndarray, classes: list[str], data_dir: Path) -> Predictions:
    def name(path: Path) -> str:
        path = Path(path)
        return path.relative_to(data_dir).as_posix() if path.is_relative_to(data_dir) else str(path)

    return Predictions(
        paths=[name(s.path) for s in samples],
        labels=np.array([classes.index(s.label) for s in samples], dtype=np.int64),
        probs=probs,
        classes=classes,
    )


def _f(value: float | None, digits: int = 3) -> str:
    return "–" if value is None or np.isnan(value) else f"{value:.{digits}f}"


def format_summary(metadata: dict) -> str:
    """The terminal summary of one evaluation."""
    test = metadata["metrics"]["test"]
    calibration = metadata["calibration"]
    evaluation = metadata["evaluation"]
    lines = [
        f"{metadata['name']} v{metadata['version']} on {evaluation['data']} ({evaluation['selection']}):"
        f" {test['n']} images scored, {evaluation['skipped']} unreadable",
        f"  accuracy {_f(test['accuracy'])}   macro AUC {_f(test['macro_auc'])}"
        f"   ECE {_f(calibration['ece_test_after'])}"
        f" (uncalibrated {_f(calibration['ece_test_before'])}, temperature {calibration['temperature']:.3f})",
        f"  {'class':<12}{'n':>6}{'AUC':>8}{'sens':>8}{'spec':>8}{'prec':>8}{'F1':>8}{'thresh':>8}",
    ]
    for name, e in test["per_class"].items():
        lines.append(
            f"  {name:<12}{e['n']:>6}{_f(e.get('auc')):>8}{_f(e['sensitivity']):>8}{_f(e['specificity']):>8}"
            f"{_f(e['precision']):>8}{_f(e['f1']):>8}{e['threshold']:>8.3f}"
        )
    for key, title in (("per_source", "per source"), ("per_age_group", "per age group")):
        groups = metadata["metrics"].get(key) or {}
        if groups:
            lines.append(
                f"  {title}: "
                + "; ".join(
                    f"{g} n={e['n']} acc {_f(e['accuracy'])} AUC {_f(e['macro_auc'])}" for g, e in groups.items()
                )
            )
    return "\n".join(lines)


def evaluate_command(model: str, data_dir: Path, split_csv: Path | None, out_dir: Path | None) -> int:
    bundle = load_bundle(model)
    data_dir = Path(data_dir)
    samples, selection = select_samples([bundle], data_dir, split_csv)
    scored, probs, skipped = score_samples(bundle, samples)
    if not scored:
        raise DataError(f"none of the {len(samples)} images could be read: {skipped[0]}")
    metadata = evaluation_metadata(bundle, scored, probs, data_dir, selection, len(skipped))
    print(format_summary(metadata))
    for message in skipped[:10]:
        print(f"  unreadable: {message}")
    if out_dir is not None:
        summary = write_report(Path(out_dir), metadata, _predictions(scored, probs, bundle.classes, data_dir))
        write_json_atomic(Path(out_dir) / "metrics.json", metadata)
        print(f"report: {summary}")
    return 0


def comparison_rows(meta_a: dict, meta_b: dict, bootstrap: dict) -> list[tuple[str, float, float, float, str]]:
    """(metric, A, B, B - A, 95 % CI) rows; CIs for the AUCs only (paired bootstrap)."""
    test_a, test_b = meta_a["metrics"]["test"], meta_b["metrics"]["test"]

    def row(label: str, a: float, b: float, ci_key: str | None = None):
        ci = bootstrap[ci_key]["ci95"] if ci_key else None
        return label, a, b, b - a, (f"[{_f(ci[0])}, {_f(ci[1])}]" if ci else "")

    rows = [row("macro AUC", test_a["macro_auc"], test_b["macro_auc"], "macro")]
    for name in meta_a["classes"]:
        rows.append(
            row(
                f"AUC {name}",
                test_a["per_class"][name].get("auc", float("nan")),
                test_b["per_class"][name].get("auc", float("nan")),
                name,
            )
        )
    rows.append(row("accuracy", test_a["accuracy"], test_b["accuracy"]))
    for name in meta_a["classes"]:
        if name == NEGATIVE_CLASS:
            continue
        for key in ("sensitivity", "specificity"):
            rows.append(row(f"{key} {name} @op", test_a["per_class"][name][key], test_b["per_class"][name][key]))
    rows.append(
        row("ECE (calibrated)", meta_a["calibration"]["ece_test_after"], meta_b["calibration"]["ece_test_after"])
    )
    return rows


def format_comparison(title_a: str, title_b: str, rows, n: int, selection: str, bootstrap: dict) -> str:
    header = f"{'metric':<26}{'A':>9}{'B':>9}{'B - A':>9}   95% CI of B - A"
    lines = [
        f"A = {title_a}",
        f"B = {title_b}",
        f"{n} images ({selection}); each model at its own operating thresholds",
        header,
        "-" * len(header),
    ]
    for label, a, b, diff, ci in rows:
        lines.append(f"{label:<26}{_f(a):>9}{_f(b):>9}{_f(diff, 4) if not np.isnan(diff) else '–':>9}   {ci}")
    lines.append(f"CIs: paired bootstrap over {bootstrap['resampled']}, {bootstrap['replicates']} replicates.")
    return "\n".join(lines)


def compare_command(bundle_a: str, bundle_b: str, data_dir: Path, split_csv: Path | None, out_dir: Path | None) -> int:
    a, b = load_bundle(bundle_a), load_bundle(bundle_b)
    if set(a.classes) != set(b.classes):
        raise DataError(
            f"cannot compare {a.title} ({', '.join(a.classes)}) with {b.title}"
            f" ({', '.join(b.classes)}): they do not predict the same classes"
        )
    data_dir = Path(data_dir)
    samples, selection = select_samples([a, b], data_dir, split_csv)
    scored_a, probs_a, skipped_a = score_samples(a, samples)
    scored_b, probs_b, skipped_b = score_samples(b, samples)
    both = {s.path for s in scored_a} & {s.path for s in scored_b}
    keep_a = [i for i, s in enumerate(scored_a) if s.path in both]
    keep_b = [i for i, s in enumerate(scored_b) if s.path in both]
    samples = [scored_a[i] for i in keep_a]
    if not samples:
        raise DataError("no image could be scored by both models")
    order = [b.classes.index(c) for c in a.classes]
    probs_a, probs_b = probs_a[keep_a], probs_b[keep_b]
    skipped = len(set(skipped_a) | set(skipped_b))
    meta_a = evaluation_metadata(a, samples, probs_a, data_dir, selection, skipped)
    meta_b = evaluation_metadata(b, samples, probs_b, data_dir, selection, skipped)
    labels = np.array([a.classes.index(s.label) for s in samples], dtype=np.int64)
    bootstrap = paired_bootstrap_auc(labels, probs_a, probs_b[:, order], a.classes, [s.patient_id for s in samples])
    rows = comparison_rows(meta_a, meta_b, bootstrap)
    title_a, title_b = a.title, b.title
    text = format_comparison(title_a, title_b, rows, len(samples), selection, bootstrap)
    print(text)
    if out_dir is not None:
        out = Path(out_dir)
        names = ("A", "B") if a.title == b.title else (a.name, b.name)
        for name, bundle, meta, probs in ((names[0], a, meta_a, probs_a), (names[1], b, meta_b, probs_b)):
            write_report(out / f"{REPORT_DIR}-{name}", meta, _predictions(samples, probs, bundle.classes, data_dir))
        out.mkdir(parents=True, exist_ok=True)
        (out / "compare.md").write_text("```\n" + text + "\n```\n", encoding="utf-8")
        write_json_atomic(out / "compare.json", {"a": meta_a, "b": meta_b, "bootstrap": bootstrap})
        print(f"comparison written to {out}")
    return 0
