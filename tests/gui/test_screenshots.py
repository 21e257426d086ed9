"""Screenshots of the main states, written to tests/_artifacts/screenshots/ for a person to review.

Uses the bundled three-class model when it is installed (what a user sees); otherwise the tiny
stand-in, whose random heat maps show only the layout.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from cxr_desktop.core.bundle import load_bundle
from cxr_desktop.core.decision import display_name
from cxr_desktop.core.errors import BundleError
from tests.gui.helpers import link_folder, real_images

SHOTS = Path(__file__).resolve().parents[1] / "_artifacts" / "screenshots"


@pytest.fixture
def screenshot_model(tiny_bundle) -> str:
    try:
        return str(load_bundle("densenet121-3class").folder)
    except BundleError:
        return str(tiny_bundle.folder)


def test_screenshots_of_main_states(qtbot, make_window, screenshot_model, sample_images, cxr3, tmp_path):
    SHOTS.mkdir(parents=True, exist_ok=True)
    window = make_window(model=screenshot_model)
    window.resize(1440, 900)
    qtbot.wait(50)
    assert window.grab().save(str(SHOTS / "1-empty.png"))

    pneumonia = next(path for path in sample_images if "pneumonia" in path.name)
    with qtbot.waitSignal(window.result_displayed, timeout=60_000):
        window.open_paths([pneumonia])
    qtbot.wait(50)
    assert window.grab().save(str(SHOTS / "2-single-image-overlay.png"))

    low_flag = next(path for path in sample_images if "NORMAL2-IM-0890" in path.name)
    with qtbot.waitSignal(window.result_displayed, timeout=60_000) as shown:
        window.open_paths([low_flag])
    qtbot.wait(50)
    assert window.grab().save(str(SHOTS / "2b-flag-below-most-probable.png"))
    result = shown.args[0]
    assert result.prediction == result.classes[int(result.probabilities.argmax())], "headline is the most probable"
    assert window.result_panel.finding.text().startswith(display_name(result.prediction))
    assert window.result_panel.caption.text() == "Most probable finding"

    folder = link_folder(tmp_path / "clinic-share", real_images(cxr3, 45))
    with qtbot.waitSignal(window.batch_completed, timeout=240_000):
        window.open_paths([folder])
    window.batch.table.selectRow(0)
    with qtbot.waitSignal(window.result_displayed, timeout=60_000):
        window.batch.open_requested.emit(window.batch.path_at(window.batch.proxy.index(0, 0)))
    qtbot.wait(50)
    assert window.grab().save(str(SHOTS / "3-batch-table.png"))

    refused = tmp_path / "scan.png"
    refused.write_bytes(b"PK\x03\x04 zip renamed to png")
    with qtbot.waitSignal(window.image_refused, timeout=60_000):
        window.open_paths([refused])
    assert window.grab().save(str(SHOTS / "4-refused-file.png"))
    assert all(
        (SHOTS / name).stat().st_size > 10_000
        for name in (
            "1-empty.png",
            "2-single-image-overlay.png",
            "2b-flag-below-most-probable.png",
            "3-batch-table.png",
            "4-refused-file.png",
        )
    )
