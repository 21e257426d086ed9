"""Make sure Qt can open a window before it tries: system libraries and OpenGL integration.

Imports no Qt: it runs before ``QApplication`` exists, because two failures happen inside Qt where
nothing can catch them.

- PyQt5's wheel bundles Qt but not the X11 client libraries its ``xcb`` platform plugin links to.
  A minimal Debian/Ubuntu desktop lacks libxcb-icccm4, libxcb-keysyms1 and libxcb-xinerama0, and Qt
  then aborts the process (SIGABRT) with "Could not load the Qt platform plugin xcb". ``ldd`` on the
  plugin names the missing libraries; each maps to one Debian package.
- Qt's GLX/EGL integration loads the system's Mesa OpenGL driver into the process, and with it the
  system libLLVM, whose symbols clash with the LLVM TensorFlow bundles: the process segfaults once
  both are in use (a few seconds after start, or when the model is switched). The window draws with
  QPainter only and needs no OpenGL, so the xcb plugin is told not to load any GL integration.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

#: Sonames whose Debian package name does not follow the lower-case "name + version" rule.
_PACKAGE_EXCEPTIONS = {
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libGLX.so.0": "libglx0",
    "libOpenGL.so.0": "libopengl0",
    "libxcb-util.so.1": "libxcb-util1",
}

_NOT_FOUND = re.compile(r"^\s*(\S+)\s+=>\s+not found", re.MULTILINE)


def uses_xcb(environ: dict[str, str] | None = None) -> bool:
    """True when Qt will pick its X11 plugin: Linux, and no other platform asked for."""
    environ = os.environ if environ is None else environ
    platform = environ.get("QT_QPA_PLATFORM", "")
    if sys.platform != "linux" or (platform and not platform.startswith("xcb")):
        return False
    return bool(environ.get("DISPLAY"))


def xcb_plugin() -> Path | None:
    """The xcb platform plugin Qt will load (``QT_QPA_PLATFORM_PLUGIN_PATH`` first), found without importing Qt."""
    override = os.environ.get("QT_QPA_PLATFORM_PLUGIN_PATH")
    if override:
        candidate = Path(override) / "libqxcb.so"
        if candidate.is_file():
            return candidate
    spec = importlib.util.find_spec("PyQt5")
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / "Qt5" / "plugins" / "platforms" / "libqxcb.so"
        if candidate.is_file():
            return candidate
    return None


def missing_libraries(plugin: Path) -> list[str]:
    """Sonames the dynamic loader cannot find for ``plugin`` (directly or through its dependencies)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        out = subprocess.run([ldd, str(plugin)], capture_output=True, text=True, timeout=30).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted(set(_NOT_FOUND.findall(out)))


def debian_package(soname: str) -> str:
    """``libxcb-icccm.so.4`` -> ``libxcb-icccm4``; ``libxkbcommon-x11.so.0`` -> ``libxkbcommon-x11-0``."""
    if soname in _PACKAGE_EXCEPTIONS:
        return _PACKAGE_EXCEPTIONS[soname]
    stem, _, version = soname.partition(".so.")
    stem = stem.lower()
    version = version.split(".")[0]
    return f"{stem}-{version}" if stem[-1:].isdigit() else f"{stem}{version}"


def install_command(packages: list[str]) -> list[str]:
    """The apt command that installs ``packages``; ``sudo`` in front unless already root."""
    command = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
    return command if os.geteuid() == 0 else ["sudo", *command]


def may_install() -> bool:
    """apt is here and we are root or have passwordless sudo: installing will not prompt."""
    if shutil.which("apt-get") is None:
        return False
    if os.geteuid() == 0:
        return True
    if shutil.which("sudo") is None:
        return False
    try:
        return subprocess.run(["sudo", "-n", "true"], capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def missing_packages() -> list[str]:
    """Debian packages that must be installed before the xcb plugin can load (empty: none, or not X11)."""
    if not uses_xcb():
        return []
    plugin = xcb_plugin()
    if plugin is None:
        return []
    return sorted({debian_package(name) for name in missing_libraries(plugin)})


def explain(packages: list[str]) -> str:
    return (
        "cxr-desktop: the window cannot open: Qt's X11 plugin needs system libraries that are not"
        f" installed ({', '.join(packages)}).\nInstall them with:\n    {' '.join(install_command(packages))}\n"
        "Headless use needs none of them: cxr-desktop screen FOLDER --csv results.csv"
    )


def disable_gl_integration(environ: dict[str, str] | None = None) -> None:
    """Keep Mesa (and its libLLVM) out of the process; must run before ``QApplication`` is made.

    A value the user set is respected, so a machine where OpenGL is known to be safe can opt back in.
    """
    environ = os.environ if environ is None else environ
    environ.setdefault("QT_XCB_GL_INTEGRATION", "none")


def ensure_libraries(install: bool) -> int:
    """0 when the xcb plugin can load (after installing what is missing, when allowed), else 1."""
    packages = missing_packages()
    if not packages:
        return 0
    if install and may_install():
        print(f"setup: installing {', '.join(packages)} for Qt's X11 plugin...", file=sys.stderr)
        done = subprocess.run(install_command(packages), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        packages = missing_packages() if done.returncode == 0 else packages
        if not packages:
            return 0
    print(explain(packages), file=sys.stderr)
    return 1


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m cxr_desktop.ui.qt_platform",
        description="check (and with --install, install) Qt's X11 libraries",
    )
    parser.add_argument("--install", action="store_true", help="install missing packages with apt when allowed")
    return ensure_libraries(parser.parse_args(argv).install)


if __name__ == "__main__":
    sys.exit(main())
