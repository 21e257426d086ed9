"""The product claim, end to end: the real bundled models score real held-out radiographs through
the headless command (load -> preprocess -> engine -> decision -> CSV + heat-maps)."""

from __future__ import annotations

import csv
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score

from trainer.data import read_split
from trainer.report import PREDICTIONS_FILE, REPORT_DIR, read_predictions_csv

ROOT = Path(__file__).resolve().parents[1]
PER_CLASS = 15


def held_out_images(bundle, data_dir: Path, folder: Path) -> dict[str, str]:
    """Copy PER_CLASS test-split images per class (patients the model never trained on)."""
    samples = [s for s in read_split(bundle.folder / "split.csv", data_dir) if s.split == "test"]
    labels = {}
    for name in bundle.classes:
        for sample in [s for s in samples if s.label == name][:PER_CLASS]:
            target = folder / f"{name}__{sample.path.name}"
            shutil.copy(sample.path, target)
            labels[target.name] = name
    return labels


@pytest.mark.parametrize("fixture", ["bundle_3class", "bundle_binary"])
def test_bundled_model_screens_held_out_patients(fixture, request, cxr3, tmp_path):
    bundle = request.getfixturevalue(fixture)
    folder = tmp_path / "studies"
    folder.mkdir()
    labels = held_out_images(bundle, cxr3, folder)
    out = tmp_path / "out.csv"
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cxr_desktop",
            "screen",
            str(folder),
            "--model",
            bundle.name,
            "--csv",
            str(out),
            "--heatmaps",
            str(tmp_path / "maps"),
            "--identifiers",
            "keep",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=900,
    )
    assert result.returncode == 0, result.stderr
    with open(out, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == len(labels) and all(r["status"] == "ok" for r in rows)
    truth = [labels[Path(r["path"]).name] for r in rows]
    # the headline is the most probable class; the flags are the classes at their operating threshold
    # (the CSV keeps 4 decimals: films within that rounding of a tie or a threshold are not judged)
    for r in rows:
        p = {c: float(r[f"p_{c}"]) for c in bundle.classes}
        top, second = sorted(p.values(), reverse=True)[:2]
        if top - second > 1e-4:
            assert p[r["prediction"]] == top
        flags = set(filter(None, r["flagged"].split(";")))
        for c in bundle.classes:
            if c != "normal" and abs(p[c] - bundle.thresholds[c]) > 1e-4:
                assert (c in flags) == (p[c] >= bundle.thresholds[c]), (r["path"], c)
    # the command line gives each film the probabilities the model card's figures were computed from
    # (report/test_predictions.csv; float32 there, the machine's precision here)
    card = read_predictions_csv(bundle.folder / REPORT_DIR / PREDICTIONS_FILE)
    stated = {Path(path).name: probs for path, probs in zip(card.paths, card.probs)}
    for r in rows:
        original = Path(r["path"]).name.split("__", 1)[1]
        for j, name in enumerate(bundle.classes):
            assert abs(float(r[f"p_{name}"]) - stated[original][j]) <= 0.02, (original, name)
    for name in bundle.classes:
        positive = [t == name for t in truth]
        auc = roc_auc_score(positive, [float(r[f"p_{name}"]) for r in rows])
        assert auc >= 0.75, f"{bundle.name}: AUC {auc:.3f} for {name} on {len(rows)} held-out films"
    assert len(list((tmp_path / "maps").glob("*.png"))) == len(rows)
