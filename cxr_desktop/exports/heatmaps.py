"""Heat-map overlay files for scored rows (``cxr-desktop screen --heatmaps``)."""

from __future__ import annotations

from pathlib import Path

from cxr_desktop.core.atomic import write_png_atomic
from cxr_desktop.core.overlay import heatmap_to_image, render_overlay
from cxr_desktop.core.scoring import ScreeningRow


def heatmap_name(path: Path, root: Path | None) -> str:
    """``a/b/film.png`` under ``root`` -> ``a__b__film.png.gradcam.png``: unique and flat."""
    relative = path.relative_to(root) if root is not None and path.is_relative_to(root) else Path(path.name)
    return relative.as_posix().replace("/", "__") + ".gradcam.png"


def write_heatmap(row: ScreeningRow, folder: Path, root: Path | None = None) -> Path:
    """Write the overlay explaining the row's predicted class; the row must hold its radiograph and maps."""
    if row.radiograph is None:
        raise ValueError(f"{row.path.name}: the row no longer holds its image")
    radiograph = row.radiograph
    heatmap = heatmap_to_image(row.cam(row.prediction), radiograph.width, radiograph.height)
    target = folder / heatmap_name(row.path, root)
    write_png_atomic(target, render_overlay(radiograph.pixels, heatmap))
    return target
