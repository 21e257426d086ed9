"""How well a bundle's "not a chest X-ray" gate works, on a labelled set of non-radiographs.

The evaluation set is assembled only from images that ship inside installed packages (no
downloads: photographs, faces, documents, other modalities) plus radiographs of the bundle's test
split and rotated, inverted and corner-cropped copies of them (``build_evaluation_set``); it is
scored through the real screening loop with the gate (``evaluate_gate``).
"""

from __future__ import annotations

import logging
import shutil
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import cv2
import numpy as np

from cxr_desktop.core.ood import OodGate

log = logging.getLogger(__name__)

CXR_CATEGORIES = ("chest radiograph (test split)",)


@dataclass(frozen=True)
class EvalItem:
    path: Path
    category: str
    is_cxr: bool


def evaluate_gate(
    engine, gate: OodGate, test_paths: list[Path], data_dir: Path, limit_cxr_transforms: int = 60
) -> dict:
    """Flag rates on the labelled set, scored through the real screening loop with this gate."""
    from cxr_desktop.core.screening import screen

    folder = Path(tempfile.mkdtemp(prefix="cxr-ood-eval-"))
    try:
        items = build_evaluation_set(folder, test_paths, limit_cxr_transforms)
        rows = screen([i.path for i in items], engine, thresholds=engine.bundle.thresholds, ood_gate=gate)
        outcomes = [(item, row) for item, row in zip(items, rows)]
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    return summarise(outcomes)


def summarise(outcomes: list) -> dict:
    """Share flagged per category; a non-radiograph the loader refuses counts as caught."""
    per_category: dict[str, dict[str, Any]] = {}
    for item, row in outcomes:
        stats = per_category.setdefault(item.category, {"images": 0, "flagged": 0, "refused": 0, "is_cxr": item.is_cxr})
        stats["images"] += 1
        stats["refused"] += int(not row.ok)
        stats["flagged"] += int(row.ok and row.out_of_distribution)
    for stats in per_category.values():
        stats["flagged_share"] = round((stats["flagged"] + stats["refused"]) / stats["images"], 4)
    non_cxr = [s for s in per_category.values() if not s["is_cxr"]]
    cxr = [s for name, s in per_category.items() if name in CXR_CATEGORIES]
    caught = sum(s["flagged"] + s["refused"] for s in non_cxr)
    total_non = sum(s["images"] for s in non_cxr)
    false_flags = sum(s["flagged"] for s in cxr)
    total_cxr = sum(s["images"] - s["refused"] for s in cxr)
    return {
        "non_cxr_images": total_non,
        "non_cxr_flagged_share": round(caught / max(total_non, 1), 4),
        "cxr_images": total_cxr,
        "cxr_wrongly_flagged_share": round(false_flags / max(total_cxr, 1), 4),
        "targets": {"non_cxr_flagged_share_min": 0.95, "cxr_wrongly_flagged_share_max": 0.01},
        "per_category": per_category,
        "not_covered": "lateral chest views and other radiographed body parts: no such images ship with"
        " the installed packages",
    }


# ---------------------------------------------------------------------------------------------
# The labelled evaluation set


