"""Synthetic images with burned-in text for the pixel-cleaning tests: a CR-like chest (soft
tissue, two lungs, ribs, detector noise), text drawn with DejaVu (Debian fonts-dejavu-core) or
Pillow's scalable default font, and DICOM datasets around them. Plus an OCR reader that shares
no code with deid.pixels, to check the cleaned output independently, and the planted PHI."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from deid.pixels import Box, boxes_mask
from training.burned_in import read_tokens, readable

TESSERACT = shutil.which("tesseract")
needs_tesseract = pytest.mark.skipif(
    TESSERACT is None, reason="tesseract not installed (apt-get install tesseract-ocr)"
)

_DEJAVU = "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"
CR_STORAGE = "1.2.840.10008.5.1.4.1.1.1"


def font(size: int) -> ImageFont.FreeTypeFont:
    """DejaVu Sans at `size` px, else Pillow's bundled scalable font; skips the test if neither."""
    if os.path.exists(_DEJAVU):
        return ImageFont.truetype(_DEJAVU, size)
    try:
        return ImageFont.load_default(size=size)  # type: ignore[return-value]
    except (TypeError, ImportError, OSError):
        pytest.skip("no scalable font: apt-get install fonts-dejavu-core (or Pillow with FreeType)")


def chest(rows: int, columns: int, bits: int, seed: int) -> np.ndarray:
    """A CR-like image in 0..2**bits-1 that never reaches the extremes of that range."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:rows, 0:columns]
    y = y / rows
    x = x / columns
    body = np.exp(-(((x - 0.5) / 0.38) ** 2 + ((y - 0.55) / 0.45) ** 2))
    img = 0.2 + 0.45 * body
    for cx in (0.33, 0.67):
        img -= 0.18 * np.exp(-(((x - cx) / 0.12) ** 2 + ((y - 0.5) / 0.24) ** 2))
    ribs = (np.sin(y * 55 + np.abs(x - 0.5) * 9) > 0.75) & (np.abs(x - 0.5) > 0.07) & (np.abs(x - 0.5) < 0.34)
    img += 0.05 * ribs * body
    img += rng.normal(0.0, 0.012, img.shape)
    top = (1 << bits) - 1
    return np.clip(np.rint(img * top), 0.03 * top, 0.9 * top).astype(np.int64)


@dataclass(frozen=True)
class Text:
    """A string drawn with its top-left corner at (x, y)."""

    x: int
    y: int
    text: str
    size: int = 14


def text_mask(rows: int, columns: int, texts: Iterable[Text]) -> np.ndarray:
    """Boolean mask of the glyph pixels of `texts` (anti-aliasing thresholded at half)."""
    canvas = Image.new("L", (columns, rows), 0)
    draw = ImageDraw.Draw(canvas)
    for t in texts:
        draw.text((t.x, t.y), t.text, fill=255, font=font(t.size))
    return np.asarray(canvas) > 127


def burn(values: np.ndarray, texts: Sequence[Text], value: int) -> tuple[np.ndarray, np.ndarray]:
    """`values` with the glyphs of `texts` set to `value`; returns (image, glyph mask)."""
    mask = text_mask(values.shape[0], values.shape[1], texts)
    out = values.copy()
    out[mask] = value
    return out, mask


def dataset(
    values: np.ndarray,
    *,
    bits_stored: int,
    bits_allocated: int = 16,
    photometric: str = "MONOCHROME2",
    signed: bool = False,
    burned_in: str | None = "YES",
    syntax: str = ExplicitVRLittleEndian,
    window: tuple[float, float] | None = None,
    words: np.ndarray | None = None,
) -> Dataset:
    """A CR image dataset holding `values` (frames, rows, columns) or (rows, columns) in native
    little-endian form; `words` overrides the stored words (to plant bits above Bits Stored)."""
    frames = values if values.ndim == 3 else values[np.newaxis]
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = syntax
    ds.file_meta.MediaStorageSOPClassUID = CR_STORAGE
    ds.SOPClassUID = CR_STORAGE
    ds.SOPInstanceUID = generate_uid(prefix=None, entropy_srcs=["pixel-test", str(frames.shape)])
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.PatientName = "DOE^JOHN"
    ds.PatientID = "12345678"
    ds.Modality = "CR"
    ds.Manufacturer = "ACME Medical"
    ds.Rows, ds.Columns = frames.shape[1], frames.shape[2]
    if values.ndim == 3:
        ds.NumberOfFrames = frames.shape[0]
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated = bits_allocated
    ds.BitsStored = bits_stored
    ds.HighBit = bits_stored - 1
    ds.PixelRepresentation = 1 if signed else 0
    if burned_in is not None:
        ds.BurnedInAnnotation = burned_in
    if window is not None:
        ds.WindowCenter, ds.WindowWidth = window
    if words is None:
        dtype = np.dtype(f"<{'i' if signed else 'u'}{bits_allocated // 8}")
        words = frames.astype(dtype)
    ds.PixelData = words.tobytes()
    ds["PixelData"].VR = "OW" if bits_allocated > 8 else "OB"
    return ds


def stored_values(ds: Dataset) -> np.ndarray:
    """(frames, rows, columns) stored values decoded by pydicom (a second, independent decoder)."""
    arr = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return arr.reshape(frames, int(ds.Rows), int(ds.Columns)).astype(np.int64)


# The independent reader (shares no code with the cleaner under test) is the burned-in corpus's.
ocr_words = read_tokens
leaked = readable


PHI_TOKENS = ["DOE^JOHN", "JOHN", "12345678", "01/02/1960", "1960", "MARY", "HOSP"]
CORNER_TEXT = [
    Text(8, 8, "DOE^JOHN 12345678"),
    Text(8, 28, "01/02/1960"),
    Text(330, 486, "ST MARY HOSP"),
]


def assert_outside_identical(before: np.ndarray, result_ds: Dataset, boxes: tuple[Box, ...]) -> np.ndarray:
    """Asserts that every stored value outside `boxes` equals `before` (frames, rows, columns);
    returns the stored values after cleaning."""
    after = stored_values(result_ds)
    inside = boxes_mask(boxes, *before.shape)
    assert after.shape == before.shape
    assert np.array_equal(after[~inside], before[~inside]), "a pixel outside the boxes changed"
    return after
