"""Heat-map file names are unique per input path and carry no more identity than the CSV's path column.

Before the fix ``sub/x.jpg`` and ``sub__x.jpg`` were both written to ``sub__x.jpg.gradcam.png``: the
second overlay replaced the first, so the first film's overlay showed the other patient's picture.
"""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

from cxr_desktop.exports.heatmaps import heatmap_name
from tests.faults.cli_run import rows, screen


@pytest.fixture
def colliding(tmp_path, sample_images) -> Path:
    folder = tmp_path / "films"
    (folder / "sub").mkdir(parents=True)
    shutil.copy(sample_images[0], folder / "sub" / "x.jpg")
    shutil.copy(sample_images[1], folder / "sub__x.jpg")
    shutil.copy(sample_images[2], folder / "sub%2Fx.jpg")
    return folder


def test_flattened_names_never_collide(tmp_path):
    root = tmp_path
    paths = [root / "sub" / "x.jpg", root / "sub__x.jpg", root / "sub%2Fx.jpg", root / "sub" / "%2Fx.jpg"]
    names = [heatmap_name(path, root) for path in paths]
    assert len(set(names)) == len(names), names
    deep = root.joinpath(*["a-rather-long-folder-name"] * 12, "film.jpg")
    assert len(heatmap_name(deep, root).encode()) < 255


def test_each_film_gets_its_own_overlay(colliding, tiny_bundle, tmp_path):
    maps = tmp_path / "maps"
    code = screen(colliding, tiny_bundle.folder, tmp_path / "out.csv", "--heatmaps", str(maps), "--identifiers", "keep")
    assert code == 0
    written = sorted(maps.glob("*.gradcam.png"))
    assert len(written) == 3, [p.name for p in written]
    digests = {hashlib.sha256(p.read_bytes()).hexdigest() for p in written}
    assert len(digests) == 3, "three different films must give three different overlays"


def test_pseudonymised_names_are_the_csv_pseudonyms(colliding, tiny_bundle, tmp_path):
    maps = tmp_path / "maps"
    assert screen(colliding, tiny_bundle.folder, tmp_path / "out.csv", "--heatmaps", str(maps)) == 0
    pseudonyms = {record["path"] for record in rows(tmp_path / "out.csv")}
    names = {p.name.removesuffix(".gradcam.png") for p in maps.glob("*.gradcam.png")}
    assert names == pseudonyms and all(name.startswith("anon-") for name in names)
    assert not any("x.jpg" in name or "sub" in name for name in names)


def test_omitted_identifiers_name_overlays_by_content_hash(colliding, tiny_bundle, tmp_path):
    maps = tmp_path / "maps"
    assert (
        screen(colliding, tiny_bundle.folder, tmp_path / "out.csv", "--heatmaps", str(maps), "--identifiers", "omit")
        == 0
    )
    hashes = {record["sha256"][:32] for record in rows(tmp_path / "out.csv")}
    assert {p.name.removesuffix(".gradcam.png").removeprefix("sha256-") for p in maps.iterdir()} == hashes
