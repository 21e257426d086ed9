"""Data sets on disk: folder-per-class images with an optional manifest of patient ids.

Splits are made by patient (a patient's images never straddle two splits), stratified by class,
with a fixed seed, and written out so a run can be audited and reproduced.
"""

from __future__ import annotations

import csv
import hashlib
import logging
import os
from collections import Counter, defaultdict
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np

from cxr_desktop.core.errors import CxrError
from cxr_desktop.core.preprocessing import PreprocessingSpec, preprocess
from cxr_desktop.core.radiograph import is_image, load_radiograph

log = logging.getLogger(__name__)

DATA_ENV = "CXR_DATA_DIR"
SPLITS = ("train", "val", "test")


class DataError(ValueError):
    """The data set cannot be used as asked (missing classes, too few patients, conflicts)."""


@dataclass(frozen=True)
class Sample:
    path: Path
    label: str
    patient_id: str
    source: str = "unknown"
    age_group: str = "unknown"
    view: str = ""
    split: str = ""


def default_data_dir() -> Path:
    """$CXR_DATA_DIR, else ../shared/data/cxr3 beside the project root."""
    env = os.environ.get(DATA_ENV)
    if env:
        return Path(env)
    return Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cxr3"


def scan_dataset(
    data_dir: Path,
    classes: list[str],
    manifest: Path | None = None,
    where: dict[str, str] | None = None,
) -> list[Sample]:
    """List the images of the wanted classes, joined with the manifest when there is one.

    The label is the manifest's ``label`` column where a row exists (cxr3 keeps ``other_abnormal``
    films in ``other/``), else the name of the file's top folder. Without a manifest every file is
    its own patient: say so, because a patient with several films can then leak between splits.
    """
    data_dir = Path(data_dir)
    manifest = manifest or (data_dir / "manifest.csv" if (data_dir / "manifest.csv").is_file() else None)
    rows: dict[str, dict[str, str]] = {}
    if manifest:
        with open(manifest, newline="", encoding="utf-8") as handle:
            rows = {row["file"]: row for row in csv.DictReader(handle)}
    else:
        log.warning("no manifest: each file is treated as a separate patient (leakage not controlled)")
    folders = sorted(p for p in data_dir.iterdir() if p.is_dir()) if data_dir.is_dir() else []
    samples = []
    for folder in folders:
        for path in sorted(folder.rglob("*")):
            if not is_image(path):
                continue
            rel = path.relative_to(data_dir).as_posix()
            row = rows.get(rel, {})
            label = row.get("label") or folder.name
            if label not in classes:
                continue
            samples.append(
                Sample(
                    path=path,
                    label=label,
                    patient_id=row.get("patient_id") or f"file:{rel}",
                    source=(row.get("dataset") or "unknown").split(" (")[0],
                    age_group=row.get("age_group") or "unknown",
                    view=row.get("view") or "",
                )
            )
    counts = Counter(s.label for s in samples)
    missing = [c for c in classes if counts[c] == 0]
    if missing:
        raise DataError(f"{data_dir} has no images for class(es): {', '.join(missing)}")
    if where:
        samples = [s for s in samples if all(str(getattr(s, k)) == v for k, v in where.items())]
    counts = Counter(s.label for s in samples)
    empty = [c for c in classes if counts[c] == 0]
    if empty:
        raise DataError(f"no images for class(es): {', '.join(empty)}")
    return samples


def load_arrays(samples: list[Sample], spec: PreprocessingSpec) -> tuple[list[Sample], np.ndarray, list[str]]:
    """Decode and preprocess every image once through the shared core; unreadable files are listed.

    Returns the kept samples, a (N, size, size) float16 array (one grey channel: the replication to
    the model's channels is free at batch time) and the pixel hashes used for duplicate detection.
    """
    kept, arrays, hashes = [], [], []
    for sample in samples:
        try:
            radiograph = load_radiograph(sample.path)
        except CxrError as exc:
            log.warning("skipped %s", exc)
            continue
        hashes.append(hashlib.md5(np.ascontiguousarray(radiograph.pixels).tobytes()).hexdigest())
        one_channel = replace_channels(spec, 1)
        arrays.append(preprocess(radiograph.pixels, one_channel)[..., 0].astype(np.float16))
        kept.append(sample)
    return kept, np.stack(arrays), hashes


def replace_channels(spec: PreprocessingSpec, channels: int) -> PreprocessingSpec:
    return replace(spec, channels=channels)


