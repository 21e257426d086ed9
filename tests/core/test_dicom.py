"""DICOM loading: real radiographs written as DICOM in every flavour, and pydicom's odd files.

The expected display values are computed here from the DICOM standard's formulas (PS3.3 C.11.2.1.2
for LINEAR windows, C.11.2.1.3.1 for SIGMOID), not by calling pydicom, so the loader's use of
pydicom's pipeline is checked against an independent oracle.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import cv2
import numpy as np
import pydicom
import pytest
from pydicom import uid
from pydicom.dataset import Dataset

from cxr_desktop.core.errors import CxrError, ImageReadError, UnsupportedImageError
from cxr_desktop.core.radiograph import load_radiograph
from tests.core import dicom_factory as factory
from tests.core.corpus import pydicom_file
from tests.core.test_loading import pick_radiographs


def window(x: np.ndarray, centre: float, width: float) -> np.ndarray:
    """PS3.3 C.11.2.1.2.1 LINEAR window onto [0, 1]."""
    x = np.asarray(x, dtype=np.float64)
    out = (x - (centre - 0.5)) / (width - 1) + 0.5
    out[x <= centre - 0.5 - (width - 1) / 2] = 0.0
    out[x > centre - 0.5 + (width - 1) / 2] = 1.0
    return out


def stretch(values: np.ndarray) -> np.ndarray:
    values = values.astype(np.float64)
    return (values - values.min()) / (values.max() - values.min())


def sqrt_lut(entries: int, top: int) -> list[int]:
    return [int(round(top * (i / (entries - 1)) ** 0.5)) for i in range(entries)]


def voi_lut_item(descriptor_bits: int, data: list[int]) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = [len(data), 0, descriptor_bits]
    item.LUTData = data
    item["LUTData"].VR = "US"
    return item


@pytest.fixture(scope="module")
def grey(cxr3) -> np.ndarray:
    """A real radiograph, 8-bit."""
    return cv2.imread(str(pick_radiographs(cxr3)[0]), cv2.IMREAD_UNCHANGED)


@dataclass(frozen=True)
class Flavour:
    """How to store the radiograph in DICOM and what the display must then show."""

    name: str
    build: Callable[[np.ndarray], Dataset]
    expected: Callable[[np.ndarray], np.ndarray]
    note: str = ""


def twelve(g: np.ndarray) -> np.ndarray:
    return g.astype(np.uint16) * 16


def rescaled_dataset(g: np.ndarray, **attributes: object) -> Dataset:
    """The 12-bit film with Rescale Slope 2 and Intercept -1024, so that its windows apply to
    ``rescaled(g)``: the flavours that build on it differ only in ``attributes``."""
    return factory.make_dataset(twelve(g), bits_stored=12, RescaleSlope=2, RescaleIntercept=-1024, **attributes)


def rescaled(g: np.ndarray) -> np.ndarray:
    """PS3.3 C.11.1.1.2: the modality values of ``rescaled_dataset(g)``, what its window sees."""
    return twelve(g) * 2.0 - 1024


LUT8 = sqrt_lut(4096, 255)
LUT12_IN_16 = list(range(4096))

FLAVOURS = [
    Flavour("mono2-8bit-no-window", lambda g: factory.make_dataset(g), lambda g: stretch(g), "full stored range"),
    Flavour(
        "mono2-12bit-full-window",
        lambda g: factory.make_dataset(twelve(g), bits_stored=12, WindowCenter=2048, WindowWidth=4096),
        lambda g: window(twelve(g), 2048, 4096),
        "window centre/width",
    ),
    Flavour(
        "mono2-12bit-rescale-narrow-window",
        lambda g: rescaled_dataset(g, RescaleType="US", WindowCenter=3000, WindowWidth=4000),
        lambda g: window(rescaled(g), 3000, 4000),
        "window centre/width",
    ),
    Flavour(
        "several-windows-first-used",
        lambda g: rescaled_dataset(g, WindowCenter=[3000, 2048], WindowWidth=[4000, 9000]),
        lambda g: window(rescaled(g), 3000, 4000),
        "first of several",
    ),
    Flavour(
        "voi-lut-sequence-8bit-output",
        lambda g: factory.make_dataset(twelve(g), bits_stored=12, VOILUTSequence=[voi_lut_item(8, LUT8)]),
        lambda g: np.asarray(LUT8, dtype=np.float64)[twelve(g)] / 255,
        "VOI LUT Sequence",
    ),
    Flavour(
        "voi-lut-12bit-data-in-16bit-descriptor",
        lambda g: factory.make_dataset(twelve(g), bits_stored=12, VOILUTSequence=[voi_lut_item(16, LUT12_IN_16)]),
        lambda g: twelve(g) / 4095,
        "VOI LUT Sequence",
    ),
    Flavour(
        "voi-lut-preferred-over-window",
        lambda g: factory.make_dataset(
            twelve(g), bits_stored=12, VOILUTSequence=[voi_lut_item(8, LUT8)], WindowCenter=100, WindowWidth=50
        ),
        lambda g: np.asarray(LUT8, dtype=np.float64)[twelve(g)] / 255,
        "VOI LUT Sequence",
    ),
    Flavour(
        "sigmoid-window",
        lambda g: factory.make_dataset(
            twelve(g), bits_stored=12, WindowCenter=2048, WindowWidth=2000, VOILUTFunction="SIGMOID"
        ),
        lambda g: 1 / (1 + np.exp(-4 * (twelve(g) - 2048.0) / 2000)),
        "window centre/width",
    ),
    Flavour(
        "monochrome1-12bit-window",
        lambda g: factory.make_dataset(
            4095 - twelve(g), bits_stored=12, photometric="MONOCHROME1", WindowCenter=2048, WindowWidth=4096
        ),
        lambda g: 1 - window(4095 - twelve(g), 2048, 4096),
        "inverted for display (MONOCHROME1)",
    ),
    Flavour(
        "monochrome1-8bit-no-window",
        lambda g: factory.make_dataset(255 - g, photometric="MONOCHROME1"),
        lambda g: stretch(g),
        "inverted for display (MONOCHROME1)",
    ),
    Flavour(
        "presentation-lut-inverse",
        lambda g: factory.make_dataset(255 - g, PresentationLUTShape="INVERSE"),
        lambda g: stretch(g),
        "Presentation LUT Shape INVERSE",
    ),
    Flavour(
        "monochrome1-with-inverse-is-one-inversion",
        lambda g: factory.make_dataset(255 - g, photometric="MONOCHROME1", PresentationLUTShape="INVERSE"),
        lambda g: stretch(g),
        "inverted for display",
    ),
    Flavour(
        "signed-16bit-window",
        lambda g: factory.make_dataset(
            (twelve(g).astype(np.int16) - 2048), bits_stored=16, WindowCenter=0, WindowWidth=4096
        ),
        lambda g: window(twelve(g).astype(np.float64) - 2048, 0, 4096),
        "window centre/width",
    ),
    Flavour(
        "invalid-window-width-falls-back",
        lambda g: factory.make_dataset(twelve(g), bits_stored=12, WindowCenter=2048, WindowWidth=0),
        lambda g: stretch(g),
        "VOI transform in the header is invalid",
    ),
    Flavour(
        "computed-radiography",
        lambda g: factory.make_dataset(twelve(g), bits_stored=12, modality="CR"),
        lambda g: stretch(g),
        "full stored range",
    ),
]


def load_dataset(ds: Dataset, folder: Path, name: str = "image.dcm", **write_options):
    path = factory.write(ds, folder / name, **write_options)
    return load_radiograph(path)


@pytest.mark.parametrize("flavour", FLAVOURS, ids=[f.name for f in FLAVOURS])
def test_dicom_flavour_renders_the_source_radiograph(flavour: Flavour, grey, tmp_path):
    radiograph = load_dataset(flavour.build(grey), tmp_path)
    expected = flavour.expected(grey)
    assert radiograph.pixels.dtype == np.float32 and radiograph.pixels.shape == grey.shape
    np.testing.assert_allclose(radiograph.pixels, expected, atol=1e-5)
    assert any(flavour.note in note for note in radiograph.notes), radiograph.notes
    assert radiograph.source_format == "DICOM"


# (transfer syntax, how to compress, max abs error, mean abs error) against the uncompressed result.
LOSSLESS = 1e-6
COMPRESSIONS = [
    ("rle", lambda ds, s: factory.compressed(ds, uid.RLELossless), LOSSLESS, LOSSLESS),
    ("jpeg-ls-lossless", lambda ds, s: factory.compressed(ds, uid.JPEGLSLossless), LOSSLESS, LOSSLESS),
    (
        "jpeg-ls-near-lossless",
        lambda ds, s: factory.compressed(ds, uid.JPEGLSNearLossless, jls_error=2),
        2 / 4095 + 1e-6,
        2 / 4095,
    ),
    ("jpeg-2000-lossless", lambda ds, s: factory.compressed(ds, uid.JPEG2000Lossless), LOSSLESS, LOSSLESS),
    ("jpeg-2000-lossy", lambda ds, s: factory.compressed(ds, uid.JPEG2000, j2k_cr=[10]), 0.05, 0.005),
    ("jpeg-lossless-sv1", lambda ds, s: factory.jpeg_lossless(ds, s, 12), LOSSLESS, LOSSLESS),
    ("jpeg-lossless-process-14", lambda ds, s: factory.jpeg_lossless(ds, s, 12, sv1=False), LOSSLESS, LOSSLESS),
]


@pytest.mark.parametrize(
    ("name", "compress", "max_error", "mean_error"), COMPRESSIONS, ids=[c[0] for c in COMPRESSIONS]
)
def test_compressed_syntax_decodes_to_the_same_display(name, compress, max_error, mean_error, grey, tmp_path):
    stored = twelve(grey)
    plain = factory.make_dataset(stored, bits_stored=12, WindowCenter=2048, WindowWidth=4096)
    reference = load_dataset(plain, tmp_path, "plain.dcm").pixels
    packed = compress(plain, stored)
    radiograph = load_dataset(packed, tmp_path, f"{name}.dcm")
    error = np.abs(radiograph.pixels.astype(np.float64) - reference)
    assert float(error.max()) <= max_error and float(error.mean()) <= mean_error, (error.max(), error.mean())
    assert radiograph.dicom.transfer_syntax == packed.file_meta.TransferSyntaxUID


def test_jpeg_baseline_decodes_within_jpeg_loss(grey, tmp_path):
    plain = factory.make_dataset(grey)
    reference = load_dataset(plain, tmp_path, "plain.dcm").pixels
    radiograph = load_dataset(factory.jpeg_baseline(plain, grey, quality=95), tmp_path, "baseline.dcm")
    error = np.abs(radiograph.pixels.astype(np.float64) - reference)
    assert float(error.max()) <= 16 / 255 and float(error.mean()) <= 1.5 / 255
    assert radiograph.dicom.transfer_syntax == uid.JPEGBaseline8Bit


def test_deflated_and_file_header_free_dicom_read_the_same(grey, tmp_path):
    plain = factory.make_dataset(twelve(grey), bits_stored=12, WindowCenter=2048, WindowWidth=4096)
    reference = load_dataset(plain, tmp_path, "plain.dcm").pixels
    deflated = pydicom.dcmread(io.BytesIO(factory.to_bytes(plain)))
    deflated.file_meta.TransferSyntaxUID = uid.DeflatedExplicitVRLittleEndian
    assert np.array_equal(load_dataset(deflated, tmp_path, "deflated.dcm").pixels, reference)
    for name in ("raw.dcm", "IM000001"):
        raw = load_dataset(plain, tmp_path, name, with_file_meta=False)
        assert np.array_equal(raw.pixels, reference)
        assert any("no DICOM file header" in note for note in raw.notes)


def test_dicom_metadata_is_reported(grey, tmp_path):
    ds = factory.make_dataset(twelve(grey), bits_stored=12, WindowCenter=2048, WindowWidth=4096)
    radiograph = load_dataset(ds, tmp_path, "named_like_a.jpg")
    info = radiograph.dicom
    assert (info.patient_id, info.patient_sex, info.patient_age, info.study_date) == (
        "TEST-0001",
        "F",
        "054Y",
        "20240101",
    )
    assert (info.study_uid, info.series_uid, info.sop_instance_uid) == (
        ds.StudyInstanceUID,
        ds.SeriesInstanceUID,
        ds.SOPInstanceUID,
    )
    assert (info.modality, info.view_position, info.body_part) == ("DX", "PA", "CHEST")
    assert info.photometric_interpretation == "MONOCHROME2"
    assert radiograph.bit_depth == 12 and radiograph.original_size == (grey.shape[1], grey.shape[0])
    assert radiograph.warnings == ()


@pytest.mark.parametrize(
    ("attributes", "warning"),
    [
        ({"ViewPosition": "LL"}, "LL view"),
        ({"BodyPartExamined": "SKULL"}, "body part SKULL"),
        ({"Modality": "OT"}, "modality OT"),
        ({"Modality": ""}, "modality missing"),
        ({"PresentationIntentType": "FOR PROCESSING"}, "For Processing"),
    ],
    ids=["lateral", "not-chest", "secondary-capture", "no-modality", "for-processing"],
)
def test_doubtful_radiographs_are_read_with_a_warning(attributes, warning, grey, tmp_path):
    ds = factory.make_dataset(grey)
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    radiograph = load_dataset(ds, tmp_path)
    assert any(warning in text for text in radiograph.warnings), radiograph.warnings


def _refusal(grey: np.ndarray, change: Callable[[Dataset], None]) -> Dataset:
    ds = factory.make_dataset(twelve(grey), bits_stored=12)
    change(ds)
    return ds


def _set(**attributes) -> Callable[[Dataset], None]:
    return lambda ds: [setattr(ds, keyword, value) for keyword, value in attributes.items()]


REFUSALS = [
    ("ct", _set(Modality="CT"), UnsupportedImageError, "modality CT is not a projection radiograph"),
    ("mammography", _set(Modality="MG"), UnsupportedImageError, "modality MG"),
    ("ultrasound", _set(Modality="US"), UnsupportedImageError, "modality US"),
    ("multi-frame", _set(NumberOfFrames=3), UnsupportedImageError, "multi-frame DICOM (3 frames)"),
    (
        "ybr-full",
        _set(PhotometricInterpretation="YBR_FULL"),
        UnsupportedImageError,
        "unsupported photometric interpretation YBR_FULL",
    ),
    ("palette", _set(PhotometricInterpretation="PALETTE COLOR"), UnsupportedImageError, "PALETTE COLOR"),
    (
        "structured-report",
        _set(SOPClassUID="1.2.840.10008.5.1.4.1.1.88.22"),
        UnsupportedImageError,
        "structured report (SR)",
    ),
    ("rt-image", _set(SOPClassUID="1.2.840.10008.5.1.4.1.1.481.1"), UnsupportedImageError, "radiotherapy"),
    ("no-pixel-data", lambda ds: delattr(ds, "PixelData"), UnsupportedImageError, "DICOM has no pixel data"),
    ("missing-rows", lambda ds: delattr(ds, "Rows"), ImageReadError, "header is incomplete (missing Rows)"),
    ("claims-huge-size", _set(Rows=20000, Columns=20000), UnsupportedImageError, "image too large"),
    (
        "tiny",
        lambda ds: [setattr(ds, "Rows", 16), setattr(ds, "Columns", 16), setattr(ds, "PixelData", bytes(512))],
        UnsupportedImageError,
        "image too small (16 x 16",
    ),
    ("pixel-data-shorter-than-header", _set(Rows=4000), ImageReadError, "truncated DICOM"),
    ("pixel-data-longer-than-header", _set(Rows=100), ImageReadError, ""),
]


@pytest.mark.parametrize(("name", "change", "error", "reason"), REFUSALS, ids=[r[0] for r in REFUSALS])
def test_what_is_not_a_single_greyscale_radiograph_is_refused(name, change, error, reason, grey, tmp_path):
    ds = _refusal(grey, change)
    with pytest.raises(error) as caught:
        load_dataset(ds, tmp_path, f"{name}.dcm")
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("keyword", "tag", "good", "bad", "reason"),
    [
        ("RescaleSlope", b"\x28\x00\x53\x10DS\x02\x00", b"2 ", b"x ", "invalid rescale"),
        ("WindowWidth", b"\x28\x00\x51\x10DS\x04\x00", b"4096", b"wide", "VOI transform in the header is invalid"),
        ("BitsStored", b"\x28\x00\x01\x01US\x02\x00", b"\x0c\x00", b"\x00\x00", ""),
        ("Rows", b"\x28\x00\x10\x00US\x02\x00", None, b"\x00\x00", "too small"),
    ],
)
def test_invalid_header_values_are_typed_errors_or_safe_fallbacks(keyword, tag, good, bad, reason, grey, tmp_path):
    """Values pydicom will not even store are written byte by byte into a valid file."""
    ds = factory.make_dataset(
        twelve(grey), bits_stored=12, RescaleSlope="2", RescaleIntercept="0", WindowCenter="2048", WindowWidth="4096"
    )
    data = factory.to_bytes(ds)
    if good is None:
        start = data.index(tag) + len(tag)
        good = data[start : start + len(bad)]
    assert data.count(tag + good) == 1, keyword
    path = tmp_path / f"bad_{keyword}.dcm"
    path.write_bytes(data.replace(tag + good, tag + bad))
    try:
        radiograph = load_radiograph(path)
    except CxrError as error:
        assert reason in error.reason
    else:
        assert np.isfinite(radiograph.pixels).all()
        assert any(reason in note for note in radiograph.notes), radiograph.notes


def test_truncated_dicom_is_reported(grey, tmp_path):
    data = factory.to_bytes(factory.make_dataset(twelve(grey), bits_stored=12))
    pixel_start = data.index(b"\xe0\x7f\x10\x00")
    for cut, reason in (
        (len(data) // 2, "truncated DICOM"),
        (len(data) - 1, "truncated DICOM"),
        (pixel_start, "no pixel data"),
        (300, "not a valid DICOM file"),
        (100, ""),
    ):
        path = tmp_path / f"cut{cut}.dcm"
        path.write_bytes(data[:cut])
        with pytest.raises(CxrError) as caught:
            load_radiograph(path)
        assert reason in caught.value.reason


# pydicom's shipped test files: the reason each must be refused with. Compressed ones among them
# also prove the decoder plugin for their syntax works (see the next test).
SHIPPED = {
    "CT_small.dcm": "modality CT",
    "MR_small.dcm": "modality MR",
    "MR_small_RLE.dcm": "modality MR",
    "MR_small_jp2klossless.dcm": "modality MR",
    "MR_small_jpeg_ls_lossless.dcm": "modality MR",
    "MR_small_bigendian.dcm": "modality MR",
    "MR_truncated.dcm": "modality MR",
    "693_J2KI.dcm": "modality CT",
    "JPEG2000.dcm": "modality NM",
    "JPGExtended.dcm": "modality NM",
    "JPEG-lossy.dcm": "modality NM",
    "examples_ybr_color.dcm": "modality US",
    "examples_palette.dcm": "modality US",
    "ExplVR_BigEnd.dcm": "modality US",
    "liver_1frame.dcm": "segmentation",
    "SC_rgb_jpeg_gdcm.dcm": "photometric interpretation RGB",
    "SC_rgb_rle_2frame.dcm": "multi-frame",
    "SC_ybr_full_422_uncompressed.dcm": "YBR_FULL_422",
    "GDCMJ2K_TextGBR.dcm": "YBR_RCT",
    "JPEGLSNearLossless_16.dcm": "too small",
    "test-SR.dcm": "structured report (SR)",
    "reportsi.dcm": "structured report (SR)",
    "rtplan.dcm": "radiotherapy object (RT)",
    "rtstruct.dcm": "radiotherapy object (RT)",
    "rtdose_1frame.dcm": "radiotherapy object (RT)",
    "rtplan_truncated.dcm": "radiotherapy object (RT)",
    "badVR.dcm": "radiotherapy object (RT)",
    "ExplVR_LitEndNoMeta.dcm": "radiotherapy object (RT)",
    "waveform_ecg.dcm": "waveform",
    "no_meta.dcm": "not a valid DICOM file",
    "meta_missing_tsyntax.dcm": "header is incomplete",
    "UN_sequence.dcm": "not a valid DICOM file",
    "empty_charset_LEI.dcm": "no pixel data",
    "dicomdirtests/DICOMDIR": "DICOMDIR",
    "dicomdirtests/DICOMDIR-empty.dcm": "DICOMDIR",
    "dicomdirtests/77654033/CR1/6154": "too small",
    "dicomdirtests/TINY_ALPHA/README": "not a valid DICOM file",
}


@pytest.mark.parametrize(("name", "reason"), SHIPPED.items(), ids=list(SHIPPED))
def test_pydicom_test_file_is_refused_with_its_reason(name, reason):
    with pytest.raises(CxrError) as caught:
        load_radiograph(pydicom_file(name))
    assert reason in caught.value.reason


@pytest.mark.parametrize(
    ("name", "syntax"),
    [
        ("MR_small_RLE.dcm", uid.RLELossless),
        ("MR_small_jp2klossless.dcm", uid.JPEG2000Lossless),
        ("693_J2KI.dcm", uid.JPEG2000),
        ("MR_small_jpeg_ls_lossless.dcm", uid.JPEGLSLossless),
        ("JPEGLSNearLossless_16.dcm", uid.JPEGLSNearLossless),
        ("JPGExtended.dcm", uid.JPEGExtended12Bit),
        ("SC_rgb_jpeg_gdcm.dcm", uid.JPEGLosslessSV1),
        ("SC_rgb_dcmtk_+eb+cy+n1.dcm", uid.JPEGBaseline8Bit),
    ],
)
def test_installed_decoders_handle_the_shipped_compressed_files(name, syntax):
    ds = pydicom.dcmread(pydicom_file(name))
    assert ds.file_meta.TransferSyntaxUID == syntax
    pixels = ds.pixel_array
    assert pixels.shape[:2] == (ds.Rows, ds.Columns) and pixels.size > 0


def test_jpeg_extended_12bit_radiograph_is_read(tmp_path):
    """JPGExtended.dcm is an NM image; relabelled as DX it must pass through the whole pipeline."""
    ds = pydicom.dcmread(pydicom_file("JPGExtended.dcm"))
    ds.Modality = "DX"
    del ds.NumberOfFrames
    path = tmp_path / "jpeg_extended_dx.dcm"
    ds.save_as(path)
    radiograph = load_radiograph(path)
    np.testing.assert_allclose(radiograph.pixels, stretch(pydicom.dcmread(path).pixel_array), atol=1e-6)
    assert radiograph.bit_depth == 12


def test_undecodable_compressed_data_is_a_typed_error(tmp_path):
    """JPEG-lossy.dcm's scan header defeats every installed decoder: it must say so, not crash."""
    ds = pydicom.dcmread(pydicom_file("JPEG-lossy.dcm"))
    ds.Modality = "DX"
    path = tmp_path / "jpeg_lossy_dx.dcm"
    ds.save_as(path)
    with pytest.raises(ImageReadError, match="pixel data cannot be decoded"):
        load_radiograph(path)


def test_every_compressed_syntax_the_issue_names_has_a_decoder():
    from pydicom.pixels import get_decoder

    for syntax in (
        uid.JPEGBaseline8Bit,
        uid.JPEGExtended12Bit,
        uid.JPEGLossless,
        uid.JPEGLosslessSV1,
        uid.JPEG2000Lossless,
        uid.JPEG2000,
        uid.JPEGLSLossless,
        uid.JPEGLSNearLossless,
        uid.RLELossless,
    ):
        assert get_decoder(syntax).is_available, syntax.name
