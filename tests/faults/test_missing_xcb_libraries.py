"""A desktop without the X11 libraries of Qt's xcb plugin: named, installed or explained, never SIGABRT.

The test makes a copy of PyQt5's real plugin whose dependency on libxcb-icccm is renamed to a
version no system has, so the dynamic loader reports it missing exactly as on a minimal install.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from cxr_desktop.ui import qt_platform

ROOT = Path(__file__).resolve().parents[2]
ABSENT = b"libxcb-icccm.so.9"

pytestmark = pytest.mark.skipif(
    sys.platform != "linux" or shutil.which("ldd") is None, reason="the xcb plugin and ldd exist on Linux only"
)


@pytest.fixture
def broken_plugin_dir(tmp_path: Path) -> Path:
    """platforms/libqxcb.so needing an absent library; its Qt libraries found through ../../lib as shipped."""
    real = qt_platform.xcb_plugin()
    if real is None:
        pytest.skip("PyQt5's xcb plugin is not installed")
    platforms = tmp_path / "Qt5" / "plugins" / "platforms"
    platforms.mkdir(parents=True)
    (tmp_path / "Qt5" / "lib").symlink_to(real.parents[2] / "lib")
    data = real.read_bytes()
    assert data.count(b"libxcb-icccm.so.4\0") >= 1
    (platforms / "libqxcb.so").write_bytes(data.replace(b"libxcb-icccm.so.4\0", ABSENT + b"\0"))
    return platforms


def _env(plugins: Path, path: str | None = None) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("QT_")}
    env.update(QT_QPA_PLATFORM_PLUGIN_PATH=str(plugins), DISPLAY=":0", PYTHONPATH=str(ROOT))
    if path is not None:
        env["PATH"] = path
    return env


def test_missing_library_is_found_before_qt_loads_the_plugin(broken_plugin_dir, monkeypatch):
    monkeypatch.setenv("QT_QPA_PLATFORM_PLUGIN_PATH", str(broken_plugin_dir))
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM", raising=False)
    assert qt_platform.missing_libraries(broken_plugin_dir / "libqxcb.so") == [ABSENT.decode()]
    assert qt_platform.missing_packages() == ["libxcb-icccm9"]


def test_gui_start_explains_the_missing_library_instead_of_aborting(broken_plugin_dir):
    done = subprocess.run(
        [sys.executable, "-m", "cxr_desktop"],
        cwd=ROOT,
        env=_env(broken_plugin_dir),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1, f"exit {done.returncode} (-6 is Qt's abort): {done.stderr[-2000:]}"
    assert "apt-get install -y --no-install-recommends libxcb-icccm9" in done.stderr
    assert "Traceback" not in done.stderr


def test_setup_installs_with_apt_when_allowed_and_prints_the_command_when_that_fails(broken_plugin_dir, tmp_path):
    if os.geteuid() != 0:
        pytest.skip("installing needs root (or passwordless sudo, which this test does not assume)")
    fake_bin = tmp_path / "bin"
    fake_bin.mkdir()
    record = tmp_path / "apt-args"
    (fake_bin / "apt-get").write_text(f'#!/bin/sh\necho "$@" > {record}\nexit 0\n')
    (fake_bin / "apt-get").chmod(0o755)
    done = subprocess.run(
        [sys.executable, "-m", "cxr_desktop.ui.qt_platform", "--install"],
        cwd=ROOT,
        env=_env(broken_plugin_dir, f"{fake_bin}:{os.environ['PATH']}"),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert record.read_text().split() == ["install", "-y", "--no-install-recommends", "libxcb-icccm9"]
    assert done.returncode == 1 and "apt-get install" in done.stderr, done.stderr


def test_every_x11_library_of_the_real_plugin_maps_to_a_real_debian_package():
    if shutil.which("apt-cache") is None or shutil.which("readelf") is None:
        pytest.skip("needs apt-cache and readelf (Debian/Ubuntu)")
    plugin = qt_platform.xcb_plugin()
    needed = subprocess.run(["readelf", "-d", str(plugin)], capture_output=True, text=True).stdout
    sonames = [line.split("[")[1].rstrip("]") for line in needed.splitlines() if "(NEEDED)" in line]
    x11 = [name for name in sonames if name.startswith(("libxcb", "libX", "libxkb", "libGL"))]
    assert {"libxcb-icccm.so.4", "libxcb-keysyms.so.1", "libxcb-xinerama.so.0"} <= set(x11)
    for soname in x11:
        package = qt_platform.debian_package(soname)
        shown = subprocess.run(["apt-cache", "show", package], capture_output=True, text=True)
        assert shown.returncode == 0 and shown.stdout, f"{soname} -> {package}: no such package"


def test_run_app_script_checks_the_libraries_before_starting_the_window():
    script = (ROOT / "scripts" / "run-app.sh").read_text()
    assert script.index("cxr_desktop.ui.qt_platform --install") < script.index("exec .venv/bin/cxr-desktop")
