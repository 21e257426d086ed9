"""The troublesome-input corpus: every kind of file a shared drive holds, built at test time.

``build_corpus(folder)`` writes the corpus into ``folder`` and returns one ``CorpusItem`` per entry
saying what ``load_radiograph`` must do with it: return a radiograph (``"ok"``) or raise a
``CxrError`` whose reason contains ``reason``. The GUI and CLI tests reuse it: every listed file
must become a row with that status. Sources are the real radiographs in ``resources/samples`` and
pydicom's own shipped test files; nothing is downloaded and nothing large is committed.

Point tools at the corpus folder; do not copy it: it holds a named pipe (a copy would block reading
it) and symbolic-link loops on purpose.
"""

from __future__ import annotations

import io
import os
import zipfile
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from PIL import Image

from tests.core import dicom_factory

ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "resources" / "samples"


@dataclass(frozen=True)
class CorpusItem:
    """One corpus entry. ``listed`` is False for entries a folder walk does not report as files."""

    name: str
    path: Path
    expected: str
    reason: str = ""
    listed: bool = True
    why: str = ""


def sample_radiograph() -> Path:
    return sorted(SAMPLES.glob("*.jpg"))[0]


def pydicom_file(name: str) -> Path:
    """A test file shipped inside the pydicom package (never fetched from the network)."""
    import pydicom

    path = Path(pydicom.__file__).parent / "data" / "test_files" / name
    assert path.is_file(), f"pydicom no longer ships {name}"
    return path


def running_as_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


def encode(array: np.ndarray, ext: str, *params: int) -> bytes:
    """``array`` encoded by OpenCV as ``ext`` (".png", ".jpg", ...), with OpenCV's ``params``."""
    ok, data = cv2.imencode(ext, array, list(params))
    assert ok
    return data.tobytes()


def pillow(image: Image.Image, fmt: str, **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, fmt, **options)
    return buffer.getvalue()


