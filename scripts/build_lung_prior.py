"""Build ``resources/lung_prior.png``: the mean of the V7 Labs lung masks, squashed to a square.

Run once, by hand; the PNG is committed. The viewer multiplies the Grad-CAM heat map by this prior
(down-weighting colour outside where lungs usually lie) and says how much of the map's mass lay
outside it. The masks are squashed to a square exactly as films are for the model, so the prior sits
on the same grid as the heat map. Where the masks come from: see ``trainer/lungs.py`` (the
torchxrayvision 1.5.7 wheel's ``data/semantic_masks_v7labs_lungs.zip``, never installed).

    .venv/bin/python scripts/build_lung_prior.py MASK_FOLDER
"""

from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

from cxr_desktop.core.lung_prior import PRIOR_FILE, PRIOR_SIZE


def mean_mask(folder: Path, size: int = PRIOR_SIZE) -> np.ndarray:
    total = np.zeros((size, size), np.float64)
    count = 0
    for path in sorted(folder.iterdir()):
        mask = cv2.imread(str(path), cv2.IMREAD_GRAYSCALE)
        if mask is None:
            continue
        total += cv2.resize((mask > 127).astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
        count += 1
    if not count:
        raise SystemExit(f"no masks in {folder}")
    print(f"{count} masks averaged")
    return total / count


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    prior = mean_mask(Path(argv[0]))
    cv2.imwrite(str(PRIOR_FILE), np.round(prior / prior.max() * 255).astype(np.uint8))
    print(f"wrote {PRIOR_FILE}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
