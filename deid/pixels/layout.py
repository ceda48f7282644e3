"""The Image Pixel module's layout and the stored pixel words of native Pixel Data.

Contract:

* `Layout.of(ds)` accepts MONOCHROME1, MONOCHROME2, RGB and YBR_FULL with 8, 16 or 32 Bits Allocated,
  High Bit = Bits Stored - 1 and a non-empty matrix; anything else raises `UnsafeToClean`.
* `read_words` returns the stored words as a writable copy (the input bytes are never modified),
  a (frames, rows, columns, samples) view on that copy for either Planar Configuration, and the bytes
  after the pixel words (padding), which the caller writes back unchanged. Writing through the view
  and saving ``flat.tobytes() + tail`` changes nothing but the words written.
* `stored_values` gives the pixel values of words (the low Bits Stored bits, sign-extended when
  signed); `canonical_words` the words with the unused high bits in canonical form (zero, or the sign
  extension), which leaves every stored value unchanged (PS3.5 8.1.1).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from deid.pixels.errors import UnsafeToClean

_SUPPORTED_PHOTOMETRIC = frozenset({"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL"})


@dataclass(frozen=True)
class Layout:
    """How the stored words of one instance are arranged (the Image Pixel module, validated)."""

    rows: int
    columns: int
    frames: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric: str
    planar: int
    big_endian: bool = False

    @classmethod
    def of(cls, ds: Dataset, big_endian: bool = False) -> Layout:
        try:
            layout = cls(
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                frames=int(ds.get("NumberOfFrames", 1) or 1),
                samples=int(ds.get("SamplesPerPixel", 1) or 1),
                bits_allocated=int(ds.BitsAllocated),
                bits_stored=int(ds.get("BitsStored", ds.BitsAllocated)),
                signed=int(ds.get("PixelRepresentation", 0) or 0) == 1,
                photometric=str(ds.PhotometricInterpretation).strip().upper(),
                planar=int(ds.get("PlanarConfiguration", 0) or 0),
                big_endian=big_endian,
            )
            high_bit = int(ds.get("HighBit", layout.bits_stored - 1))
        except (AttributeError, TypeError, ValueError) as exc:
            raise UnsafeToClean(f"Image Pixel module incomplete or malformed ({type(exc).__name__})") from None
        if layout.photometric not in _SUPPORTED_PHOTOMETRIC:
            raise UnsafeToClean(f"Photometric Interpretation {layout.photometric} is not supported")
        if layout.samples != (1 if layout.photometric.startswith("MONOCHROME") else 3):
            raise UnsafeToClean(f"Samples per Pixel {layout.samples} does not fit {layout.photometric}")
        if layout.bits_allocated not in (8, 16, 32):
            raise UnsafeToClean(f"Bits Allocated {layout.bits_allocated} is not supported")
        if not 1 <= layout.bits_stored <= layout.bits_allocated or high_bit != layout.bits_stored - 1:
            raise UnsafeToClean("Bits Stored / High Bit layout is not supported")
        if layout.rows < 1 or layout.columns < 1 or layout.frames < 1:
            raise UnsafeToClean("empty pixel matrix")
        return layout

    @property
    def frame_words(self) -> int:
        return self.rows * self.columns * self.samples


def read_words(pixel_bytes: bytes, layout: Layout) -> tuple[np.ndarray, np.ndarray, bytes]:
    """The stored words as a writable flat array, a (frames, rows, columns, samples) view on it
    and the bytes after the pixel words (padding), which are kept as they are."""
    itemsize = layout.bits_allocated // 8
    dtype = np.dtype(f"{'>' if layout.big_endian else '<'}u{itemsize}")
    count = layout.frames * layout.frame_words
    if len(pixel_bytes) < count * itemsize:
        raise UnsafeToClean("Pixel Data is shorter than the Image Pixel module declares")
    flat = np.frombuffer(pixel_bytes, dtype=dtype, count=count).copy()
    if layout.samples > 1 and layout.planar == 1:
        view = np.moveaxis(flat.reshape(layout.frames, layout.samples, layout.rows, layout.columns), 1, -1)
    else:
        view = flat.reshape(layout.frames, layout.rows, layout.columns, layout.samples)
    return flat, view, pixel_bytes[count * itemsize :]


def stored_values(words: np.ndarray, layout: Layout) -> np.ndarray:
    """Pixel values (int64) of stored words: the low Bits Stored bits, sign-extended if signed."""
    values = words.astype(np.int64) & ((1 << layout.bits_stored) - 1)
    if layout.signed:
        sign = 1 << (layout.bits_stored - 1)
        values = (values ^ sign) - sign
    return values


def canonical_words(words: np.ndarray, layout: Layout) -> np.ndarray:
    """Words whose unused bits are zero (unsigned) or the sign extension (signed)."""
    values = stored_values(words, layout)
    return (values & ((1 << layout.bits_allocated) - 1)).astype(words.dtype)


__all__ = ["Layout", "canonical_words", "read_words", "stored_values"]
