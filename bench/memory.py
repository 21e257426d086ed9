"""Peak memory of headless screening at 500 and at 5,000 images (target: <= 1.2 GB, flat).

Runs the real CLI (``cxr-desktop screen``) in this process on a temporary folder of links that
cycle through the real cxr3 images, and reads the resident set size (VmRSS) and its peak (VmHWM)
from /proc when the progress bar passes each checkpoint. The CSV writer keeps each row as its
rendered line, so nothing per image but ~0.3 KB of text outlives the image's batch.

    nice -n 15 .venv/bin/python bench/memory.py --quick
    .venv/bin/python bench/memory.py                      # 5,000 images
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.common import add_common_arguments, machine, real_images, resolve_bundle, table  # noqa: E402

LIMIT_MB = 1200


def memory_mb() -> tuple[float, float]:
    """(current RSS, peak RSS) of this process in MB, from /proc/self/status."""
    values = {}
    for line in Path("/proc/self/status").read_text().splitlines():
        key, _, rest = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            values[key] = int(rest.split()[0]) / 1024
    return values["VmRSS"], values["VmHWM"]


def link_folder(folder: Path, count: int) -> None:
    """``count`` links cycling through real images, each under its own name, so every file is screened."""
    for index, source in enumerate(real_images(count, cycle=True)):
        (folder / f"{index:05d}_{source.name}").symlink_to(source)


def run(bundle, count: int, checkpoints: list[int]) -> list[tuple[int, float, float]]:
    from cxr_desktop import cli

    samples: list[tuple[int, float, float]] = []

    class SamplingProgress(cli.ProgressBar):
        def step(self) -> None:
            super().step()
            if self.done in checkpoints:
                samples.append((self.done, *memory_mb()))

    cli.ProgressBar = SamplingProgress
    with tempfile.TemporaryDirectory(prefix="cxr-memory-") as tmp:
        folder = Path(tmp) / "images"
        folder.mkdir()
        link_folder(folder, count)
        samples.append((0, *memory_mb()))
        code = cli.main(
            [
                "screen",
                str(folder),
                "--model",
                str(bundle.folder),
                "--csv",
                str(Path(tmp) / "out.csv"),
                "--quiet",
                "--identifiers",
                "keep",
            ]
        )
        if code != 0:
            raise SystemExit(f"screening failed with exit code {code}")
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_common_arguments(parser)
    parser.add_argument("--images", type=int, default=5000)
    parser.add_argument("--first", type=int, default=500, help="the early checkpoint")
    args = parser.parse_args(argv)
    if args.quick:
        args.images, args.first = min(args.images, 400), min(args.first, 100)
    os.environ.setdefault("CXR_AUDIT_DIR", tempfile.mkdtemp(prefix="cxr-memory-audit-"))
    bundle = resolve_bundle(args.model)
    checkpoints = sorted({args.first, args.images // 2, args.images})
    samples = run(bundle, args.images, checkpoints)

    print(f"machine: {machine()}")
    print(f"bundle: {bundle.title}; {args.images} real cxr3 images (cycled) through `cxr-desktop screen`\n")
    print(
        table(
            [(str(n), f"{rss:.0f}", f"{peak:.0f}") for n, rss, peak in samples],
            ("images screened", "RSS MB", "peak RSS MB"),
        )
    )
    by_count = {n: (rss, peak) for n, rss, peak in samples}
    early, late = by_count[args.first], by_count[args.images]
    growth = late[0] - early[0]
    per_1000 = 1000 * growth / max(args.images - args.first, 1)
    print(f"\npeak RSS {late[1]:.0f} MB (target <= {LIMIT_MB}): {'PASS' if late[1] <= LIMIT_MB else 'FAIL'}")
    print(
        f"RSS growth {args.first} -> {args.images} images: {growth:+.0f} MB ({per_1000:+.1f} MB per 1,000 images)"
        f": {'flat' if abs(per_1000) <= 5 else 'GROWING'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