def _huge_png(side: int) -> bytes:
    """A side x side greyscale PNG of zeros (side a multiple of 100), compressed in blocks of rows."""
    import struct
    import zlib

    def chunk(kind: bytes, payload: bytes) -> bytes:
        return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))

    compressor = zlib.compressobj(1)
    block = b"\x00" * (side + 1) * 100
    idat = b"".join(compressor.compress(block) for _ in range(side // 100)) + compressor.flush()
    header = struct.pack(">IIBBBBB", side, side, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _flip(data: bytes, position: int, mask: int = 0x10) -> bytes:
    flipped = bytearray(data)
    flipped[position] ^= mask
    return bytes(flipped)


def build_corpus(folder: Path) -> list[CorpusItem]:
    """Write the corpus into ``folder`` (created if needed) and describe each entry."""
    folder.mkdir(parents=True, exist_ok=True)
    jpeg = sample_radiograph().read_bytes()
    grey = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_UNCHANGED)
    png = encode(grey, ".png")
    items: list[CorpusItem] = []

    def add(name: str, data: bytes | None, expected: str, reason: str = "", **extra) -> Path:
        path = folder / name
        if data is not None:
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_bytes(data)
        items.append(CorpusItem(name, path, expected, reason, **extra))
        return path

    # Ordinary and odd-but-valid raster images.
    add("valid.jpg", jpeg, "ok")
    add("valid.png", png, "ok")
    add("valid.bmp", encode(grey, ".bmp"), "ok")
    add("grey16.png", encode(grey.astype(np.uint16) * 257, ".png"), "ok")
    add("grey16.tif", pillow(Image.fromarray(grey.astype(np.uint16) * 16), "TIFF"), "ok")
    add("rgb.jpg", encode(cv2.cvtColor(grey, cv2.COLOR_GRAY2BGR), ".jpg"), "ok")
    rgba = cv2.cvtColor(grey, cv2.COLOR_GRAY2BGRA)
    rgba[:20, :, 3] = 0
    add("rgba.png", encode(rgba, ".png"), "ok")
    add("cmyk.jpg", pillow(Image.fromarray(grey).convert("CMYK"), "JPEG", quality=95), "ok")
    add("palette.png", pillow(Image.fromarray(grey).convert("P"), "PNG"), "ok")
    add("ünïcødé 胸部 x-ray.jpg", jpeg, "ok")
    add(".hidden.jpg", jpeg, "ok")
    add("no_extension", png, "ok", why="content decides the format, not the name")
    add("png_named.jpg", png, "ok", why="content decides the format, not the name")
    add(
        "bitflip_in_data.jpg",
        _flip(jpeg, len(jpeg) // 2),
        "ok",
        why="damage inside JPEG entropy data decodes to a damaged but valid image; no decoder can tell",
    )

    # Broken, truncated and non-image files.
    add("empty.jpg", b"", "error", "empty")
    add("empty.dcm", b"", "error", "empty")
    add("text_renamed.jpg", b"Patient list\nDoe, John\n" * 20, "error", "not an image file")
    add("html_renamed.png", b"<!DOCTYPE html><html><body>scan</body></html>", "error", "not an image file")
    add("truncated.jpg", jpeg[: len(jpeg) * 3 // 5], "error", "truncated JPEG")
    add("truncated.png", png[: len(png) * 3 // 5], "error", "truncated PNG")
    add("header_only.jpg", jpeg[:200], "error", "truncated JPEG")
    add("bitflip_in_data.png", _flip(png, len(png) // 2), "error", "damaged PNG")
    add("bitflip_in_header.png", _flip(png, png.index(b"IHDR") + 4, 0x01), "error", "damaged PNG")
    sof = jpeg.index(b"\xff\xc0")
    add("bitflip_in_header.jpg", _flip(jpeg, sof + 1, 0x05), "error", "damaged JPEG")
    add("one_pixel.png", encode(np.zeros((1, 1), np.uint8), ".png"), "error", "too small")
    add("huge_12000x12000.png", _huge_png(12000), "error", "too large")
    add("animation.gif", pillow(Image.fromarray(grey), "GIF"), "error", "GIF files are not supported")
    add("image.webp", pillow(Image.fromarray(grey), "WEBP"), "error", "WebP files are not supported")
    add("image.jp2", pillow(Image.fromarray(grey), "JPEG2000"), "error", "JPEG 2000 files are not supported")
    add(
        "drawing.svg",
        b'<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64"/>',
        "error",
        "SVG files are not supported",
    )
    add("report.pdf", pillow(Image.fromarray(grey).convert("RGB"), "PDF"), "error", "PDF files are not supported")
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as bundle:
        bundle.writestr("x.png", png)
    add("archive_renamed.png", archive.getvalue(), "error", "ZIP files are not supported")
    add("random_bytes.dcm", np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes(), "error", "DICOM")

    # File-system oddities.
    add("folder_named_like_image.jpg/inside.jpg", jpeg, "ok")
    items.append(
        CorpusItem(
            "folder_named_like_image.jpg",
            folder / "folder_named_like_image.jpg",
            "error",
            "is a folder",
            listed=False,
            why="a folder walk descends into it instead",
        )
    )
    unreadable = add(
        "unreadable.jpg",
        jpeg,
        "ok" if running_as_root() else "error",
        "" if running_as_root() else "permission denied",
        why="root reads any file, so the chmod cannot block it; permission denial is also "
        "covered by a unit test that simulates it",
    )
    unreadable.chmod(0)
    os.symlink(folder / "does_not_exist.jpg", folder / "broken_link.jpg")
    add("broken_link.jpg", None, "error", "broken link")
    os.symlink(folder / "loop_b.jpg", folder / "loop_a.jpg")
    os.symlink(folder / "loop_a.jpg", folder / "loop_b.jpg")
    add("loop_a.jpg", None, "error", "symbolic link loop")
    add("loop_b.jpg", None, "error", "symbolic link loop")
    os.mkfifo(folder / "named_pipe.jpg")
    add("named_pipe.jpg", None, "error", "not a regular file")

    # DICOM built from a real radiograph, and pydicom's own odd files.
    stored = grey.astype(np.uint16) * 16
    radiograph = dicom_factory.make_dataset(stored, bits_stored=12, WindowCenter=2048, WindowWidth=4096)
    add("dicom/valid_dx.dcm", dicom_factory.to_bytes(radiograph), "ok")
    add("dicom/valid_dx_no_meta.dcm", dicom_factory.to_bytes(radiograph, with_file_meta=False), "ok")
    add(
        "dicom/valid_mono1_jpegls.dcm",
        dicom_factory.to_bytes(
            dicom_factory.compressed(
                dicom_factory.make_dataset(4095 - stored, bits_stored=12, photometric="MONOCHROME1"),
                "1.2.840.10008.1.2.4.80",
            )
        ),
        "ok",
    )
    full = dicom_factory.to_bytes(radiograph)
    add("dicom/truncated_pixels.dcm", full[: len(full) * 2 // 3], "error", "truncated DICOM")
    add("dicom/truncated_header.dcm", full[:400], "error", "no pixel data")
    no_pixels = dicom_factory.make_dataset(stored, bits_stored=12)
    del no_pixels.PixelData
    add("dicom/no_pixel_data.dcm", dicom_factory.to_bytes(no_pixels), "error", "no pixel data")
    frames = dicom_factory.to_bytes(dicom_factory.make_dataset(stored, bits_stored=12, NumberOfFrames=12))
    frames_tag = b"\x28\x00\x08\x00IS\x02\x00"
    add(
        "dicom/bad_value_number_of_frames.dcm",
        frames.replace(frames_tag + b"12", frames_tag + b"1A"),
        "error",
        "NumberOfFrames is not a number",
    )
    name_tag = b"\x10\x00\x10\x00PN"
    add(
        "dicom/bad_vr_patient_name.dcm",
        full.replace(name_tag, name_tag[:4] + b"ZZ"),
        "ok",
        why="an unknown VR on a header element does not touch the image",
    )
    multi = dicom_factory.make_dataset(np.concatenate([stored, stored]), bits_stored=12, modality="CR")
    multi.Rows, multi.NumberOfFrames = stored.shape[0], 2
    add("dicom/multi_frame_cr.dcm", dicom_factory.to_bytes(multi), "error", "multi-frame")
    rgb = dicom_factory.make_dataset(stored, bits_stored=12)
    rgb.SamplesPerPixel, rgb.PhotometricInterpretation, rgb.PlanarConfiguration = 3, "RGB", 0
    rgb.BitsAllocated = rgb.BitsStored = 8
    rgb.HighBit = 7
    rgb.PixelData = np.repeat(grey[..., None], 3, axis=2).tobytes()
    add("dicom/rgb_dx.dcm", dicom_factory.to_bytes(rgb), "error", "photometric interpretation RGB")
    add(
        "dicom/ct.dcm",
        dicom_factory.to_bytes(dicom_factory.make_dataset(stored, modality="CT")),
        "error",
        "modality CT",
    )
    shipped = {
        "test-SR.dcm": "structured report (SR)",
        "rtplan.dcm": "radiotherapy object (RT)",
        "rtdose.dcm": "radiotherapy object (RT)",
        "SC_rgb_rle_2frame.dcm": "multi-frame",
        "SC_rgb_rle.dcm": "photometric interpretation RGB",
        "SC_ybr_full_422_uncompressed.dcm": "photometric interpretation YBR_FULL_422",
        "MR_truncated.dcm": "modality MR",
        "CT_small.dcm": "modality CT",
        "badVR.dcm": "radiotherapy object (RT)",
        "no_meta.dcm": "not a valid DICOM file",
        "waveform_ecg.dcm": "waveform",
        "dicomdirtests/DICOMDIR": "DICOMDIR",
        "JPEGLSNearLossless_08.dcm": "too small",
    }
    for name, reason in shipped.items():
        add(f"dicom/pydicom_{Path(name).name}", pydicom_file(name).read_bytes(), "error", reason)
    return items