def build_evaluation_set(folder: Path, test_paths: list[Path], limit_cxr_transforms: int = 60) -> list[EvalItem]:
    """Write the labelled images as PNG files under ``folder`` (so they go through the real loader).

    Non-radiographs: photographs (scikit-learn and scikit-image sample images, crops of them, faces
    from scikit-image's LFW subset), documents (scikit-image's page/text plus synthetic pages drawn
    with OpenCV), other modalities (pydicom's shipped CT/MR/NM/US/secondary-capture test images,
    rendered to PNG because the loader refuses those modalities) and real radiographs made
    unusable: rotated 90/180/270 degrees, inverted polarity, cut down to one corner quadrant.
    Radiographs: every image of the bundle's test split.
    """
    folder.mkdir(parents=True, exist_ok=True)
    items: list[EvalItem] = []

    def add(category: str, name: str, image: np.ndarray, is_cxr: bool = False) -> None:
        target = folder / f"{len(items):05d}_{name}.png"
        cv2.imwrite(str(target), _to_uint8(image))
        items.append(EvalItem(target, category, is_cxr))

    for name, image in _photographs():
        add("photograph", name, image)
        for index, crop in enumerate(_crops(image, seed=len(items))):
            add("photograph (crop)", f"{name}_crop{index}", crop)
    for index, face in enumerate(_faces()):
        add("photograph (face)", f"face{index}", face)
    for name, image in _documents():
        add("document", name, image)
    for name, image in _other_modalities():
        add("other modality (CT/MR/NM/US/SC)", name, image)
    readable = [p for p in test_paths if p.is_file()]
    rng = np.random.default_rng(1234)
    chosen = [readable[i] for i in sorted(rng.permutation(len(readable))[:limit_cxr_transforms])]
    for index, path in enumerate(chosen):
        grey = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        add("radiograph rotated 90/270", f"rot90_{index}", np.rot90(grey, 1 if index % 2 else 3))
        add("radiograph rotated 180", f"rot180_{index}", np.rot90(grey, 2))
        add("radiograph inverted", f"inverted_{index}", 255 - grey)
        h, w = grey.shape
        corner = [
            grey[: h // 2, : w // 2],
            grey[: h // 2, w // 2 :],
            grey[h // 2 :, : w // 2],
            grey[h // 2 :, w // 2 :],
        ][index % 4]
        add("radiograph corner quadrant", f"corner_{index}", corner)
    for path in readable:
        items.append(EvalItem(path, CXR_CATEGORIES[0], True))
    return items


def _to_uint8(image: np.ndarray) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype == np.uint8:
        return image
    image = image.astype(np.float64)
    lo, hi = np.nanmin(image), np.nanmax(image)
    return np.round(255 * (image - lo) / max(hi - lo, 1e-12)).astype(np.uint8)


def _bgr(rgb: np.ndarray) -> np.ndarray:
    return rgb[..., ::-1] if rgb.ndim == 3 and rgb.shape[2] == 3 else rgb


def _photographs() -> list[tuple[str, np.ndarray]]:
    """scikit-learn's two sample photographs and the images scikit-image ships in its wheel."""
    from sklearn.datasets import load_sample_images

    sample = load_sample_images()
    photos = [(Path(name).stem, _bgr(image)) for name, image in zip(sample.filenames, sample.images)]
    try:
        import skimage.data
    except ImportError:
        log.warning("scikit-image not installed: its sample images are left out of the evaluation")
        return photos
    shipped = Path(skimage.data.__file__).parent
    for path in sorted(shipped.glob("*")):
        if path.suffix.lower() not in {".png", ".jpg"} or path.stem in {"page", "text"}:
            continue
        image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
        if image is not None and min(image.shape[:2]) >= 32:
            photos.append((path.stem, image[..., :3] if image.ndim == 3 else image))
    return photos


def _crops(image: np.ndarray, seed: int, count: int = 2) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    h, w = image.shape[:2]
    crops = []
    for _ in range(count):
        ch, cw = int(h * rng.uniform(0.5, 0.75)), int(w * rng.uniform(0.5, 0.75))
        top, left = rng.integers(0, h - ch + 1), rng.integers(0, w - cw + 1)
        if min(ch, cw) >= 32:
            crops.append(image[top : top + ch, left : left + cw])
    return crops


def _faces(count: int = 40) -> list[np.ndarray]:
    try:
        import skimage.data
    except ImportError:
        return []
    path = Path(skimage.data.__file__).parent / "lfw_subset.npy"
    if not path.is_file():
        return []
    faces = np.load(path, allow_pickle=False)[:count]
    return [cv2.resize(face.astype(np.float32), (100, 100), interpolation=cv2.INTER_CUBIC) for face in faces]


def _documents(count: int = 30) -> list[tuple[str, np.ndarray]]:
    """Synthetic pages, letters and screenshots: text drawn with OpenCV on white or light grey."""
    docs: list[tuple[str, np.ndarray]] = []
    try:
        import skimage.data

        shipped = Path(skimage.data.__file__).parent
        docs += [(name, cv2.imread(str(shipped / f"{name}.png"), cv2.IMREAD_GRAYSCALE)) for name in ("page", "text")]
    except ImportError:
        pass
    rng = np.random.default_rng(7)
    fonts = [
        cv2.FONT_HERSHEY_SIMPLEX,
        cv2.FONT_HERSHEY_PLAIN,
        cv2.FONT_HERSHEY_DUPLEX,
        cv2.FONT_HERSHEY_COMPLEX,
        cv2.FONT_HERSHEY_TRIPLEX,
        cv2.FONT_HERSHEY_COMPLEX_SMALL,
        cv2.FONT_HERSHEY_SCRIPT_SIMPLEX,
    ]
    words = (
        "patient report radiology chest findings impression no acute cardiopulmonary process lungs are"
        " clear heart size normal referral date signature clinic invoice total amount page"
    ).split()
    for index in range(count):
        portrait = index % 3 != 2
        h, w = (1100, 850) if portrait else (600, 1000)
        page = np.full((h, w), int(rng.integers(225, 256)), np.uint8)
        scale, font = float(rng.uniform(0.5, 1.2)), fonts[index % len(fonts)]
        step = int(30 * scale + 12)
        if index % 4 == 0:
            cv2.rectangle(page, (0, 0), (w, 80), int(rng.integers(40, 160)), -1)
        for y in range(110 if index % 4 == 0 else 60, h - 40, step):
            line = " ".join(rng.choice(words, size=int(rng.integers(3, 10))))
            cv2.putText(page, line, (40, y), font, scale, int(rng.integers(0, 60)), 1 + index % 2, cv2.LINE_AA)
        if index % 5 == 1:
            for x in range(40, w - 40, 160):
                cv2.line(page, (x, 60), (x, h - 40), 0, 1)
        docs.append((f"document{index}", page))
    return docs


def _other_modalities() -> list[tuple[str, np.ndarray]]:
    """pydicom's shipped test images of other modalities, one per distinct picture."""
    import pydicom

    shipped = Path(pydicom.__file__).parent / "data" / "test_files"
    names = (
        "CT_small.dcm",
        "693_J2KI.dcm",
        "J2K_pixelrep_mismatch.dcm",
        "MR_small.dcm",
        "JPEG2000.dcm",
        "examples_overlay.dcm",
        "examples_palette.dcm",
        "examples_rgb_color.dcm",
        "examples_ybr_color.dcm",
        "examples_jpeg2k.dcm",
        "image_dfl.dcm",
        "liver_1frame.dcm",
        "SC_rgb_jpeg.dcm",
        "SC_jpeg_no_color_transform.dcm",
        "GDCMJ2K_TextGBR.dcm",
        "SC_rgb.dcm",
    )
    images = []
    for name in names:
        path = shipped / name
        if not path.is_file():
            continue
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                ds = pydicom.dcmread(path)
            pixels = ds.pixel_array
            if getattr(ds, "PhotometricInterpretation", "") == "PALETTE COLOR":
                from pydicom.pixels import apply_color_lut

                pixels = apply_color_lut(pixels, ds)
        except Exception as exc:  # noqa: BLE001 - a test file our decoders cannot read is left out
            log.info("left out %s: %s", name, exc)
            continue
        if int(getattr(ds, "NumberOfFrames", 1) or 1) > 1:
            pixels = pixels[0]
        if pixels.ndim == 3:
            pixels = _bgr(_to_uint8(pixels))
        if min(pixels.shape[:2]) < 32:
            pixels = cv2.resize(_to_uint8(pixels), (128, 128), interpolation=cv2.INTER_NEAREST)
        images.append((Path(name).stem, pixels))
    return images
