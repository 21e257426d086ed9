"""Command line: ``cxr-desktop [FILES...]`` opens the window; ``cxr-desktop screen`` runs headless."""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
import time
from pathlib import Path

from cxr_desktop import __version__
from cxr_desktop.core.bundle import DEFAULT_MODEL
from cxr_desktop.engine import BACKENDS
from cxr_desktop.core.errors import CxrError
from cxr_desktop.core.resources import samples_dir
from cxr_desktop.core.privacy import IDENTIFIER_MODES
from cxr_desktop.distributed.options import add_dask_arguments
from cxr_desktop.pacs.listen_command import add_listen_parser, run_listen
from cxr_desktop.setup_errors import refuse_to_start

SAMPLES_DIR = samples_dir()


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="cxr-desktop",
        description="Chest radiograph decision support (COVID-19 / pneumonia / normal) with Grad-CAM."
        " Decision support, not a diagnosis.",
    )
    parser.add_argument("--version", action="version", version=f"cxr-desktop {__version__}")
    parser.add_argument(
        "--self-test",
        action="store_true",
        help="score the shipped samples with every bundled model, compare with the results"
        " recorded when this app was built, print a summary and exit 0 (pass) or 1",
    )
    sub = parser.add_subparsers(dest="command")
    screen = sub.add_parser("screen", help="score every file in a folder (recursively) and write a CSV")
    screen.add_argument("folder", type=Path)
    screen.add_argument("--model", default=DEFAULT_MODEL, help="bundled model name or bundle folder")
    screen.add_argument("--csv", type=Path, required=True, help="output CSV (written atomically as it goes)")
    screen.add_argument("--heatmaps", type=Path, default=None, help="write Grad-CAM overlay PNGs here")
    screen.add_argument("--batch-size", type=int, default=16)
    screen.add_argument(
        "--engine",
        choices=BACKENDS,
        default="auto",
        help="inference runtime: auto (default: OpenVINO on a CPU, the GPU where one is usable), openvino,"
        " onnxruntime, or tensorflow (the reference; needs the trainer extra)",
    )
    screen.add_argument(
        "--precision",
        choices=("auto", "float32", "int8", "bfloat16", "float16"),
        default="auto",
        help="auto: what the bundle and machine support best (int8 only where the bundle's accuracy gate passed)",
    )
    screen.add_argument("--quiet", action="store_true", help="no progress bar")
    screen.add_argument(
        "--identifiers",
        choices=IDENTIFIER_MODES,
        default="pseudonymise",
        help="what the CSV 'path' column holds. pseudonymise (default): a stable pseudonym 'anon-<16 hex>',"
        " a keyed hash of the file's path with a secret kept on this computer, so the CSV can be shared"
        " outside the workstation; the local audit trail maps each pseudonym to its file."
        " keep: the file path as found (file names often hold patient names: keep such a CSV local)."
        " omit: an empty path. Heat-map file names and the log follow the same choice.",
    )
    add_dask_arguments(screen)
    add_listen_parser(sub)
    gui = sub.add_parser("gui", help="open the desktop window (the default)")
    gui.add_argument("paths", nargs="*", type=Path, help="image files or a folder to open")
    gui.add_argument("--model", default=None)
    return parser


