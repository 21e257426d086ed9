"""How much of the heat map lies outside the usual lung fields, on real films, per class and source.

    .venv/bin/python bench/heatmap_lung_share.py [--films 90] [--model densenet121-3class]

Sets the scale for the viewer's statement ("N% of the heat map lies outside the usual lung
fields") and its warning level (``ui.heatmap_controls.OUTSIDE_WARNING``): the share is measured
for the explained (most probable) class on films interleaved by class from cxr3, and listed by
the film's source collection, because a map that rests on a source's labels is the shortcut the
statement is there to show.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--films", type=int, default=90)
    parser.add_argument("--model", default="densenet121-3class")
    args = parser.parse_args(argv)

    from bench.common import machine
    from cxr_desktop.core.bundle import load_bundle
    from cxr_desktop.core.lung_prior import load_prior, outside_share
    from cxr_desktop.core.screening import screen
    from cxr_desktop.engine import load_engine
    from cxr_desktop.ui.heatmap_controls import OUTSIDE_WARNING
    from tests.gui.helpers import real_images
    from trainer.data import default_data_dir

    prior = load_prior()
    bundle = load_bundle(args.model)
    engine = load_engine(bundle)
    films = real_images(default_data_dir(), args.films)
    shares: dict[str, list[float]] = defaultdict(list)
    for row in screen(films, engine, thresholds=bundle.thresholds, explain=True):
        if not row.ok:
            continue
        share = outside_share(row.cam(row.prediction), prior)
        source = row.path.name.split("_")[0]
        shares[f"label {row.path.parent.name}"].append(share)
        shares[f"source {source}"].append(share)
        shares["all"].append(share)
    print(machine())
    print(f"model {bundle.title}, {len(shares['all'])} films; warning from {OUTSIDE_WARNING:.0%}")
    print(f"{'group':28} {'n':>4} {'median':>7} {'p90':>6} {'>= warning':>10}")
    for group in sorted(shares, key=lambda g: (g != "all", g)):
        values = sorted(shares[group])
        p90 = values[min(len(values) - 1, int(0.9 * len(values)))]
        over = sum(v >= OUTSIDE_WARNING for v in values) / len(values)
        print(f"{group:28} {len(values):4d} {statistics.median(values):7.0%} {p90:6.0%} {over:10.0%}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
