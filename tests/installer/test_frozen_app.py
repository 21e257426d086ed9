"""Build the one-folder app with the documented command and use it like a workstation would.

Every frozen run happens in a temporary working folder with an environment that has no
PYTHONPATH, no virtual environment and no model override, so nothing from the source tree can be
imported: only what PyInstaller bundled. Slow (one PyInstaller build, ~5 minutes on 2 cores);
``.ci/run`` runs it.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import time
from pathlib import Path

import cv2
import pytest
from pydicom.uid import JPEG2000Lossless, JPEGLSLossless, RLELossless

from cxr_desktop.core.bundle import BUNDLED_MODELS, DEFAULT_MODEL, load_bundle
from cxr_desktop.core.resources import sample_images
from installer.build import SIZE_BUDGET_MIB, clean_environment, folder_size, frozen_executable
from tests.core import dicom_factory as factory

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
BUILD_TIMEOUT_S = 1800
RUN_TIMEOUT_S = 900
#: Probabilities are written with 4 decimals; the same model on the same machine must agree to that.
CSV_TOLERANCE = 2e-4
#: What the trimmed build must not contain (each would be tens of MB the product never loads).
TRIMMED = ("scipy", "sklearn", "tensorflow", "keras", "tensorboard", "grpc", "PyQt5/Qt5/translations", "trainer")


@pytest.fixture(scope="module")
def frozen_app(tmp_path_factory) -> Path:
    """``cxr-build`` with the real bundled models into a temporary dist folder."""
    dist = tmp_path_factory.mktemp("dist")
    work = tmp_path_factory.mktemp("work")
    command = [sys.executable, "-m", "installer.build", "--dist", str(dist), "--work", str(work), "--skip-selftest"]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert result.returncode == 0, result.stderr[-4000:]
    app = frozen_executable(dist)
    assert app.is_file()
    return app


def run_frozen(app: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(app), *args], cwd=cwd, env=clean_environment(), capture_output=True, text=True, timeout=RUN_TIMEOUT_S
    )


@pytest.fixture(scope="module")
def screening_folder(cxr3, tmp_path_factory) -> Path:
    """Real radiographs (two per class), the first as four compressed DICOMs, and a non-image."""
    folder = tmp_path_factory.mktemp("to-screen")
    with (cxr3 / "manifest.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    picks = [
        name
        for label in ("covid", "pneumonia", "normal")
        for name in [row["file"] for row in rows if row["label"] == label][:2]
    ]
    for name in picks:
        (folder / name.replace("/", "_")).write_bytes((cxr3 / name).read_bytes())
    grey = cv2.imread(str(cxr3 / picks[0]), cv2.IMREAD_GRAYSCALE)
    dataset = factory.make_dataset(grey)
    # JPEG lossless and JPEG-LS decode only through pylibjpeg-libjpeg in the frozen app (the JPEG-LS
    # encoder used here is not bundled), JPEG 2000 through openjpeg, RLE through rle or pydicom.
    factory.write(factory.jpeg_lossless(dataset, grey, 8), folder / "dicom_jpeg_lossless.dcm")
    factory.write(factory.compressed(dataset, JPEGLSLossless), folder / "dicom_jpeg_ls.dcm")
    factory.write(factory.compressed(dataset, JPEG2000Lossless), folder / "dicom_jpeg2000.dcm")
    factory.write(factory.compressed(dataset, RLELossless), folder / "dicom_rle.dcm")
    (folder / "notes.txt").write_text("not a radiograph\n", encoding="utf-8")
    return folder


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_frozen_selftest_passes_headless(frozen_app, tmp_path):
    result = run_frozen(frozen_app, ["--self-test"], tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "frozen build" in result.stdout
    assert "self-test passed" in result.stdout
    for model in BUNDLED_MODELS:
        for sample in sample_images():
            assert any(
                model in line and sample.name in line and line.rstrip().endswith("ok")
                for line in result.stdout.splitlines()
            ), f"{model} / {sample.name} not checked"
    assert result.stdout.count("DICOM decoder") == 3


def test_frozen_screen_matches_the_source_screen(frozen_app, screening_folder, tmp_path):
    """Same files, same CSV, same Grad-CAM files: the frozen ``screen`` is the source one."""
    frozen_csv, source_csv = tmp_path / "frozen.csv", tmp_path / "source.csv"
    args = ["screen", str(screening_folder), "--quiet", "--identifiers", "keep"]
    frozen = run_frozen(
        frozen_app, [*args, "--csv", str(frozen_csv), "--heatmaps", str(tmp_path / "frozen-maps")], tmp_path
    )
    assert frozen.returncode == 0, frozen.stderr[-3000:]
    assert "could not transform" not in frozen.stderr, "AutoGraph cannot read the engine's source"
    source = subprocess.run(
        [sys.executable, "-m", "cxr_desktop", *args, "--csv", str(source_csv), "--heatmaps", str(tmp_path / "maps")],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=RUN_TIMEOUT_S,
    )
    assert source.returncode == 0, source.stderr[-3000:]

    frozen_rows, source_rows = read_csv(frozen_csv), read_csv(source_csv)
    files = sorted(p for p in screening_folder.iterdir())
    assert [row["path"] for row in frozen_rows] == [str(p) for p in files]
    status = {Path(row["path"]).name: row["status"] for row in frozen_rows}
    assert status.pop("notes.txt") == "error"
    assert set(status.values()) == {"ok"}, frozen_rows
    assert len(status) == 10
    assert list(frozen_rows[0]) == list(source_rows[0])
    for mine, theirs in zip(frozen_rows, source_rows, strict=True):
        for column, value in theirs.items():
            if column.startswith("p_") or column == "risk":
                assert abs(float(mine[column] or 0) - float(value or 0)) <= CSV_TOLERANCE, (column, mine, theirs)
            else:
                assert mine[column] == value, (column, mine, theirs)
    maps = sorted(p.name for p in (tmp_path / "frozen-maps").glob("*.png"))
    assert maps == sorted(p.name for p in (tmp_path / "maps").glob("*.png"))
    assert len(maps) == 10


def test_frozen_screen_reports_a_missing_folder_without_a_traceback(frozen_app, tmp_path):
    result = run_frozen(frozen_app, ["screen", str(tmp_path / "absent"), "--csv", str(tmp_path / "out.csv")], tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "absent" in result.stderr


def test_frozen_window_starts_and_loads_the_model(frozen_app, tmp_path):
    """The GUI (offscreen) comes up from the frozen app and its worker loads the default model."""
    home = tmp_path / "home"
    env = dict(clean_environment(), QT_QPA_PLATFORM="offscreen", CXR_HOME=str(home), CXR_AUDIT_DIR=str(home / "audit"))
    process = subprocess.Popen(
        [str(frozen_app), str(sample_images()[0])],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    log = home / "cxr-desktop.log"
    loaded = f"loaded {load_bundle(DEFAULT_MODEL).name}"
    deadline = time.monotonic() + RUN_TIMEOUT_S
    try:
        while process.poll() is None and time.monotonic() < deadline:
            if log.is_file() and loaded in log.read_text(encoding="utf-8"):
                break
            time.sleep(1)
        assert process.poll() is None, f"the window exited with {process.returncode}"
    finally:
        process.terminate()
        _, stderr = process.communicate(timeout=60)
    text = log.read_text(encoding="utf-8")
    assert loaded in text, text[-3000:]
    assert " ERROR " not in text and "Traceback" not in stderr, text[-3000:] + stderr[-3000:]


def test_bundle_is_trimmed_and_within_its_size_budget(frozen_app):
    internal = frozen_app.parent / "_internal"
    for name in TRIMMED:
        assert not (internal / name).exists(), f"{name} should have been trimmed from the build"
    for model in BUNDLED_MODELS:
        assert (internal / "models" / model / "model.keras").is_file()
    assert (internal / "resources" / "selftest_expected.json").is_file()
    size_mib = folder_size(frozen_app.parent) / 2**20
    assert size_mib <= SIZE_BUDGET_MIB, f"{size_mib:.0f} MiB > {SIZE_BUDGET_MIB} MiB"
