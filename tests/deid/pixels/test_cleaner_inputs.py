"""Clean Pixel Data's inputs (deid.pixels.cleaner): transfer syntaxes kept, transcoded or refused,
unsupported pixel layouts raise the typed errors, and overlays, curves and icons are removed."""

from __future__ import annotations

import copy
import io
from collections.abc import Iterator

import numpy as np
import pytest
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.sequence import Sequence
from pydicom.uid import ExplicitVRLittleEndian, JPEGBaseline8Bit, JPEGLSLossless

from deid.errors import DeidError, UnsafeToDeidentify
from deid.pixels import PixelCleaner, PixelCleanError, PixelCleanSettings, UnsafeToClean
from tests.deid.pixels.fixtures import assert_outside_identical, chest, dataset, needs_tesseract


def _walk(ds: Dataset) -> Iterator[int]:
    for elem in ds:
        yield int(elem.tag)
        if elem.VR == "SQ":
            for item in elem.value:
                yield from _walk(item)


def _icon() -> Dataset:
    icon = Dataset()
    icon.Rows = icon.Columns = 4
    icon.SamplesPerPixel = 1
    icon.PhotometricInterpretation = "MONOCHROME2"
    icon.BitsAllocated = icon.BitsStored = 8
    icon.HighBit = 7
    icon.PixelRepresentation = 0
    icon.PixelData = bytes(range(16))
    return icon


@needs_tesseract
def test_overlays_icons_and_embedded_overlay_bits_are_removed(cleaner: PixelCleaner) -> None:
    values = chest(64, 64, 12, 1)
    words = values.astype("<u2")
    words[10:20, 10:40] |= 1 << 12  # a retired overlay plane in bit 12, above Bits Stored
    ds = dataset(values, bits_stored=12, words=words)
    ds.add_new(0x60000010, "US", 64)
    ds.add_new(0x60000011, "US", 64)
    ds.add_new(0x60000100, "US", 1)
    ds.add_new(0x60000102, "US", 0)
    ds.add_new(0x60003000, "OW", bytes(512))
    ds.add_new(0x60020010, "US", 64)
    ds.add_new(0x60020102, "US", 12)  # embedded: no Overlay Data, bit position 12
    ds.add_new(0x60010010, "LO", "VENDOR OVERLAY")
    ds.add_new(0x50000005, "US", 2)  # retired curve
    ds.IconImageSequence = Sequence([_icon()])
    nested = Dataset()
    inner = Dataset()
    inner.IconImageSequence = Sequence([_icon()])
    inner.add_new(0x60000010, "US", 8)
    nested.ReferencedImageSequence = Sequence([inner])
    ds.RequestAttributesSequence = Sequence([nested])

    result = cleaner.clean(ds)
    tags = list(_walk(result.dataset))
    assert not [t for t in tags if (t >> 16) & 0xFF00 in (0x6000, 0x5000)]
    assert 0x00880200 not in tags
    assert "RequestAttributesSequence" in result.dataset, "only the icon is removed from the item"
    raw = np.frombuffer(result.dataset.PixelData, "<u2")
    assert int(raw.max()) < (1 << 12), "unused high bits are cleared"
    assert_outside_identical(values[np.newaxis], result.dataset, result.boxes)
    assert any("overlay group(s) 6000, 6001, 6002" in a for a in result.actions)
    assert any("2 Icon Image Sequence" in a for a in result.actions)
    assert any("unused high bits" in a for a in result.actions)
    assert 0x60003000 in ds and "IconImageSequence" in ds, "the input must not be mutated"


def test_dataset_without_pixel_data_only_loses_overlays_and_icons() -> None:
    ds = Dataset()
    ds.PatientName = "DOE^JOHN"
    ds.IconImageSequence = Sequence([_icon()])
    ds.add_new(0x60000010, "US", 8)
    result = PixelCleaner(PixelCleanSettings(tesseract="/nonexistent/tesseract")).clean(ds)
    assert list(_walk(result.dataset)) == [0x00100010]
    assert result.boxes == ()
    assert any("no Pixel Data" in a for a in result.actions)


def _jpeg_baseline(values: np.ndarray) -> Dataset:
    buffer = io.BytesIO()
    Image.fromarray(values.astype(np.uint8)).save(buffer, format="JPEG", quality=95)
    ds = dataset(values, bits_stored=8, bits_allocated=8, syntax=JPEGBaseline8Bit)
    ds.PixelData = encapsulate([buffer.getvalue()])
    ds["PixelData"].VR = "OB"
    ds.LossyImageCompression = "01"
    return ds


def test_undecodable_compressed_syntax_raises_unsafe_to_clean() -> None:
    ds = dataset(chest(32, 32, 12, 0), bits_stored=12, syntax=JPEGLSLossless)
    ds.PixelData = encapsulate([b"\xff\xd8\xff\xf7" + bytes(64) + b"\xff\xd9"])
    pristine = copy.deepcopy(ds)
    with pytest.raises(UnsafeToClean) as err:
        PixelCleaner().clean(ds)
    assert isinstance(err.value, UnsafeToDeidentify) and isinstance(err.value, PixelCleanError)
    assert isinstance(err.value, DeidError)
    assert ds == pristine


def test_compressed_syntax_that_cannot_be_reencoded_raises_without_transcode() -> None:
    ds = _jpeg_baseline(chest(64, 64, 8, 0))
    with pytest.raises(UnsafeToClean, match="allow_transcode"):
        PixelCleaner(PixelCleanSettings(allow_transcode=False)).clean(ds)


@needs_tesseract
def test_decodable_lossy_syntax_is_transcoded_and_says_so(cleaner: PixelCleaner) -> None:
    ds = _jpeg_baseline(chest(64, 64, 8, 0))
    decoded = ds.pixel_array.astype(np.int64)
    result = cleaner.clean(ds)
    assert result.dataset.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    assert any("transcoded" in a and "Explicit VR Little Endian" in a for a in result.actions)
    assert_outside_identical(decoded[np.newaxis], result.dataset, result.boxes)


def _palette(ds: Dataset) -> None:
    ds.PhotometricInterpretation = "PALETTE COLOR"


def _one_bit(ds: Dataset) -> None:
    ds.BitsAllocated = ds.BitsStored = 1
    ds.HighBit = 0


def _float_pixels(ds: Dataset) -> None:
    del ds.PixelData
    ds.FloatPixelData = bytes(4 * 32 * 32)


def _odd_high_bit(ds: Dataset) -> None:
    ds.HighBit = 15


def _short_pixel_data(ds: Dataset) -> None:
    ds.PixelData = ds.PixelData[:100]


def _no_transfer_syntax(ds: Dataset) -> None:
    del ds.file_meta.TransferSyntaxUID


def _zero_length_pixel_data(ds: Dataset) -> None:
    ds.PixelData = None  # what pydicom reads for a zero-length element


def _too_many_frames(ds: Dataset) -> None:
    ds.NumberOfFrames = 65
    ds.PixelData = ds.PixelData * 65


@pytest.mark.parametrize(
    "spoil",
    [
        _palette,
        _one_bit,
        _float_pixels,
        _odd_high_bit,
        _short_pixel_data,
        _zero_length_pixel_data,
        _no_transfer_syntax,
        _too_many_frames,
    ],
    ids=lambda f: f.__name__.strip("_"),
)
def test_unsupported_layouts_raise_unsafe_to_clean(spoil) -> None:
    ds = dataset(chest(32, 32, 12, 0), bits_stored=12)
    spoil(ds)
    with pytest.raises(UnsafeToClean):
        PixelCleaner().clean(ds)