class ProgressBar:
    """A one-line terminal progress bar on stderr; silent when stderr is not a terminal."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total, self.enabled, self.done = total, enabled and sys.stderr.isatty(), 0
        self.started = time.perf_counter()

    def step(self) -> None:
        self.done += 1
        if not self.enabled:
            return
        rate = self.done / max(time.perf_counter() - self.started, 1e-9)
        filled = int(30 * self.done / max(self.total, 1))
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (30 - filled)}] {self.done}/{self.total}  {rate:.1f} img/s")
        sys.stderr.flush()

    def close(self) -> None:
        if self.enabled:
            sys.stderr.write("\n")


def run_screen(args: argparse.Namespace) -> int:
    from cxr_desktop.core.bundle import load_bundle
    from cxr_desktop.core.output_paths import check_output
    from cxr_desktop.core.screening import find_images, screen
    from cxr_desktop.core.app_log import set_identifiers
    from cxr_desktop.exports.heatmaps import HeatmapFolder, check_writable
    from cxr_desktop.exports.results_csv import ResultsCsv

    set_identifiers(args.identifiers)
    if not args.folder.is_dir():
        print(f"cxr-desktop: error: folder not found: {args.folder}", file=sys.stderr)
        return 2
    try:
        check_output(args.csv, [args.folder], "CSV")
        if args.heatmaps is not None:
            check_output(args.heatmaps, [args.folder], "heat-map folder")
    except CxrError as exc:
        print(f"cxr-desktop: error: {exc}", file=sys.stderr)
        return 2
    if args.heatmaps is not None:
        try:
            check_writable(args.heatmaps)
        except OSError as exc:
            print(
                f"cxr-desktop: error: cannot write heat-maps into {args.heatmaps}: {exc.strerror or exc}",
                file=sys.stderr,
            )
            return 2
    if getattr(args, "backend", "local") == "dask":
        from cxr_desktop.distributed.run import run_dask_screen

        return run_dask_screen(args)
    if getattr(args, "resume", False):
        print("cxr-desktop: error: --resume needs --backend dask (--workers 1: this machine only)", file=sys.stderr)
        return 2
    try:
        bundle = load_bundle(args.model)
        from cxr_desktop.engine import load_engine, provenance

        engine = load_engine(bundle, backend=args.engine, precision=args.precision)
    except CxrError as exc:
        print(f"cxr-desktop: error: {exc}", file=sys.stderr)
        return 2
    paths = find_images(args.folder)
    print(f"{bundle.title} on {engine.device_description}: {len(paths)} files in {args.folder}", file=sys.stderr)
    from cxr_desktop.core import audit

    try:
        results = ResultsCsv(
            args.csv,
            bundle.classes,
            identifiers=args.identifiers,
            provenance=provenance(bundle, engine.backend, engine.precision),
        )
    except (CxrError, OSError) as exc:
        return refuse_to_start(exc, args.csv)
    maps = (
        HeatmapFolder(args.heatmaps, args.folder, identifiers=args.identifiers, key=results.key)
        if args.heatmaps is not None
        else None
    )
    progress = ProgressBar(len(paths), not args.quiet)
    signal.signal(signal.SIGTERM, lambda *_: (_ for _ in ()).throw(KeyboardInterrupt()))
    interrupted, failure = False, ""
    try:
        for row in screen(
            paths, engine, thresholds=bundle.thresholds, batch_size=args.batch_size, explain=args.heatmaps is not None
        ):
            if maps is not None:
                reported = maps.failure
                maps.write(row)
                if maps.failure and not reported:
                    print(f"\ncxr-desktop: heat-maps stopped: {maps.failure}; scoring goes on", file=sys.stderr)
            written = results.add(row)
            audit.record_scored(
                row, bundle, pseudonym=written if args.identifiers == "pseudonymise" else "", source="cli"
            )
            progress.step()
    except KeyboardInterrupt:
        interrupted = True
    except OSError as exc:
        failure = f"the CSV cannot be written ({exc.strerror or exc}); the batch stopped"
    finally:
        try:
            results.flush()
        except OSError as exc:
            failure = f"the CSV cannot be written ({exc.strerror or exc})"
        progress.close()
        audit.record_export(
            "csv", args.csv, rows=results.count, identifiers=args.identifiers, bundle=bundle, source="cli"
        )
        if args.heatmaps is not None:
            audit.record_export(
                "heatmaps", args.heatmaps, rows=maps.written if maps else 0, bundle=bundle, source="cli"
            )
    if failure:
        print(f"cxr-desktop: error: {failure}: {args.csv}", file=sys.stderr)
        return 1
    verb = "interrupted after" if interrupted else "done:"
    print(
        f"{verb} {results.count} files, {results.count - results.errors} scored, {results.errors} could not be"
        f" scored; CSV: {args.csv}",
        file=sys.stderr,
    )
    return 130 if interrupted else 0


def has_display() -> bool:
    if sys.platform != "linux" or os.environ.get("QT_QPA_PLATFORM", "").startswith(("offscreen", "minimal")):
        return True
    return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))


def run_gui(args: argparse.Namespace) -> int:
    if not has_display():
        print(
            "cxr-desktop: no screen found (DISPLAY/WAYLAND_DISPLAY unset), so the window cannot open.\n"
            "Headless use: cxr-desktop screen FOLDER --csv results.csv [--heatmaps DIR] [--model NAME]\n"
            f"Showing that now on the sample images in {SAMPLES_DIR}:",
            file=sys.stderr,
        )
        demo = build_parser().parse_args(
            ["screen", str(SAMPLES_DIR), "--model", str(args.model or DEFAULT_MODEL), "--csv", "sample-results.csv"]
            + ["--quiet", "--identifiers", "keep"]
        )
        code = run_screen(demo)
        if code == 0:
            sys.stdout.write(Path("sample-results.csv").read_text(encoding="utf-8"))
        return code
    from cxr_desktop.ui.qt_platform import ensure_libraries

    if ensure_libraries(install=False) != 0:
        return 1
    from cxr_desktop.ui.app import run_app

    return run_app(paths=args.paths, model=args.model)


def configure_logging() -> None:
    """Warnings to the terminal; full details (tracebacks included) to the log file only."""
    from cxr_desktop.core.appdirs import log_file

    root = logging.getLogger()
    root.setLevel(logging.INFO)
    console = logging.StreamHandler()
    console.setLevel(logging.WARNING)
    console.setFormatter(logging.Formatter("%(levelname)s: %(message)s"))
    console.addFilter(lambda record: record.exc_info is None and record.name != "py.warnings")
    root.addHandler(console)
    logging.captureWarnings(True)
    from cxr_desktop.core.app_log import file_handler

    try:
        root.addHandler(file_handler(log_file()))
    except OSError:
        return


def main(argv: list[str] | None = None) -> int:
    configure_logging()
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    if not argv or argv[0] not in {"screen", "listen", "gui", "-h", "--help", "--version", "--self-test"}:
        argv = ["gui", *argv]
    args = parser.parse_args(argv)
    try:
        if args.self_test:
            from cxr_desktop.selftest import run_selftest

            return run_selftest()
        if args.command == "screen":
            return run_screen(args)
        if args.command == "listen":
            return run_listen(args)
        return run_gui(args)
    except KeyboardInterrupt:
        print("cxr-desktop: interrupted", file=sys.stderr)
        return 130
    except Exception as exc:  # noqa: BLE001 - last line of defence: no traceback reaches the user
        from cxr_desktop.core.appdirs import log_file

        logging.getLogger(__name__).exception("unexpected error")
        print(f"cxr-desktop: unexpected error ({type(exc).__name__}: {exc}); details in {log_file()}", file=sys.stderr)
        return 1
