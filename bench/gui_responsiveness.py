"""GUI responsiveness: event-loop stalls during a 300-image batch, and open -> result on screen.

Figures printed (targets from issue 6):
- window visible after start (<= 1.5 s) and model ready (<= 2 s after the window shows, issue 14);
- single image, warm: open -> probabilities and heat map painted (<= 100 ms), median and worst;
- longest GUI event-loop stall while a 300-image folder is screened (<= 30 ms): a 5 ms QTimer
  records the gaps between its ticks; a stall is a gap minus the 5 ms period;
- window/level redraw of a 3000 x 3000 image (LUT + QImage + QPixmap), the viewer's hot path.

Runs offscreen when there is no display. Settings, audit trail and keys go to a temporary folder.
Usage: nice -n 15 .venv/bin/python bench/gui_responsiveness.py [--model NAME|FOLDER] [--quick]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_common_arguments, machine, real_images, resolve_bundle, table  # noqa: E402

TICK_MS = 5


def wait_for(signal, timeout_s: float):
    """Run the event loop until ``signal`` fires; returns its arguments."""
    from PyQt5.QtCore import QEventLoop, QTimer

    loop, received = QEventLoop(), []

    def _on_signal(*args) -> None:
        received.append(args)
        loop.quit()

    signal.connect(_on_signal)
    QTimer.singleShot(int(timeout_s * 1000), loop.quit)
    loop.exec_()
    signal.disconnect(_on_signal)
    if not received:
        raise SystemExit(f"timed out after {timeout_s:.0f} s waiting for {signal}")
    return received[0]


def idle(seconds: float) -> None:
    """Let the event loop run with nothing to do."""
    from PyQt5.QtCore import QEventLoop, QTimer

    loop = QEventLoop()
    QTimer.singleShot(int(seconds * 1000), loop.quit)
    loop.exec_()


class StallMonitor:
    """Records the gaps between ticks of a fast timer on the GUI thread."""

    def __init__(self) -> None:
        from PyQt5.QtCore import Qt, QTimer

        self.timer = QTimer()
        self.timer.setTimerType(Qt.PreciseTimer)
        self.timer.setInterval(TICK_MS)
        self.timer.timeout.connect(self._on_timer_timeout)
        self.gaps: list[float] = []
        self._last = 0.0

    def start(self) -> None:
        self.gaps, self._last = [], time.perf_counter()
        self.timer.start()

    def stop(self) -> None:
        self.timer.stop()

    def _on_timer_timeout(self) -> None:
        now = time.perf_counter()
        self.gaps.append((now - self._last) * 1000.0)
        self._last = now

    def stalls(self) -> tuple[float, float]:
        ordered = sorted(max(gap - TICK_MS, 0.0) for gap in self.gaps)
        return ordered[-1], ordered[int(0.99 * (len(ordered) - 1))]


def cold_start_child(model: str, settings: Path) -> None:
    """Run in a fresh process: print wall-clock times when the window is visible and the model ready."""
    from cxr_desktop.ui.app import create_application
    from cxr_desktop.ui.main_window import MainWindow
    from cxr_desktop.ui.settings import AppSettings

    app = create_application()
    window = MainWindow(AppSettings.at(settings), model=model)
    window.show()
    app.processEvents()
    print(f"visible {time.time():.6f}", flush=True)
    wait_for(window.model_ready, 300)
    print(f"ready {time.time():.6f}", flush=True)
    window.close()


def cold_start(model: str, scratch: Path) -> tuple[float, float]:
    """Seconds from launching a new Python process to the window visible and to the model ready."""
    import subprocess

    launched = time.time()
    output = subprocess.run(
        [sys.executable, __file__, "--cold-start-child", model, str(scratch / "cold.ini")],
        check=True,
        capture_output=True,
        text=True,
        env=dict(os.environ),
    ).stdout
    stamps = dict(line.split() for line in output.splitlines() if line.startswith(("visible", "ready")))
    return float(stamps["visible"]) - launched, float(stamps["ready"]) - launched


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--images", type=int, default=300, help="batch size of the stall measurement")
    parser.add_argument("--cold-start-child", nargs=2, metavar=("MODEL", "SETTINGS"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.cold_start_child:
        cold_start_child(*args.cold_start_child)
        return 0
    if not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
    scratch = Path(tempfile.mkdtemp(prefix="cxr-gui-bench-"))
    os.environ["CXR_HOME"] = str(scratch / "home")
    os.environ["CXR_AUDIT_DIR"] = str(scratch / "home" / "audit")
    count = 60 if args.quick else args.images
    bundle = resolve_bundle(args.model)
    images = real_images(count)
    folder = scratch / "batch"
    folder.mkdir()
    for index, source in enumerate(images):
        (folder / f"{index:04d}_{source.name}").symlink_to(source)

    visible_s, ready_s = cold_start(str(bundle.folder), scratch)
    from cxr_desktop.ui.app import create_application
    from cxr_desktop.ui.main_window import MainWindow
    from cxr_desktop.ui.settings import AppSettings

    app = create_application()
    window = MainWindow(AppSettings.at(scratch / "settings.ini"), model=str(bundle.folder))
    window.show()
    wait_for(window.model_ready, 300)

    samples = sorted((Path(__file__).resolve().parents[1] / "resources" / "samples").glob("*.jpg"))
    latencies, compute = [], []
    for repeat in range(2 if args.quick else 5):
        for path in samples:
            opened = time.perf_counter()
            window.open_paths([path])
            (result,) = wait_for(window.result_displayed, 60)
            compute.append(result.seconds * 1000.0)
            window.repaint()
            app.processEvents()
            latencies.append((time.perf_counter() - opened) * 1000.0)
    warm = latencies[len(samples) :] or latencies

    import cv2
    import numpy as np

    from cxr_desktop.core.radiograph import load_radiograph
    from cxr_desktop.core.windowing import Window

    big = cv2.resize(load_radiograph(samples[0]).pixels, (3000, 3000), interpolation=cv2.INTER_CUBIC)
    window.viewer.set_image(big, 16)
    wl_times = []
    for step in range(20):
        t0 = time.perf_counter()
        window.viewer.window = Window(center=(0.4 + step * 0.01) * 65535, width=0.6 * 65535)
        window.viewer._render()
        wl_times.append((time.perf_counter() - t0) * 1000.0)

    monitor = StallMonitor()
    monitor.start()
    idle(2.0)
    monitor.stop()
    idle_longest, idle_p99 = monitor.stalls()
    monitor.start()
    batch_started = time.perf_counter()
    window.open_paths([folder])
    (cancelled,) = wait_for(window.batch_completed, 1800)
    batch_s = time.perf_counter() - batch_started
    monitor.stop()
    longest, p99 = monitor.stalls()
    rows = len(window.batch.model.items)
    window.close()

    print(f"machine: {machine()}")
    print(f"bundle: {bundle.title} ({bundle.folder}); device: {window.model_info.device if window.model_info else '?'}")
    print(
        table(
            [
                ("cold start: new process -> window visible", f"{visible_s * 1000:.0f} ms", "<= 1500 ms"),
                ("cold start: new process -> model ready", f"{ready_s:.2f} s", ""),
                ("cold start: window visible -> model ready", f"{ready_s - visible_s:.2f} s", "<= 2 s"),
                ("open -> probabilities + heat map (warm, median)", f"{statistics.median(warm):.0f} ms", "<= 100 ms"),
                ("open -> probabilities + heat map (warm, worst)", f"{max(warm):.0f} ms", ""),
                ("  of which preprocess + inference + Grad-CAM (median)", f"{statistics.median(compute):.0f} ms", ""),
                ("window/level redraw 3000x3000 (median)", f"{statistics.median(wl_times):.1f} ms", ""),
                (
                    f"batch of {rows} images{' (cancelled)' if cancelled else ''}",
                    f"{batch_s:.1f} s = {rows / batch_s:.1f} img/s",
                    "",
                ),
                ("longest event-loop stall during the batch", f"{longest:.1f} ms", "<= 30 ms"),
                ("99th percentile stall during the batch", f"{p99:.1f} ms", ""),
                ("same, idle window (machine noise baseline)", f"{idle_longest:.1f} ms (p99 {idle_p99:.1f})", ""),
                ("timer ticks observed during the batch", str(len(monitor.gaps)), ""),
            ],
            ("measure", "value", "target"),
        )
    )
    return 0 if np.isfinite(longest) else 1


if __name__ == "__main__":
    raise SystemExit(main())
