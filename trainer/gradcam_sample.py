"""A contact sheet of Grad-CAM overlays on held-out images, for a human shortcut check.

Numbers cannot tell whether a model reads lungs or burned-in letters, film borders and
resolution; a reader looking at a few dozen heat maps can. The sheet goes into the bundle's
report so every model ships with the evidence.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cxr_desktop.core.bundle import load_bundle
from cxr_desktop.core.overlay import heatmap_to_image, render_overlay
from cxr_desktop.core.radiograph import load_radiograph
from cxr_desktop.core.scoring import Gate, score
from trainer.data import read_split


def gradcam_sheet(
    model: str | Path, data_dir: Path, out: Path | None = None, per_class: int = 6, seed: int = 0
) -> Path:
    """Overlay the predicted class's Grad-CAM on ``per_class`` random test images of each class."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot as plt

    from cxr_desktop.engine.tensorflow_engine import Engine

    bundle = load_bundle(model)
    engine = Engine(bundle)
    rng = np.random.default_rng(seed)
    test = [s for s in read_split(bundle.folder / "split.csv", data_dir) if s.split == "test"]
    chosen = []
    for name in bundle.classes:
        members = [s for s in test if s.label == name]
        chosen += [members[i] for i in rng.permutation(len(members))[:per_class]]
    figure, axes = plt.subplots(len(bundle.classes), per_class, figsize=(2.4 * per_class, 2.7 * len(bundle.classes)))
    for axis, sample in zip(np.ravel(axes), chosen):
        radiograph = load_radiograph(sample.path)
        (row,) = score([radiograph], engine, Gate(), thresholds=bundle.thresholds, explain=True)
        predicted = row.prediction
        heatmap = heatmap_to_image(row.cam(predicted), radiograph.width, radiograph.height)
        axis.imshow(render_overlay(radiograph.pixels, heatmap, alpha=0.5))
        axis.set_title(
            f"true {sample.label}\npred {predicted} {max(row.probabilities.values()):.2f}",
            fontsize=8,
            color="black" if predicted == sample.label else "red",
        )
        axis.set_xlabel(sample.source[:28], fontsize=6)
        axis.set_xticks([])
        axis.set_yticks([])
    figure.suptitle(f"{bundle.title}: Grad-CAM of the predicted class on held-out test patients", fontsize=10)
    figure.tight_layout()
    out = Path(out or bundle.folder / "report" / "gradcam_sample.png")
    out.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(out, dpi=90)
    plt.close(figure)
    return out
