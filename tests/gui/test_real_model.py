"""End to end with the bundled three-class model on the real sample radiographs.

The viewer (single image, Grad-CAM path) and the batch table (screening path) must agree, and the
model must get most of the held-out samples right.
"""

from __future__ import annotations

import numpy as np

from tests.gui.helpers import assert_valid_pdf, read_csv

SAMPLES_LABEL = {"covid": "covid", "pneumonia": "pneumonia", "normal": "normal"}


def test_bundled_model_end_to_end(qtbot, make_window, bundle_3class, sample_images, tmp_path):
    window = make_window(model=str(bundle_3class.folder))
    assert window.model_info.title == bundle_3class.title
    single = {}
    for path in sample_images:
        with qtbot.waitSignal(window.result_displayed, timeout=60_000) as blocker:
            window.open_paths([path])
        result = blocker.args[0]
        assert not window.viewer.overlay_item.pixmap().isNull()
        assert result.cams.max() > 0, "the real model's heat map is not empty"
        single[path.name] = result
    correct = sum(single[p.name].prediction == p.name.split("_")[0] for p in sample_images)
    assert correct >= 4, f"only {correct}/6 held-out samples classified correctly"

    with qtbot.waitSignal(window.batch_completed, timeout=120_000):
        window.open_paths([sample_images[0].parent])
    rows = {row.path.name: row for row in window.batch.model.rows}
    assert set(rows) >= {p.name for p in sample_images}
    for name, result in single.items():
        batch_probs = np.array([rows[name].probabilities[c] for c in result.classes])
        assert np.abs(batch_probs - result.probabilities).max() < 0.01, "viewer and batch disagree"
        assert rows[name].prediction == result.prediction
    columns, records = read_csv(window.export_csv(tmp_path / "samples.csv", identifiers="keep"))
    assert columns[:3] == ["path", "status", "prediction"] and len(records) == len(rows)
    assert_valid_pdf(window.save_report(tmp_path / "report.pdf"))
