"""The GUI, the CLI and the trainer score a file through the same path and give the same numbers.

Real images (the shipped samples and one DICOM made from a cxr3 film) and the bundled three-class
model: the GUI worker's single-image path, the ``screen`` CLI (its CSV) and the trainer's
evaluation (``trainer.export.split_probabilities``) must agree for every file. Batching may change
the last bits of a float32 convolution, so "the same" is 1e-5 here; any real copy of the scoring
(another preprocessing, a missing calibration, three channels hard-coded) moves them by far more.
"""

from __future__ import annotations

import csv
import shutil

import numpy as np
import pytest

from cxr_desktop.core.radiograph import is_image, load_radiograph
from cxr_desktop.core.scoring import bundle_gate
from trainer.data import Sample

TOLERANCE = 1e-5


@pytest.fixture(scope="module")
def float32_engine(bundle_3class):
    from cxr_desktop.engine.tensorflow_engine import Engine

    return Engine(bundle_3class, precision="float32")


@pytest.fixture(scope="module")
def files(tmp_path_factory, sample_images, cxr3):
    folder = tmp_path_factory.mktemp("same-files")
    for path in sample_images:
        shutil.copy(path, folder / path.name)
    film = next(p for p in sorted((cxr3 / "pneumonia").rglob("*")) if is_image(p))
    shutil.copy(film, folder / f"cxr3-{film.name}")
    return sorted(folder.iterdir())


def test_gui_cli_and_trainer_give_the_same_probabilities(float32_engine, bundle_3class, files, tmp_path, monkeypatch):
    from cxr_desktop import cli
    from cxr_desktop import engine as engines
    from cxr_desktop.ui.worker import score_radiograph
    from trainer.export import split_probabilities

    classes = bundle_3class.classes
    gate = bundle_gate(bundle_3class)
    gui = np.array([score_radiograph(float32_engine, load_radiograph(path), gate).probabilities for path in files])

    samples = [Sample(path=path, label=classes[0], patient_id=path.name) for path in files]
    trainer = split_probabilities(float32_engine, samples)

    # The CLI makes its own engine: hand it the float32 one, so only the paths differ.
    monkeypatch.setattr(engines, "load_engine", lambda bundle, **_: float32_engine)
    target = tmp_path / "screen.csv"
    assert cli.main(["screen", str(files[0].parent), "--csv", str(target), "--identifiers", "keep", "--quiet"]) == 0
    with open(target, newline="", encoding="utf-8") as handle:
        rows = {row["path"]: row for row in csv.DictReader(handle)}
    cli_probs = np.array([[float(rows[str(path)][f"p_{name}"]) for name in classes] for path in files])

    assert gui.shape == (len(files), len(classes))
    np.testing.assert_allclose(trainer, gui, rtol=0, atol=TOLERANCE)
    np.testing.assert_allclose(cli_probs, gui, rtol=0, atol=5e-5 + TOLERANCE)  # the CSV keeps 4 decimals
    assert all(rows[str(path)]["status"] == "ok" for path in files)
