"""Stored pixel words (deid.pixels.layout): values are the low Bits Stored bits, sign-extended when
signed; canonical words clear the unused bits without changing a value; both planar configurations give
the same (frames, rows, columns, samples) view; the padding after the words is kept."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset

from deid.pixels import UnsafeToClean
from deid.pixels.layout import Layout, canonical_words, read_words, stored_values


def _layout(bits_stored: int, signed: bool, bits_allocated: int = 16, **kw: object) -> Layout:
    fields: dict = dict(
        rows=1, columns=1, frames=1, samples=1, bits_allocated=bits_allocated, photometric="MONOCHROME2", planar=0
    )
    fields.update(kw)
    return Layout(bits_stored=bits_stored, signed=signed, **fields)


@pytest.mark.parametrize(
    ("bits_stored", "signed", "word", "value", "canonical"),
    [
        (12, False, 0xF123, 0x123, 0x0123),  # an overlay bit above Bits Stored
        (12, False, 0x0FFF, 4095, 0x0FFF),
        (12, True, 0x0800, -2048, 0xF800),  # sign-extended
        (12, True, 0xF7FF, 2047, 0x07FF),
        (12, True, 0x0FFF, -1, 0xFFFF),
        (16, True, 0xFFFF, -1, 0xFFFF),
        (16, False, 0xFFFF, 65535, 0xFFFF),
    ],
)
def test_stored_values_and_canonical_words(
    bits_stored: int, signed: bool, word: int, value: int, canonical: int
) -> None:
    layout = _layout(bits_stored, signed)
    words = np.array([word], dtype="<u2")
    assert int(stored_values(words, layout)[0]) == value
    clean = canonical_words(words, layout)
    assert int(clean[0]) == canonical and clean.dtype == words.dtype
    assert int(stored_values(clean, layout)[0]) == value, "canonical words keep the stored value"


@pytest.mark.parametrize("planar", [0, 1])
def test_both_planar_configurations_give_the_same_view_and_keep_the_padding(planar: int) -> None:
    rgb = np.arange(2 * 3 * 4 * 3, dtype=np.uint8).reshape(2, 3, 4, 3)
    stored = np.moveaxis(rgb, -1, 1) if planar else rgb
    layout = _layout(8, False, 8, rows=3, columns=4, frames=2, samples=3, photometric="RGB", planar=planar)
    flat, view, tail = read_words(stored.tobytes() + b"\x00", layout)
    assert np.array_equal(view, rgb) and tail == b"\x00"
    view[1, 2, 3] = 0  # writes go to the flat copy, in the stored order
    assert np.count_nonzero(flat != np.ascontiguousarray(stored).ravel()) == 3


def test_big_endian_words() -> None:
    layout = _layout(16, False, rows=1, columns=2, big_endian=True)
    _, view, _ = read_words(bytes([0x12, 0x34, 0xAB, 0xCD]), layout)
    assert view.ravel().tolist() == [0x1234, 0xABCD]


def _image(**attrs: object) -> Dataset:
    ds = Dataset()
    ds.Rows, ds.Columns, ds.SamplesPerPixel, ds.PhotometricInterpretation = 4, 4, 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 12, 11, 0
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    return ds


@pytest.mark.parametrize(
    "attrs",
    [
        {"SamplesPerPixel": 3},
        {"PhotometricInterpretation": "RGB"},
        {"PhotometricInterpretation": "YBR_FULL_422", "SamplesPerPixel": 3},
        {"BitsAllocated": 12},
        {"BitsStored": 17, "HighBit": 16},
        {"Rows": 0},
        {"BitsAllocated": 8},  # Bits Stored 12 > Bits Allocated
    ],
)
def test_unsupported_layouts(attrs: dict) -> None:
    with pytest.raises(UnsafeToClean):
        Layout.of(_image(**attrs))


def test_a_supported_layout() -> None:
    layout = Layout.of(_image(PhotometricInterpretation="MONOCHROME1", NumberOfFrames=2))
    assert (layout.photometric, layout.frames, layout.frame_words, layout.signed) == ("MONOCHROME1", 2, 16, False)
    with pytest.raises(UnsafeToClean, match="shorter"):
        read_words(bytes(2 * 16 * 2 - 1), layout)
