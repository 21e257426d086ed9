"""Peak memory of ``cxr-desktop screen`` on the films that once exhausted it (issue 15).

Two runs of the real CLI with the real bundled model, each in its own process so each peak is its
own (``wait4``'s ``ru_maxrss``):

- one 8000 x 8000 JPEG (a real cxr3 film scaled up) with heat-maps on: target <= 1 GB
  (4.7 GB before films over 4096 px were decoded reduced);
- a folder of DR-sized films (16-bit DICOM, 3000 x 2500, 12 bits stored, made from real cxr3 films;
  hard links give each its own path) without heat-maps: target < 1.5 GB (3.2 to 5.3 GB before the
  screening loop bounded the decoded pixels it holds instead of the number of files).

    .venv/bin/python bench/fault_memory.py [--count 1000] [--distinct 20]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

BOMB_TARGET_MB = 1024
FOLDER_TARGET_MB = 1536
DR_SIZE = (2500, 3000)  # width, height


def real_films(count: int) -> list[np.ndarray]:
    from trainer.data import default_data_dir

    sources = sorted(default_data_dir().glob("*/*.jpg"))[::97][:count]
    return [cv2.imread(str(path), cv2.IMREAD_GRAYSCALE) for path in sources]


def peak_of_screen(folder: Path, out: Path, *extra: str) -> tuple[float, float, int]:
    """(peak RSS in MB, seconds, exit code) of one ``screen`` run in a child process."""
    command = [sys.executable, "-m", "cxr_desktop", "screen", str(folder), "--csv", str(out), "--quiet", *extra]
    started = time.perf_counter()
    child = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(child.pid, 0)
    child.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_maxrss / 1024, time.perf_counter() - started, child.returncode


def bomb(tmp: Path) -> str:
    folder = tmp / "bomb"
    folder.mkdir()
    film = cv2.resize(real_films(1)[0], (8000, 8000), interpolation=cv2.INTER_LINEAR)
    cv2.imwrite(str(folder / "film-8000.jpg"), film, [cv2.IMWRITE_JPEG_QUALITY, 90])
    size = (folder / "film-8000.jpg").stat().st_size
    peak, seconds, code = peak_of_screen(folder, tmp / "bomb.csv", "--heatmaps", str(tmp / "maps"))
    verdict = "ok" if code == 0 and peak <= BOMB_TARGET_MB else "OVER"
    return f"8000 x 8000 JPEG ({size / 1e6:.1f} MB) + heat-maps: peak {peak:,.0f} MB in {seconds:.0f} s [{verdict}]"


def dr_folder(tmp: Path, count: int, distinct: int) -> str:
    from tests.core.dicom_factory import make_dataset, write

    folder = tmp / "dr"
    folder.mkdir()
    firsts = []
    for index, grey in enumerate(real_films(distinct)):
        stored = cv2.resize(grey, DR_SIZE, interpolation=cv2.INTER_LINEAR).astype(np.uint16) * 16
        firsts.append(write(make_dataset(stored, bits_stored=12), folder / f"{index:03d}-0000.dcm"))
    for number in range(distinct, count):
        first = firsts[number % distinct]
        os.link(first, folder / f"{number % distinct:03d}-{number:04d}.dcm")
    peak, seconds, code = peak_of_screen(folder, tmp / "dr.csv")
    verdict = "ok" if code == 0 and peak < FOLDER_TARGET_MB else "OVER"
    return (
        f"{count} DR-sized DICOM films ({DR_SIZE[0]} x {DR_SIZE[1]}, 16-bit): peak {peak:,.0f} MB"
        f" in {seconds:.0f} s ({count / seconds:.1f} films/s) [{verdict}]"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=1000, help="films in the DR-sized folder")
    parser.add_argument("--distinct", type=int, default=20, help="distinct films among them (the rest are links)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="cxr-fault-memory-") as tmp:
        print(bomb(Path(tmp)), flush=True)
        print(dr_folder(Path(tmp), args.count, args.distinct), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
