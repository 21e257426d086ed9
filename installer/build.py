"""``cxr-build``: record the self-test, run PyInstaller on ``build.spec``, check the frozen app.

The frozen app is only trusted after it has passed, in an environment without the project source
or the virtual environment on its path, the same checks a workstation runs: ``--self-test`` (every
bundled model scores the samples as recorded here) and a ``screen`` of the samples to a CSV.
"""

from __future__ import annotations

import argparse
import csv
import logging
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from cxr_desktop.core.resources import sample_images

log = logging.getLogger(__name__)

ROOT = Path(__file__).resolve().parents[1]
SPEC = ROOT / "build.spec"
APP_NAME = "cxr-desktop"
#: Largest accepted one-folder build (MiB): 643 measured on Linux x86-64 with OpenVINO 2026.4 and
#: ONNX Runtime 1.32 (no TensorFlow) and the two DenseNet121 bundles (ONNX graphs and Keras files),
#: plus ~12% so a dependency update passes while TensorFlow, SciPy, Qt WebEngine or CUDA creeping
#: back in fails.
SIZE_BUDGET_MIB = 720
#: Variables that would let the frozen app see the source tree or another Python installation.
LEAKY_VARIABLES = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "VIRTUAL_ENV", "CXR_MODELS_DIR")
#: The frozen checks load both models and score; generous for a busy 2-core machine.
CHECK_TIMEOUT_S = 900


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cxr-build",
        description="Build the one-folder CXR Desktop app with PyInstaller and check the result.",
    )
    parser.add_argument(
        "--models",
        type=Path,
        default=ROOT / "models",
        help="model folder to bundle, e.g. a retrained one (default: models/)",
    )
    parser.add_argument(
        "--dist",
        type=Path,
        default=ROOT / "dist",
        help=f"where the app folder '{APP_NAME}/' is written (default: dist/)",
    )
    parser.add_argument(
        "--work",
        type=Path,
        default=ROOT / "build",
        help="PyInstaller's work folder; reused between builds (default: build/)",
    )
    parser.add_argument(
        "--skip-selftest",
        action="store_true",
        help="do not run the frozen app's --self-test and screen checks after building",
    )
    return parser


def clean_environment() -> dict[str, str]:
    """The caller's environment minus anything that points Python at the source or a venv."""
    env = {key: value for key, value in os.environ.items() if key not in LEAKY_VARIABLES}
    env.setdefault("QT_QPA_PLATFORM", "offscreen")
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    return env


def frozen_executable(dist: Path) -> Path:
    suffix = ".exe" if sys.platform == "win32" else ""
    return dist / APP_NAME / f"{APP_NAME}{suffix}"


def folder_size(folder: Path) -> int:
    """Bytes in regular files under ``folder`` (symbolic links counted once, as links)."""
    return sum(path.lstat().st_size for path in folder.rglob("*") if path.is_file() and not path.is_symlink())


def record_selftest(models: Path, target: Path) -> None:
    """Score the samples with the source tree and the models being bundled."""
    from cxr_desktop.selftest import record_expected

    started = time.perf_counter()
    data = record_expected(models, target)
    print(
        f"recorded self-test results of {', '.join(data['models'])} in {time.perf_counter() - started:.0f}s: {target}",
        file=sys.stderr,
    )


def run_pyinstaller(models: Path, expected: Path, dist: Path, work: Path) -> None:
    env = dict(os.environ, CXR_BUILD_MODELS=str(models.resolve()), CXR_BUILD_EXPECTED=str(expected.resolve()))
    command = [
        sys.executable,
        "-m",
        "PyInstaller",
        "--noconfirm",
        "--log-level",
        "WARN",
        "--distpath",
        str(dist),
        "--workpath",
        str(work),
        str(SPEC),
    ]
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True)
    print(f"PyInstaller finished in {time.perf_counter() - started:.0f}s", file=sys.stderr)


def run_frozen(app: Path, args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run the frozen app from a folder outside the project, with a clean environment.

    Its log, audit trail and installation key go to ``cwd/home``, not the builder's own profile.
    """
    home = cwd / "home"
    env = dict(clean_environment(), CXR_HOME=str(home), CXR_AUDIT_DIR=str(home / "audit"))
    return subprocess.run([str(app), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=CHECK_TIMEOUT_S)


def check_frozen(app: Path) -> list[str]:
    """Run the frozen ``--self-test`` and a ``screen`` of the samples; return the problems found."""
    problems = []
    with tempfile.TemporaryDirectory(prefix="cxr-build-check-") as scratch:
        cwd = Path(scratch)
        result = run_frozen(app, ["--self-test"], cwd)
        print(result.stdout, end="", file=sys.stderr)
        if result.returncode != 0:
            problems.append(f"frozen --self-test exited {result.returncode}: {result.stderr.strip()[-2000:]}")
        samples = sample_images()
        folder = cwd / "samples"
        folder.mkdir()
        for sample in samples:
            (folder / sample.name).write_bytes(sample.read_bytes())
        result = run_frozen(app, ["screen", str(folder), "--csv", str(cwd / "out.csv"), "--quiet"], cwd)
        if result.returncode != 0:
            problems.append(f"frozen screen exited {result.returncode}: {result.stderr.strip()[-2000:]}")
        else:
            with (cwd / "out.csv").open(encoding="utf-8", newline="") as handle:
                rows = list(csv.DictReader(handle))
            scored = sum(1 for row in rows if row["status"] == "ok")
            print(f"frozen screen: {scored} of {len(samples)} samples scored", file=sys.stderr)
            if scored != len(samples) or len(rows) != len(samples):
                problems.append(f"frozen screen scored {scored} of {len(samples)} samples ({len(rows)} rows)")
    return problems


def main(argv: list[str] | None = None) -> int:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    args = build_parser().parse_args(argv)
    if not SPEC.is_file():
        print(f"cxr-build: {SPEC} not found: run cxr-build from a source checkout", file=sys.stderr)
        return 2
    if not args.models.is_dir():
        print(f"cxr-build: model folder not found: {args.models}", file=sys.stderr)
        return 2
    from cxr_desktop.core.errors import CxrError

    expected = args.work / "selftest_expected.json"
    try:
        record_selftest(args.models, expected)
    except CxrError as exc:
        print(f"cxr-build: cannot record the self-test: {exc}", file=sys.stderr)
        return 2
    try:
        run_pyinstaller(args.models, expected, args.dist, args.work)
    except subprocess.CalledProcessError as exc:
        print(f"cxr-build: PyInstaller failed (exit {exc.returncode})", file=sys.stderr)
        return 1
    app = frozen_executable(args.dist)
    problems = [] if args.skip_selftest else check_frozen(app)
    size_mib = folder_size(app.parent) / 2**20
    print(f"app: {app.parent} ({size_mib:.0f} MiB; budget {SIZE_BUDGET_MIB} MiB)", file=sys.stderr)
    if size_mib > SIZE_BUDGET_MIB:
        problems.append(f"the app is {size_mib:.0f} MiB, over its {SIZE_BUDGET_MIB} MiB budget")
    for problem in problems:
        print(f"cxr-build: FAILED: {problem}", file=sys.stderr)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
