"""Build DICOM files from real radiographs with pydicom, in every flavour the loader must handle.

Encoders: RLE (pydicom), JPEG-LS (pyjpegls), JPEG 2000 (pylibjpeg-openjpeg) through
``Dataset.compress``; JPEG baseline from OpenCV's encoder, encapsulated here; JPEG lossless
(process 14, selection value 1) from the small encoder below, because no installed package writes it.
"""

from __future__ import annotations

import io
from pathlib import Path

import cv2
import numpy as np
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    ComputedRadiographyImageStorage,
    DigitalXRayImageStorageForPresentation,
    ExplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLossless,
    JPEGLosslessSV1,
    generate_uid,
)


def make_dataset(
    stored: np.ndarray,
    *,
    bits_stored: int | None = None,
    photometric: str = "MONOCHROME2",
    modality: str = "DX",
    **attributes,
) -> Dataset:
    """A single-frame greyscale radiograph data set holding ``stored`` as its pixel values.

    ``attributes`` are set as DICOM keywords (e.g. ``WindowCenter=...``, ``RescaleSlope=...``).
    """
    signed = stored.dtype.kind == "i"
    allocated = 8 if stored.dtype.itemsize == 1 else 16
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    sop_class = DigitalXRayImageStorageForPresentation if modality == "DX" else ComputedRadiographyImageStorage
    ds.file_meta.MediaStorageSOPClassUID = sop_class
    ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID
    ds.StudyInstanceUID = generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientID = "TEST-0001"
    ds.PatientName = "Test^Patient"
    ds.PatientSex = "F"
    ds.PatientAge = "054Y"
    ds.StudyDate = "20240101"
    ds.Modality = modality
    ds.ViewPosition = "PA"
    ds.BodyPartExamined = "CHEST"
    ds.Rows, ds.Columns = stored.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = allocated
    ds.BitsStored = bits_stored or allocated
    ds.HighBit = ds.BitsStored - 1
    ds.PixelRepresentation = int(signed)
    ds.PixelData = np.ascontiguousarray(stored.astype(f"{'<i' if signed else '<u'}{allocated // 8}")).tobytes()
    for keyword, value in attributes.items():
        setattr(ds, keyword, value)
    return ds


def to_bytes(ds: Dataset, *, with_file_meta: bool = True) -> bytes:
    buffer = io.BytesIO()
    if with_file_meta:
        ds.save_as(buffer, enforce_file_format=True)
    else:
        raw = Dataset()
        raw.update(ds)
        raw.save_as(buffer, implicit_vr=True, little_endian=True)
    return buffer.getvalue()


def write(ds: Dataset, path: Path, **kwargs) -> Path:
    path.write_bytes(to_bytes(ds, **kwargs))
    return path


def compressed(ds: Dataset, syntax: str, **encoder_options) -> Dataset:
    """A copy of ``ds`` compressed with pydicom's own encoders (RLE, JPEG-LS, JPEG 2000)."""
    copy = pydicom.dcmread(io.BytesIO(to_bytes(ds)))
    copy.compress(syntax, **encoder_options)
    return copy


def jpeg_baseline(ds: Dataset, grey8: np.ndarray, quality: int = 95) -> Dataset:
    """8-bit JPEG baseline pixel data from OpenCV's encoder, encapsulated."""
    ok, encoded = cv2.imencode(".jpg", grey8, [cv2.IMWRITE_JPEG_QUALITY, quality])
    assert ok
    return _encapsulated(ds, encoded.tobytes(), JPEGBaseline8Bit)


def jpeg_lossless(ds: Dataset, stored: np.ndarray, precision: int, sv1: bool = True) -> Dataset:
    """JPEG lossless (process 14) pixel data from ``encode_jpeg_lossless``."""
    return _encapsulated(ds, encode_jpeg_lossless(stored, precision), JPEGLosslessSV1 if sv1 else JPEGLossless)


def _encapsulated(ds: Dataset, frame: bytes, syntax: str) -> Dataset:
    copy = pydicom.dcmread(io.BytesIO(to_bytes(ds)))
    copy.file_meta.TransferSyntaxUID = syntax
    copy.PixelData = encapsulate([frame])
    copy["PixelData"].VR = "OB"
    copy["PixelData"].is_undefined_length = True
    if syntax == JPEGBaseline8Bit:
        copy.LossyImageCompression = "01"
    return copy


def encode_jpeg_lossless(image: np.ndarray, precision: int) -> bytes:
    """A minimal JPEG lossless encoder (ITU T.81 process 14, predictor 1, one Huffman table).

    Every difference category 0..16 gets a 5-bit code, which is valid (no all-ones code) and
    keeps the encoder a few lines long; compression ratio does not matter for tests.
    """
    values = image.astype(np.int64)
    rows, cols = values.shape
    predicted = np.empty_like(values)
    predicted[0, 0] = 1 << (precision - 1)
    predicted[0, 1:] = values[0, :-1]
    predicted[1:, 0] = values[:-1, 0]
    predicted[1:, 1:] = values[1:, :-1]
    diff = (values - predicted) % 65536
    diff = np.where(diff >= 32768, diff - 65536, diff).ravel()
    magnitude = np.abs(diff)
    categories = np.where(magnitude == 0, 0, np.floor(np.log2(np.maximum(magnitude, 1))).astype(np.int64) + 1)
    extra = np.where(diff >= 0, diff, diff + (1 << categories) - 1)
    bits = "".join(
        f"{category:05b}" + (format(int(value), f"0{category}b") if 0 < category < 16 else "")
        for category, value in zip(categories.tolist(), extra.tolist())
    )
    bits += "1" * (-len(bits) % 8)
    scan = int(bits, 2).to_bytes(len(bits) // 8, "big").replace(b"\xff", b"\xff\x00")
    counts = bytes([0, 0, 0, 0, 17] + [0] * 11)
    return b"".join(
        (
            b"\xff\xd8",
            b"\xff\xc3"
            + (11).to_bytes(2, "big")
            + bytes([precision])
            + rows.to_bytes(2, "big")
            + cols.to_bytes(2, "big")
            + bytes([1, 1, 0x11, 0]),
            b"\xff\xc4" + (2 + 1 + 16 + 17).to_bytes(2, "big") + b"\x00" + counts + bytes(range(17)),
            b"\xff\xda" + (8).to_bytes(2, "big") + bytes([1, 1, 0x00, 1, 0, 0]),
            scan,
            b"\xff\xd9",
        )
    )