def merge_duplicates(samples: list[Sample], hashes: list[str]) -> tuple[list[Sample], list[int], dict]:
    """Give files with identical pixels one patient group, so they cannot straddle splits.

    Identical pixels under different labels are a labelling conflict: those files are dropped.
    Returns the relabelled samples, the indices kept, and a summary for the report.
    """
    by_hash: dict[str, list[int]] = defaultdict(list)
    for index, digest in enumerate(hashes):
        by_hash[digest].append(index)
    drop: set[int] = set()
    group_of: dict[str, str] = {}
    merged = 0
    for indices in by_hash.values():
        if len(indices) < 2:
            continue
        if len({samples[i].label for i in indices}) > 1:
            drop.update(indices)
            continue
        target = samples[indices[0]].patient_id
        for i in indices[1:]:
            if samples[i].patient_id != target:
                group_of[samples[i].patient_id] = target
                merged += 1
    keep = [i for i in range(len(samples)) if i not in drop]
    out = [replace(samples[i], patient_id=_find(group_of, samples[i].patient_id)) for i in keep]
    return out, keep, {"duplicate_groups_merged": merged, "conflicting_duplicates_dropped": len(drop)}


def _find(parent: dict[str, str], key: str) -> str:
    while key in parent:
        key = parent[key]
    return key


def patient_unit(patient_id: str, seed: int) -> float:
    """A patient's fixed position in [0, 1), from a hash of the seed and the id.

    Splitting by this value (rather than by shuffling a list) gives every patient the same split in
    every run with the same seed, whatever subset of the data that run uses. So a binary model
    initialised from the three-class model never meets, in its test split, a patient the
    three-class model trained on.
    """
    digest = hashlib.sha256(f"{seed}:{patient_id}".encode()).hexdigest()
    return int(digest[:12], 16) / float(16**12)


def split_by_patient(
    samples: list[Sample],
    classes: list[str],
    *,
    val_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 1234,
    min_patients: int = 20,
) -> list[Sample]:
    """Assign each patient group to train / val / test by ``patient_unit``, reproducibly.

    With hundreds of patients per class the hash assignment is stratified in expectation; the
    realised per-class counts are checked, and a split that leaves any class with fewer than
    ``min_patients`` patients in validation or test is refused: metrics on a handful of patients
    (the seeds' 16-image validation set) are noise.
    """

    def split_of(patient: str) -> str:
        unit = patient_unit(patient, seed)
        return "test" if unit < test_fraction else ("val" if unit < test_fraction + val_fraction else "train")

    assigned = [replace(s, split=split_of(s.patient_id)) for s in samples]
    for label in classes:
        for split in ("val", "test"):
            count = len({s.patient_id for s in assigned if s.label == label and s.split == split})
            if count < min_patients:
                raise DataError(
                    f"class '{label}' would have only {count} patient(s) in the {split} split"
                    f" (minimum {min_patients}); add data or lower --min-val-patients knowingly"
                )
    return assigned


def write_split(samples: list[Sample], path: Path, data_dir: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fields = [f for f in Sample.__dataclass_fields__]
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=fields)
        writer.writeheader()
        for sample in samples:
            row = asdict(sample)
            row["path"] = Path(sample.path).relative_to(data_dir).as_posix()
            writer.writerow(row)


def read_split(path: Path, data_dir: Path) -> list[Sample]:
    with open(path, newline="", encoding="utf-8") as handle:
        return [Sample(**dict(row, path=Path(data_dir) / row["path"])) for row in csv.DictReader(handle)]


def split_summary(samples: list[Sample], classes: list[str]) -> dict:
    """Images and patients per split and class: goes into the bundle's metadata and model card."""
    summary: dict = {}
    for split in SPLITS:
        members = [s for s in samples if s.split == split]
        summary[split] = {
            "images": len(members),
            "patients": len({s.patient_id for s in members}),
            "per_class": {c: sum(1 for s in members if s.label == c) for c in classes},
            "per_source": dict(Counter(s.source for s in members)),
            "per_age_group": dict(Counter(s.age_group for s in members)),
        }
    return summary


def class_weights(labels: np.ndarray, num_classes: int) -> np.ndarray:
    """Balanced weights n / (k * n_c): every class contributes equally to the loss.

    Chosen over oversampling because it keeps one pass per epoch over each real image (no repeated
    copies memorised) and costs nothing in the input pipeline.
    """
    counts = np.bincount(labels, minlength=num_classes).astype(np.float64)
    weights = len(labels) / (num_classes * np.maximum(counts, 1))
    return weights.astype(np.float32)
