"""Single-image latency (warm) and cold start, as a clinician opening one radiograph meets them.

Warm: load -> preprocess -> explain (probabilities + Grad-CAM for every class) -> heat map at image
resolution -> overlay rendered, per image, with a warmed engine; median and p95 per precision,
measured interleaved in one process. Target: <= 100 ms (the GUI's on-screen part is measured by
bench/gui_responsiveness.py).
Cold: fresh child processes timing ``import cxr_desktop.core...``, ``load_bundle`` (hash checks)
and ``load_engine(bundle)`` (the runtime the app picks: graph load, compile, warm-up) until the
model is ready. Target (issue 14): model ready <= 2 s (the GUI's share after its window shows is
in bench/gui_responsiveness.py).

    nice -n 15 .venv/bin/python bench/single_image_latency.py --quick
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_common_arguments, machine, real_images, resolve_bundle, table  # noqa: E402

STAGES = ("load", "preprocess", "explain", "heatmap", "overlay")


def cold_child(bundle_folder: str, precision: str, started: float) -> None:
    """Runs in a fresh interpreter; prints one JSON line of timings (s since ``started``)."""
    marks = {"interpreter": time.time() - started}
    t = time.perf_counter()
    import cxr_desktop.core.bundle  # noqa: F401
    import cxr_desktop.core.overlay  # noqa: F401
    import cxr_desktop.core.radiograph  # noqa: F401
    import cxr_desktop.core.screening  # noqa: F401

    marks["import cxr_desktop.core"] = time.perf_counter() - t
    from cxr_desktop.core.bundle import load_bundle
    from cxr_desktop.engine import load_engine

    t = time.perf_counter()
    bundle = load_bundle(bundle_folder)
    marks["load_bundle (sha256 check)"] = time.perf_counter() - t
    t = time.perf_counter()
    engine = load_engine(bundle, precision=precision)
    marks["load_engine(): runtime import, graph load, warm up"] = time.perf_counter() - t
    marks["model ready since process start"] = time.time() - started
    marks["precision"] = engine.device_description
    print(json.dumps(marks))


def cold_variants(precisions: list[str]) -> dict[str, tuple[str, dict[str, str]]]:
    """Label -> (precision, extra environment): each precision on the runtime the app picks, plus the
    TensorFlow reference engine in float32 for comparison."""
    variants = {precision: (precision, {}) for precision in precisions}
    variants["tensorflow float32 (reference)"] = ("float32", {"CXR_ENGINE": "tensorflow"})
    return variants


def cold(bundle, variants: dict[str, tuple[str, dict[str, str]]], repeats: int) -> dict[str, list[dict]]:
    results: dict[str, list[dict]] = {label: [] for label in variants}
    for _ in range(repeats):
        for label, (precision, env) in variants.items():
            started = time.time()
            done = subprocess.run(
                [sys.executable, __file__, "--cold-child", str(bundle.folder), precision, repr(started)],
                capture_output=True,
                text=True,
                check=True,
                env={**os.environ, **env},
            )
            results[label].append(json.loads(done.stdout.strip().splitlines()[-1]))
    return results


def warm(bundle, precisions: list[str], paths: list[Path], repeats: int) -> dict[str, list[dict[str, float]]]:
    """Per precision, a list of per-image stage timings (ms), interleaved image by image."""
    from cxr_desktop.core.overlay import heatmap_to_image, render_overlay
    from cxr_desktop.core.preprocessing import preprocess
    from cxr_desktop.core.radiograph import load_radiograph
    from cxr_desktop.engine import load_engine

    engines = {p: load_engine(bundle, precision=p) for p in precisions}
    timings: dict[str, list[dict[str, float]]] = {p: [] for p in precisions}
    for _ in range(repeats):
        for path in paths:
            for precision, engine in engines.items():
                marks = [time.perf_counter()]
                radiograph = load_radiograph(path)
                marks.append(time.perf_counter())
                tensor = preprocess(radiograph.pixels, engine.spec)
                marks.append(time.perf_counter())
                scores = engine.explain(tensor[None])
                marks.append(time.perf_counter())
                cam = scores.cams[0][int(scores.probabilities[0].argmax())]
                heatmap = heatmap_to_image(cam, radiograph.width, radiograph.height)
                marks.append(time.perf_counter())
                render_overlay(radiograph.pixels, heatmap)
                marks.append(time.perf_counter())
                stages = {s: 1000 * (b - a) for s, a, b in zip(STAGES, marks, marks[1:])}
                stages["total"] = 1000 * (marks[-1] - marks[0])
                timings[precision].append(stages)
    return timings


def percentile(values: list[float], q: float) -> float:
    import numpy as np

    return float(np.percentile(values, q))


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 5 and sys.argv[1] == "--cold-child":
        cold_child(sys.argv[2], sys.argv[3], float(sys.argv[4]))
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--images", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--cold-repeats", type=int, default=3)
    parser.add_argument("--precisions", default="float32,auto")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.repeats, args.cold_repeats = min(args.images, 8), 1, 1
    precisions = args.precisions.split(",")
    bundle = resolve_bundle(args.model)
    paths = real_images(args.images)

    print(f"machine: {machine()}")
    print(f"bundle: {bundle.title} ({bundle.folder})")
    timings = warm(bundle, precisions, paths, args.repeats)
    print(f"\nwarm single image: {len(paths)} real cxr3 images x {args.repeats}, one at a time (target <= 100 ms)")
    rows = []
    for precision, runs in timings.items():
        totals = [r["total"] for r in runs]
        stages = " ".join(f"{s} {percentile([r[s] for r in runs], 50):.1f}" for s in STAGES)
        rows.append(
            (
                precision,
                f"{percentile(totals, 50):.1f}",
                f"{percentile(totals, 95):.1f}",
                stages,
                "PASS" if percentile(totals, 50) <= 100 else "FAIL",
            )
        )
    print(table(rows, ("precision", "median ms", "p95 ms", "median ms per stage", "")))

    print(f"\ncold start: fresh processes, {args.cold_repeats} per precision (target: model ready <= 2 s)")
    results = cold(bundle, cold_variants(precisions), args.cold_repeats)
    rows = []
    for label, runs in results.items():
        keys = [k for k in runs[0] if k != "precision"]
        rows += [
            (
                f"{label} ({runs[0]['precision']})",
                k,
                f"{percentile([r[k] for r in runs], 50):.2f}",
                f"{min(r[k] for r in runs):.2f}-{max(r[k] for r in runs):.2f}",
            )
            for k in keys
        ]
    print(table(rows, ("variant", "step", "median s", "range s")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
