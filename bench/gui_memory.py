"""GUI resident memory over a folder batch (issue 14: <= 800 MB after 500 films, flat to 5,000).

The real main window (offscreen when there is no display) loads the model the app picks, screens a
folder of links cycling through real cxr3 films, and a timer on the GUI thread samples the resident
set size (VmRSS) and its peak (VmHWM) as the results table passes each checkpoint.

    nice -n 15 .venv/bin/python bench/gui_memory.py --quick
    .venv/bin/python bench/gui_memory.py                      # 5,000 films
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_common_arguments, machine, resolve_bundle, table  # noqa: E402
from bench.gui_responsiveness import wait_for  # noqa: E402
from bench.memory import link_folder, memory_mb  # noqa: E402

LIMIT_MB = 800


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--first", type=int, default=500, help="the early checkpoint (target applies here)")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.first = min(args.images, 600), min(args.first, 500)
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="cxr-gui-memory-"))
    os.environ["CXR_HOME"] = str(scratch / "home")
    os.environ["CXR_AUDIT_DIR"] = str(scratch / "home" / "audit")
    bundle = resolve_bundle(args.model)
    folder = scratch / "batch"
    folder.mkdir()
    link_folder(folder, args.images)

    from PyQt5.QtCore import QTimer

    from cxr_desktop.ui.app import create_application
    from cxr_desktop.ui.main_window import MainWindow
    from cxr_desktop.ui.settings import AppSettings

    app = create_application()
    window = MainWindow(AppSettings.at(scratch / "settings.ini"), model=str(bundle.folder))
    window.show()
    wait_for(window.model_ready, 300)
    app.processEvents()
    checkpoints = sorted({args.first, args.images // 2, args.images})
    samples = [(0, *memory_mb())]

    def sample() -> None:
        done = len(window.batch.model.items)
        while checkpoints and done >= checkpoints[0]:
            samples.append((checkpoints.pop(0), *memory_mb()))

    timer = QTimer()
    timer.timeout.connect(sample)
    timer.start(50)
    window.open_paths([folder])
    wait_for(window.batch_completed, 7200)
    sample()
    timer.stop()
    device = window.model_info.device if window.model_info else "?"
    window.close()

    print(f"machine: {machine()}")
    print(f"bundle: {bundle.title}; engine {device}; {args.images} real cxr3 films (cycled) through the GUI batch\n")
    print(table([(str(n), f"{rss:.0f}", f"{peak:.0f}") for n, rss, peak in samples], ("films", "RSS MB", "peak MB")))
    by_count = {n: rss for n, rss, _ in samples}
    first, last = by_count.get(args.first, float("nan")), by_count.get(args.images, float("nan"))
    per_1000 = 1000 * (last - first) / max(args.images - args.first, 1)
    verdict = "PASS" if first <= LIMIT_MB else "FAIL"
    trend = "flat" if per_1000 <= 10 else "GROWING"
    print(f"\nRSS after {args.first} films {first:.0f} MB (target <= {LIMIT_MB}): {verdict}")
    print(f"growth {args.first} -> {args.images}: {per_1000:+.1f} MB per 1,000 films: {trend}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
