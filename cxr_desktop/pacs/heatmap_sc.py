"""The heat-map as a DICOM Secondary Capture image, marked derived and not for primary diagnosis.

The overlay is the one the viewer and ``screen --heatmaps`` draw (``core.overlay``), with a
caption burnt into the pixels, because a viewer may show the image without any of its header text.
"""

from __future__ import annotations

import cv2
import highdicom as hd
import numpy as np
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from cxr_desktop import __version__
from cxr_desktop.core.bundle import ModelBundle
from cxr_desktop.core.overlay import heatmap_to_image, render_overlay
from cxr_desktop.core.scoring import ScreeningRow
from cxr_desktop.pacs.results_sr import HEATMAP_SERIES_NUMBER, MANUFACTURER

CAPTION = "NOT FOR PRIMARY DIAGNOSIS"


def overlay_pixels(row: ScreeningRow) -> np.ndarray:
    """(H, W, 3) uint8 RGB: the film with the predicted class's heat-map and the caption."""
    if row.radiograph is None:
        raise ValueError(f"{row.path.name}: the row no longer holds its image")
    radiograph = row.radiograph
    heatmap = heatmap_to_image(row.cam(row.prediction), radiograph.width, radiograph.height)
    pixels = np.ascontiguousarray(render_overlay(radiograph.pixels, heatmap))
    scale = max(radiograph.width, 256) / 1000.0
    for colour, thickness in (((0, 0, 0), 4), ((255, 255, 0), 1)):
        cv2.putText(
            pixels,
            f"{CAPTION} - heat-map {row.prediction}",
            (int(8 * scale) + 2, int(30 * scale) + 4),
            cv2.FONT_HERSHEY_SIMPLEX,
            0.8 * scale,
            colour,
            max(1, int(thickness * scale)),
            cv2.LINE_AA,
        )
    return pixels


def build_heatmap_sc(source: Dataset, row: ScreeningRow, bundle: ModelBundle) -> hd.sc.SCImage:
    """The overlay of ``row`` in the study of ``source``, new series, referencing ``source``."""
    image = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source,
        pixel_array=overlay_pixels(row),
        photometric_interpretation="RGB",
        bits_allocated=8,
        coordinate_system="PATIENT",
        series_instance_uid=generate_uid(),
        series_number=HEATMAP_SERIES_NUMBER,
        sop_instance_uid=generate_uid(),
        instance_number=1,
        manufacturer=MANUFACTURER,
        patient_orientation=("L", "F"),
        transfer_syntax_uid=ExplicitVRLittleEndian,
    )
    image.ImageType = ["DERIVED", "SECONDARY"]
    image.BurnedInAnnotation = "YES"
    if "Laterality" not in image:
        image.Laterality = source.get("Laterality", "")
    image.SeriesDescription = "CXR Desktop heat-map, not for primary diagnosis"
    image.DerivationDescription = (
        f"Grad-CAM heat-map of {row.prediction} by {bundle.title} over the source film;"
        " decision support, not for primary diagnosis"
    )[:1024]
    image.ImageComments = f"{CAPTION}. Derived by CXR Desktop {__version__} ({bundle.title})."
    image.SoftwareVersions = __version__
    image.SourceImageSequence = Sequence([_reference(source)])
    return image


def _reference(source: Dataset) -> Dataset:
    item = Dataset()
    item.ReferencedSOPClassUID = source.SOPClassUID
    item.ReferencedSOPInstanceUID = source.SOPInstanceUID
    return item
