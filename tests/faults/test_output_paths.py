"""Output paths that would overwrite an input or land inside the input tree are refused, loudly."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cxr_desktop.core.output_paths import OutputPathError, check_output

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def films(tmp_path: Path, sample_images) -> Path:
    folder = tmp_path / "films"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(sample_images[0], folder / "a.jpg")
    shutil.copy(sample_images[1], folder / "sub" / "b.jpg")
    return folder


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _screen(folder: Path, bundle, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cxr_desktop", "screen", str(folder), "--model", str(bundle.folder), "--quiet", *extra],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )


@pytest.mark.parametrize("target", ["a.jpg", "sub/b.jpg", "results.csv", "sub/results.csv"])
def test_csv_on_an_input_or_inside_the_input_tree_is_refused_and_the_films_are_untouched(films, tiny_bundle, target):
    before = {path: _digest(path) for path in films.rglob("*.jpg")}
    done = _screen(films, tiny_bundle, "--csv", str(films / target))
    assert done.returncode == 2, done.stderr
    assert "cxr-desktop: error: the CSV" in done.stderr and "Traceback" not in done.stderr
    assert {path: _digest(path) for path in films.rglob("*.jpg")} == before
    assert not (films / "results.csv").exists() and not (films / "sub" / "results.csv").exists()


def test_heatmap_folder_inside_the_input_tree_is_refused(films, tiny_bundle, tmp_path):
    done = _screen(films, tiny_bundle, "--csv", str(tmp_path / "out.csv"), "--heatmaps", str(films / "maps"))
    assert done.returncode == 2 and "heat-map folder" in done.stderr, done.stderr
    assert not (films / "maps").exists()


def test_a_link_to_an_input_is_the_input(films, tmp_path):
    (tmp_path / "link.csv").symlink_to(films / "a.jpg")
    os.link(films / "sub" / "b.jpg", tmp_path / "hard.csv")
    for alias in ("link.csv", "hard.csv"):
        with pytest.raises(OutputPathError, match="is an input"):
            check_output(tmp_path / alias, [films / "a.jpg", films / "sub" / "b.jpg"], "report")
    with pytest.raises(OutputPathError, match="inside the folder"):
        check_output(films / ".." / "films" / "sub" / "x.csv", [films], "CSV")


def test_outputs_beside_the_input_tree_are_allowed(films, tiny_bundle, tmp_path):
    check_output(tmp_path / "films.csv", [films], "CSV")
    check_output(tmp_path / "films-maps", [films], "heat-map folder")
    done = _screen(films, tiny_bundle, "--csv", str(tmp_path / "films.csv"), "--heatmaps", str(tmp_path / "maps"))
    assert done.returncode == 0, done.stderr
    assert len((tmp_path / "films.csv").read_text().splitlines()) == 3


def test_window_refuses_a_report_over_the_open_image_or_a_csv_in_the_screened_folder(make_window, qtbot, films):
    window = make_window()
    image = films / "a.jpg"
    before = _digest(image)
    with qtbot.waitSignal(window.result_displayed, timeout=120_000):
        window.open_image(image)
    window._run_export("Saving the report", window.save_report, image)
    assert _digest(image) == before
    assert "is an input" in window.banner.label.text()
    with qtbot.waitSignal(window.batch_completed, timeout=120_000):
        window.open_paths([films])
    window._run_export("Exporting the CSV", window.export_csv, films / "sub" / "results.csv")
    assert not (films / "sub" / "results.csv").exists()
    assert "inside the folder being read" in window.banner.label.text()
