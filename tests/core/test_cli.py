"""The headless ``screen`` command's contract: columns, one row per file, exit codes, heat-maps."""

from __future__ import annotations

import csv
import os
import shutil
import subprocess
import sys
from pathlib import Path

import cv2

ROOT = Path(__file__).resolve().parents[2]


def run_cli(*args: str, cwd: Path = ROOT) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cxr_desktop", *args], cwd=cwd, capture_output=True, text=True, timeout=600
    )


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


def test_screen_writes_contract_csv_and_heatmaps(tiny_bundle, sample_images, tmp_path):
    folder = tmp_path / "studies"
    (folder / "nested").mkdir(parents=True)
    for index, image in enumerate(sample_images):
        shutil.copy(image, (folder / "nested" if index % 2 else folder) / image.name)
    (folder / "notes.txt").write_text("not an image")
    out = tmp_path / "out.csv"
    result = run_cli(
        "screen",
        str(folder),
        "--model",
        str(tiny_bundle.folder),
        "--csv",
        str(out),
        "--heatmaps",
        str(tmp_path / "maps"),
        "--identifiers",
        "keep",
    )
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert "oneDNN" not in result.stderr and "absl" not in result.stderr, "TensorFlow's start-up notices go to the log"
    rows = read_csv(out)
    assert list(rows[0].keys())[:6] == ["path", "status", "prediction", "p_covid", "p_pneumonia", "p_normal"]
    assert "message" in rows[0]
    assert len(rows) == len(sample_images) + 1
    assert [r["path"] for r in rows] == sorted((r["path"] for r in rows), key=lambda p: (Path(p).parent != folder, p))
    bad = [r for r in rows if r["status"] == "error"]
    assert [Path(r["path"]).name for r in bad] == ["notes.txt"]
    assert bad[0]["prediction"] == "" and "not an image" in bad[0]["message"]
    for row in rows:
        if row["status"] == "ok":
            total = sum(float(row[f"p_{c}"]) for c in ("covid", "pneumonia", "normal"))
            assert abs(total - 1.0) < 2e-3
            assert row["prediction"] in {"covid", "pneumonia", "normal"}
    maps = sorted((tmp_path / "maps").glob("*.png"))
    assert len(maps) == len(sample_images)
    source = cv2.imread(str(sample_images[0]), cv2.IMREAD_GRAYSCALE)
    overlay = cv2.imread(str(tmp_path / "maps" / f"{sample_images[0].name}.gradcam.png"))
    assert overlay.shape[:2] == source.shape[:2]


def test_screen_usage_errors_exit_nonzero(tiny_bundle, tmp_path):
    missing = run_cli("screen", str(tmp_path / "nope"), "--model", str(tiny_bundle.folder), "--csv", "x.csv")
    assert missing.returncode == 2 and "folder not found" in missing.stderr
    bad_model = run_cli("screen", str(tmp_path), "--model", str(tmp_path / "no-bundle"), "--csv", "x.csv")
    assert bad_model.returncode == 2 and "not found" in bad_model.stderr
    assert "Traceback" not in missing.stderr + bad_model.stderr


def test_no_screen_points_to_headless_command(tmp_path):
    env_script = (
        "import os, sys; os.environ.pop('DISPLAY', None); os.environ.pop('WAYLAND_DISPLAY', None);"
        "os.environ['QT_QPA_PLATFORM'] = 'xcb'; from cxr_desktop.cli import has_display;"
        "sys.exit(0 if not has_display() else 1)"
    )
    assert subprocess.run([sys.executable, "-c", env_script], cwd=ROOT).returncode == 0


def test_app_without_a_screen_screens_the_samples_instead(sample_images, tmp_path):
    """What quick start 1 does on a machine with no screen: say so, then run the headless command."""
    env = {key: value for key, value in os.environ.items() if key not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["QT_QPA_PLATFORM"] = "xcb"
    env["PYTHONPATH"] = str(ROOT)
    done = subprocess.run(
        [sys.executable, "-m", "cxr_desktop"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    assert "no screen found" in done.stderr and "cxr-desktop screen FOLDER --csv" in done.stderr
    assert "Traceback" not in done.stderr + done.stdout
    rows = list(csv.DictReader(done.stdout.splitlines()))
    assert len(rows) == len(sample_images) and all(row["status"] == "ok" for row in rows)


def test_screen_engine_choice_is_named_and_gives_the_same_results(sample_images, tmp_path):
    """The bundled model on both CPU runtimes: same CSV to the 4 decimals written; the banner and the
    CSV's model and engine columns say what computed it."""
    tables = {}
    for engine, name in (("openvino", "OpenVINO"), ("onnxruntime", "ONNX Runtime")):
        out = tmp_path / f"{engine}.csv"
        result = run_cli(
            "screen", str(sample_images[0].parent), "--csv", str(out), "--engine", engine, "--identifiers", "keep"
        )
        assert result.returncode == 0, result.stderr
        assert f"{name}, float32" in result.stderr
        tables[engine] = read_csv(out)
        assert {(row["model"], row["engine"]) for row in tables[engine]} == {
            ("densenet121-3class v2.0.0", f"{name} float32")
        }
    for a, b in zip(tables["openvino"], tables["onnxruntime"], strict=True):
        assert a["path"] == b["path"] and a["prediction"] == b["prediction"] and a["flagged"] == b["flagged"]
        for column in ("p_covid", "p_pneumonia", "p_normal"):
            assert abs(float(a[column]) - float(b[column])) <= 2e-4
