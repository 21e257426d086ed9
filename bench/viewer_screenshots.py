"""Screenshots of the reading tools for a person to review, offscreen or under Xvfb.

    QT_QPA_PLATFORM=offscreen .venv/bin/python bench/viewer_screenshots.py
    xvfb-run -a -s "-screen 0 1600x1000x24" .venv/bin/python bench/viewer_screenshots.py --platform xcb

Writes to ``tests/_artifacts/screenshots/viewer-<platform>/``: a DICOM with corner overlays, the
ruler and the window in stored units (``1-dicom-reading.png``), the tag browser, the compare view,
a triage list with its unusual (OOD) and read-error groups, a film whose JPEG data was damaged
without the decoder noticing (the result panel must say so), and the open dialog listing an
extension-less DICOM. ``--readme`` also writes the README's small screenshot. The DICOM files are
built from real cxr3 films (upscaled 4x to a detector-like 12-bit 2048 px film with a pixel
spacing), because no real DICOM chest film with a free licence is in the data set.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

SHOTS = ROOT / "tests" / "_artifacts" / "screenshots"
README_SHOT = ROOT / "docs" / "reading-a-film.png"


def dicom_film(path: Path, source: Path, **header) -> Path:
    """A 12-bit DX DICOM from a real film, 4x upscaled, with a window, spacing and patient header."""
    import cv2

    from tests.gui.helpers import write_dicom

    grey = cv2.imread(str(source), cv2.IMREAD_GRAYSCALE)
    big = cv2.resize(grey, (grey.shape[1] * 4, grey.shape[0] * 4), interpolation=cv2.INTER_CUBIC)
    staging = path.with_suffix(".png")
    cv2.imwrite(str(staging), big)
    defaults = {
        "PatientName": "Example^Patient",
        "PatientSex": "F",
        "PatientAge": "058Y",
        "PixelSpacing": [0.168, 0.168],
        "WindowCenter": 2100,
        "WindowWidth": 3400,
    }
    written = write_dicom(path, staging, **{**defaults, **header})
    staging.unlink()
    return written


def save_small(image, target: Path) -> None:
    """A README-sized PNG: 256 colours (octree keeps the heat map's ramp smooth), under 100 KB."""
    import io

    from PIL import Image
    from PyQt5.QtCore import QBuffer, QIODevice

    buffer = QBuffer()
    buffer.open(QIODevice.WriteOnly)
    image.save(buffer, "PNG")
    target.parent.mkdir(parents=True, exist_ok=True)
    Image.open(io.BytesIO(bytes(buffer.data()))).convert("RGB").quantize(256, method=Image.Quantize.FASTOCTREE).save(
        target, optimize=True
    )


def unusual_images(folder: Path, film: Path) -> None:
    """Files the OOD gate should flag (a document, a rotated and an inverted film) and two read errors."""
    import cv2
    import numpy as np

    page = np.full((900, 700), 245, np.uint8)
    for line in range(14):
        cv2.putText(page, "Discharge summary - page 2 of 3  " * 2, (30, 60 + 55 * line), 0, 0.6, 20, 1)
    cv2.imwrite(str(folder / "scanned-letter.png"), page)
    grey = cv2.imread(str(film), cv2.IMREAD_GRAYSCALE)
    cv2.imwrite(str(folder / "rotated-film.png"), cv2.rotate(grey, cv2.ROTATE_90_CLOCKWISE))
    cv2.imwrite(str(folder / "photo-negative.png"), 255 - grey[::-1])
    (folder / "notes.jpg").write_text("a text file renamed to .jpg\n", encoding="utf-8")
    (folder / "empty.png").write_bytes(b"")


def silently_damaged_jpeg(cxr3: Path) -> bytes:
    """A real film with 64 bytes of its scan data overwritten, which libjpeg decodes without complaint
    (mutant 97 of the seed-15 corpus of ``bench/mutant_corpus.py``): the window must say it is damaged."""
    from bench.mutant_corpus import film_files, make_mutants

    _, mutants = make_mutants(film_files(cxr3, 20, 15), 600, 15)
    return mutants[97].data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", default=os.environ.get("QT_QPA_PLATFORM", "offscreen"))
    parser.add_argument("--model", default="densenet121-3class")
    parser.add_argument("--readme", action="store_true", help="also write docs/reading-a-film.png")
    args = parser.parse_args(argv)
    os.environ["QT_QPA_PLATFORM"] = args.platform
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    work = Path(tempfile.mkdtemp(prefix="cxr-shots-"))
    os.environ.setdefault("CXR_HOME", str(work / "home"))

    from PyQt5.QtCore import QPointF, Qt
    from PyQt5.QtGui import QMouseEvent
    from PyQt5.QtWidgets import QApplication

    from bench.gui_responsiveness import idle, wait_for
    from cxr_desktop.core.radiograph import load_radiograph
    from cxr_desktop.ui.app import create_application
    from cxr_desktop.ui.main_window import MainWindow
    from cxr_desktop.ui.open_dialog import open_image_dialog
    from cxr_desktop.ui.settings import AppSettings
    from tests.gui.helpers import link_folder, real_images
    from trainer.data import default_data_dir

    out = SHOTS / f"viewer-{args.platform}"
    out.mkdir(parents=True, exist_ok=True)
    cxr3 = default_data_dir()
    films = real_images(cxr3, 24)
    largest = sorted(films, key=lambda path: -load_radiograph(path).pixels.size)
    app = create_application()
    window = MainWindow(AppSettings.at(work / "settings.ini"), model=args.model)
    window.resize(1500, 940)
    window.show()
    wait_for(window.model_ready, 180)

    current = dicom_film(work / "current.dcm", largest[0], study_date="20240311")
    prior = dicom_film(work / "prior.dcm", largest[1], study_date="20230118", WindowCenter=2000, WindowWidth=3600)
    window.open_paths([current])
    wait_for(window.result_displayed, 180)
    window.apply_preset("Lung")
    window.act_ruler.setChecked(True)
    view = window.viewer
    view.add_measurement(QPointF(330, 560), QPointF(960, 560))
    view.add_measurement(QPointF(1230, 300), QPointF(1230, 1500))
    pointer = view.mapFromScene(view.image_item.mapToScene(QPointF(700, 900)))
    QApplication.sendEvent(
        view.viewport(), QMouseEvent(QMouseEvent.MouseMove, QPointF(pointer), Qt.NoButton, Qt.NoButton, Qt.NoModifier)
    )
    idle(0.3)
    shot = window.grab()
    shot.save(str(out / "1-dicom-reading.png"))
    if args.readme:
        save_small(shot.scaledToWidth(900, Qt.SmoothTransformation), README_SHOT)

    browser = window.show_tag_browser()
    browser.search.setText("0028")
    idle(0.2)
    browser.grab().save(str(out / "2-tag-browser.png"))
    browser.close()

    window.act_ruler.setChecked(False)
    compare = window.compare_with(prior)
    compare.resize(1500, 860)
    idle(0.2)
    left = compare.views[0]
    left.set_scale(left.scale_factor * 1.8)
    left.centerOn(left.sceneRect().width() * 0.3, left.sceneRect().height() * 0.4)
    idle(0.3)
    compare.grab().save(str(out / "3-compare.png"))
    compare.close()

    folder = link_folder(work / "clinic-share", films[:8], bad_files=False)
    unusual_images(folder, films[0])
    window.open_paths([folder])
    wait_for(window.batch_completed, 180)
    window.batch.table.selectRow(0)
    window.main_split.setSizes([330, 610])
    idle(0.5)
    window.batch.table.scrollToBottom()
    idle(0.3)
    window.grab().save(str(out / "4-triage-list.png"))
    groups = [window.batch.proxy.index(r, 2).data() for r in range(window.batch.proxy.rowCount())]
    print("triage groups in table order:", " > ".join(dict.fromkeys(groups)))

    damaged = work / "damaged-012.jpg"
    damaged.write_bytes(silently_damaged_jpeg(cxr3))
    window.open_paths([damaged])
    wait_for(window.result_displayed, 180)
    idle(0.3)
    window.grab().save(str(out / "6-damaged-film.png"))

    dialog_folder = work / "pacs-export"
    dialog_folder.mkdir()
    dicom_film(dialog_folder / "IM000001", largest[2])
    dicom_film(dialog_folder / "IM000002", largest[3])
    for index in (9, 10):
        (dialog_folder / films[index].name).write_bytes(films[index].read_bytes())
    (dialog_folder / "DICOMDIR.txt").write_text("index", encoding="utf-8")
    dialog = open_image_dialog(window, str(dialog_folder))
    dialog.resize(900, 520)
    dialog.show()
    idle(1.0)
    dialog.grab().save(str(out / "5-open-dialog.png"))
    dialog.close()

    window.close()
    app.processEvents()
    for name in sorted(out.iterdir()):
        print(f"{name.relative_to(ROOT)}: {name.stat().st_size // 1024} KiB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
