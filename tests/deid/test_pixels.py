"""Tests of deid.pixels.cleaner (Clean Pixel Data): burned-in text is unreadable afterwards,
every stored value outside the reported boxes is bit-identical, overlays and icons are gone, and
unsafe inputs raise the typed errors. Images are generated here; tesseract reads the output
through a path that shares no code with the cleaner (pixel_fixtures.ocr_words)."""

from __future__ import annotations

import copy
import io
import logging
import time
from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.pixels import convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
)

from deid.errors import DeidConfigError, DeidError, UnsafeToDeidentify
from deid.pixels.cleaner import (
    BannerZone,
    Box,
    OcrError,
    PixelCleaner,
    PixelCleanError,
    PixelCleanSettings,
    UnsafeToClean,
    _components,
    boxes_mask,
    merge_boxes,
    parse_banner_zones,
)
from tests.deid.pixel_fixtures import (
    Text,
    burn,
    chest,
    dataset,
    leaked,
    needs_tesseract,
    ocr_words,
    stored_values,
    text_mask,
)

PHI_TOKENS = ["DOE^JOHN", "JOHN", "12345678", "01/02/1960", "1960", "MARY", "HOSP"]
CORNER_TEXT = [
    Text(8, 8, "DOE^JOHN 12345678"),
    Text(8, 28, "01/02/1960"),
    Text(330, 486, "ST MARY HOSP"),
]


@pytest.fixture(scope="module")
def cleaner() -> PixelCleaner:
    return PixelCleaner()


def _walk(ds: Dataset) -> Iterator[int]:
    for elem in ds:
        yield int(elem.tag)
        if elem.VR == "SQ":
            for item in elem.value:
                yield from _walk(item)


def _assert_outside_identical(before: np.ndarray, result_ds: Dataset, boxes: tuple[Box, ...]) -> np.ndarray:
    after = stored_values(result_ds)
    inside = boxes_mask(boxes, *before.shape)
    assert after.shape == before.shape
    assert np.array_equal(after[~inside], before[~inside]), "a pixel outside the boxes changed"
    return after


# ------------------------------------------------------------------------- burned-in text (OCR)


def _white_corners(seed: int) -> tuple[Dataset, np.ndarray, np.ndarray, int]:
    """MONOCHROME2, 12 of 16 bits, Explicit VR LE, white text at 4095, a VOI window."""
    base = chest(512, 512, 12, seed)
    image, mask = burn(base, CORNER_TEXT, 4095)
    ds = dataset(image, bits_stored=12, window=(2000.0, 3000.0))
    return ds, image, mask, int(image.min())


def _monochrome1_rle(seed: int) -> tuple[Dataset, np.ndarray, np.ndarray, int]:
    """MONOCHROME1, 16 bits, RLE: text at stored 0 is white as displayed; black is the maximum."""
    base = chest(512, 512, 16, seed)
    image, mask = burn(base, CORNER_TEXT, 0)
    ds = dataset(image, bits_stored=16, photometric="MONOCHROME1")
    ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
    return ds, image, mask, int(image.max())


def _dark_on_label(seed: int) -> tuple[Dataset, np.ndarray, np.ndarray, int]:
    """MONOCHROME2, 16 bits, Implicit VR LE: inverted polarity, black text on a white label."""
    base = chest(512, 512, 16, seed)
    labelled = base.copy()
    labelled[4:48, 4:180] = 65535
    labelled[480:508, 326:444] = 65535
    image, mask = burn(labelled, CORNER_TEXT, 0)
    ds = dataset(image, bits_stored=16, syntax=ImplicitVRLittleEndian)
    return ds, image, mask, int(image.min())


@needs_tesseract
@pytest.mark.parametrize(
    "make", [_white_corners, _monochrome1_rle, _dark_on_label], ids=lambda f: f.__name__.strip("_")
)
def test_burned_in_text_is_unreadable_and_the_rest_bit_identical(
    make, cleaner: PixelCleaner, caplog: pytest.LogCaptureFixture
) -> None:
    ds, image, mask, black = make(seed=7)
    syntax = ds.file_meta.TransferSyntaxUID
    pristine = copy.deepcopy(ds)
    assert leaked(PHI_TOKENS, ocr_words(image)), "the test image must be readable before cleaning"

    caplog.set_level(logging.DEBUG, logger="deid.pixels.cleaner")
    started = time.perf_counter()
    result = cleaner.clean(ds)
    elapsed = time.perf_counter() - started
    print(f"\n[pixels] {make.__name__.strip('_')}: clean() of 512x512 took {elapsed:.2f} s, {len(result.boxes)} boxes")

    assert leaked(PHI_TOKENS, ocr_words(stored_values(result.dataset)[0])) == set()
    after = _assert_outside_identical(image[np.newaxis], result.dataset, result.boxes)
    inside = boxes_mask(result.boxes, 1, 512, 512)
    assert np.all(after[inside] == black), "boxes are set to black as displayed"
    assert inside[0][mask].mean() > 0.95, "the glyphs are inside the boxes"
    assert inside.mean() < 0.05, "only small regions are blacked out"
    assert all(b.source == "ocr" for b in result.boxes)

    out = result.dataset
    assert out.file_meta.TransferSyntaxUID == syntax
    assert out.BurnedInAnnotation == "NO"
    assert result.burned_in_not_found is False
    assert ds == pristine and ds.PixelData == pristine.PixelData, "the input must not be mutated"
    logged = " ".join(r.getMessage() for r in caplog.records).upper()
    assert not any(token in logged for token in PHI_TOKENS)
    assert any("ocr_boxes=" in r.getMessage() for r in caplog.records)


@needs_tesseract
def test_native_output_is_byte_identical_outside_the_boxes(cleaner: PixelCleaner) -> None:
    base = chest(256, 256, 12, 3)
    image, _ = burn(base, [Text(6, 6, "SMITH^ANNA 87654321")], 4095)
    ds = dataset(image, bits_stored=12)
    result = cleaner.clean(ds)
    assert result.boxes
    before = np.frombuffer(ds.PixelData, "<u2").reshape(256, 256)
    after = np.frombuffer(result.dataset.PixelData, "<u2").reshape(256, 256)
    inside = boxes_mask(result.boxes, 1, 256, 256)[0]
    assert np.array_equal(before[~inside], after[~inside])
    assert len(result.dataset.PixelData) == len(ds.PixelData)


@needs_tesseract
def test_laterality_marker_is_kept_only_when_asked(cleaner: PixelCleaner) -> None:
    base = chest(384, 384, 12, 11)
    marker = [Text(340, 180, "L", 28)]
    phi = [Text(6, 6, "DOE^JOHN 12345678")]
    image, phi_mask = burn(base, phi, 4095)
    image, marker_mask = burn(image, marker, 4095)
    ds = dataset(image, bits_stored=12)

    kept = cleaner.clean(ds)
    kept_inside = boxes_mask(kept.boxes, 1, 384, 384)[0]
    assert not kept_inside[marker_mask].any(), "the L marker must survive"
    assert kept_inside[phi_mask].all()
    assert any("laterality" in a for a in kept.actions)
    again = cleaner.clean(ds)
    assert again.boxes == kept.boxes and again.dataset.PixelData == kept.dataset.PixelData, "deterministic"

    removed = cleaner.clean(ds, keep_laterality_markers=False)
    removed_inside = boxes_mask(removed.boxes, 1, 384, 384)[0]
    assert removed_inside[marker_mask].all(), "the L marker is blacked out"
    assert removed_inside[phi_mask].all()
    _assert_outside_identical(image[np.newaxis], removed.dataset, removed.boxes)


@needs_tesseract
def test_every_frame_of_a_multiframe_image_is_cleaned(cleaner: PixelCleaner) -> None:
    frames, masks = [], []
    for k, words in enumerate(("DOE^JOHN 12345678", "01/02/1960 MRN 4455")):
        image, mask = burn(chest(256, 256, 12, 20 + k), [Text(6, 6 + 100 * k, words)], 4095)
        frames.append(image)
        masks.append(mask)
    stack = np.stack(frames)
    ds = dataset(stack, bits_stored=12)
    result = cleaner.clean(ds)
    inside = boxes_mask(result.boxes, 2, 256, 256)
    assert {b.frame for b in result.boxes} == {0, 1}
    for k in range(2):
        assert inside[k][masks[k]].mean() > 0.95
        assert not inside[k][masks[1 - k] & ~masks[k]].any(), "a frame's boxes come from its own text"
    _assert_outside_identical(stack, result.dataset, result.boxes)
    assert int(result.dataset.NumberOfFrames) == 2


@needs_tesseract
def test_clean_anatomy_gets_no_boxes_and_an_unconfirmed_yes_is_reported(cleaner: PixelCleaner) -> None:
    image = chest(512, 512, 12, 5)
    ds = dataset(image, bits_stored=12, burned_in="YES")
    ds.RecognizableVisualFeatures = "YES"
    result = cleaner.clean(ds)
    assert result.boxes == (), "noisy anatomy must not be mistaken for text"
    assert result.burned_in_not_found is True
    assert any("YES but OCR found no text" in a for a in result.actions)
    assert result.dataset.BurnedInAnnotation == "NO"
    assert result.dataset.RecognizableVisualFeatures == "YES"
    assert np.array_equal(stored_values(result.dataset)[0], image)


@needs_tesseract
def test_burned_in_annotation_no_is_not_trusted(cleaner: PixelCleaner) -> None:
    image, mask = burn(chest(256, 256, 12, 9), [Text(6, 6, "DOE^JOHN 12345678")], 4095)
    result = cleaner.clean(dataset(image, bits_stored=12, burned_in="NO"))
    assert boxes_mask(result.boxes, 1, 256, 256)[0][mask].all()
    assert any("was NO but OCR found text" in a for a in result.actions)
    assert result.burned_in_not_found is False


@needs_tesseract
def test_signed_pixels_with_rescale_and_voi_lut(cleaner: PixelCleaner) -> None:
    values = chest(256, 256, 12, 4) - 2048  # signed 12-bit, -2048..2047
    image, mask = burn(values, [Text(6, 6, "DOE^JOHN 12345678")], 2047)
    words = image.astype("<i2").view("<u2").copy()
    words[200:, :] &= 0x0FFF  # unused bits not sign-extended: the values are the same
    ds = dataset(image, bits_stored=12, signed=True, words=words)
    ds.RescaleIntercept, ds.RescaleSlope = -1024, 1
    lut = Dataset()
    lut.LUTDescriptor = [4096, -3072, 16]
    lut.LUTData = [min(65535, 16 * i) for i in range(4096)]
    ds.VOILUTSequence = Sequence([lut])

    result = cleaner.clean(ds)
    inside = boxes_mask(result.boxes, 1, 256, 256)
    assert inside[0][mask].all()
    after = _assert_outside_identical(image[np.newaxis], result.dataset, result.boxes)
    assert np.all(after[inside] == image.min()), "black is the most negative stored value"
    raw = np.frombuffer(result.dataset.PixelData, "<i2")
    assert raw.min() >= -2048 and raw.max() <= 2047, "unused bits hold the sign extension"


def _colour(photometric: str, planar: int, syntax: str) -> tuple[Dataset, np.ndarray]:
    grey = chest(192, 192, 8, 6)
    image, _ = burn(grey, [Text(4, 4, "DOE^JOHN 1234", 12)], 255)
    rgb = np.repeat(image[..., np.newaxis], 3, axis=2).astype(np.uint8)
    stored = rgb if photometric == "RGB" else convert_color_space(rgb, "RGB", "YBR_FULL")
    ds = dataset(grey, bits_stored=8, bits_allocated=8)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = photometric
    ds.PlanarConfiguration = planar
    ds.PixelData = (np.moveaxis(stored, -1, 0) if planar else stored).tobytes()
    if syntax == RLELossless:
        ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
    return ds, stored


@needs_tesseract
@pytest.mark.parametrize(
    ("photometric", "planar", "syntax"),
    [("RGB", 0, ExplicitVRLittleEndian), ("RGB", 1, ExplicitVRLittleEndian), ("YBR_FULL", 0, RLELossless)],
)
def test_colour_images(photometric: str, planar: int, syntax: str, cleaner: PixelCleaner) -> None:
    ds, _ = _colour(photometric, planar, syntax)
    ds.pixel_array_options(as_rgb=False)  # the cleaner must not inherit a caller's options
    before = ds.pixel_array
    result = cleaner.clean(ds)
    out = result.dataset
    out.pixel_array_options(as_rgb=False)
    after = out.pixel_array
    assert out.PhotometricInterpretation == photometric and out.file_meta.TransferSyntaxUID == syntax
    inside = boxes_mask(result.boxes, 1, 192, 192)[0]
    assert inside[:20, :60].mean() > 0.5, "the text in the corner is blacked out"
    assert np.array_equal(after[~inside], before[~inside])
    black = [0, 0, 0] if photometric == "RGB" else [0, 128, 128]
    assert np.all(after[inside] == black)


# --------------------------------------------------------------------------- overlays and icons


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
    _assert_outside_identical(values[np.newaxis], result.dataset, result.boxes)
    assert any("overlay group(s) 6000, 6001, 6002" in a for a in result.actions)
    assert any("2 Icon Image Sequence" in a for a in result.actions)
    assert any("unused high bits" in a for a in result.actions)
    assert 0x60003000 in ds and "IconImageSequence" in ds, "the input must not be mutated"


# ---------------------------------------------------------------------------------- banner zones


@needs_tesseract
@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ExplicitVRBigEndian, DeflatedExplicitVRLittleEndian])
def test_banner_zones_are_always_blacked_out(syntax: str) -> None:
    zones = parse_banner_zones(
        [
            {"manufacturer": "acme", "modality": "CR", "x0": 0.0, "y0": 0.0, "x1": 1.0, "y1": 0.1},
            {"manufacturer": "OTHER VENDOR", "x0": 0.0, "y0": 0.5, "x1": 1.0, "y1": 1.0},
        ]
    )
    cleaner = PixelCleaner(PixelCleanSettings(banner_zones=zones))
    values = chest(128, 128, 12, 2)
    big = syntax == ExplicitVRBigEndian
    words = values.astype(">u2" if big else "<u2")
    ds = dataset(values, bits_stored=12, syntax=syntax, words=words)
    result = cleaner.clean(ds)
    zone_boxes = [b for b in result.boxes if b.source == "zone"]
    assert zone_boxes == [Box(0, 0, 0, 13, 128, "zone")]
    after = _assert_outside_identical(values[np.newaxis], result.dataset, result.boxes)
    assert np.all(after[0, :13, :] == values.min())
    assert result.dataset.file_meta.TransferSyntaxUID == syntax
    assert result.burned_in_not_found is True, "zones are not evidence that the annotation was found"


# -------------------------------------------------------------------------- compressed and unsafe


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
    _assert_outside_identical(decoded[np.newaxis], result.dataset, result.boxes)


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


def test_missing_tesseract_raises_ocr_error() -> None:
    cleaner = PixelCleaner(PixelCleanSettings(tesseract="/nonexistent/tesseract"))
    with pytest.raises(OcrError):
        cleaner.clean(dataset(chest(32, 32, 12, 0), bits_stored=12))
    with pytest.raises(OcrError):
        cleaner.check_ocr()


def test_dataset_without_pixel_data_only_loses_overlays_and_icons() -> None:
    ds = Dataset()
    ds.PatientName = "DOE^JOHN"
    ds.IconImageSequence = Sequence([_icon()])
    ds.add_new(0x60000010, "US", 8)
    result = PixelCleaner(PixelCleanSettings(tesseract="/nonexistent/tesseract")).clean(ds)
    assert list(_walk(result.dataset)) == [0x00100010]
    assert result.boxes == ()
    assert any("no Pixel Data" in a for a in result.actions)


# ------------------------------------------------------------------------------------- settings


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"banner_zones": [{"x0": 0, "y0": 0, "x1": 1}]}, "banner_zones[0].y1"),
        ({"banner_zones": [{"x0": 0, "y0": 0, "x1": 1, "y1": 1.5}]}, "banner_zones[0].y1"),
        ({"banner_zones": [{"x0": 0.5, "y0": 0, "x1": 0.5, "y1": 1}]}, "banner_zones[0].x1"),
        ({"banner_zones": [{}, {"x0": 0, "y0": 0, "x1": 1, "y1": 1, "vendor": "X"}]}, "banner_zones[0].x0"),
        ({"banner_zones": [{"x0": 0, "y0": 0, "x1": 1, "y1": 1, "vendor": "X"}]}, "banner_zones[0].vendor"),
        ({"banner_zones": [{"x0": True, "y0": 0, "x1": 1, "y1": 1}]}, "banner_zones[0].x0"),
        (
            {"banner_zones": [{"x0": 0, "y0": 0, "x1": 1, "y1": 1, "modality": ""}]},
            "banner_zones[0].modality",
        ),
        ({"banner_zones": {"x0": 0}}, "banner_zones"),
        ({"display_min_confidence": 101}, "display_min_confidence"),
        ({"layer_min_confidence": "5"}, "layer_min_confidence"),
        ({"max_rounds": 0}, "max_rounds"),
        ({"max_frames": 2.5}, "max_frames"),
        ({"ocr_workers": True}, "ocr_workers"),
        ({"extreme_tolerance": 0.5}, "extreme_tolerance"),
        ({"allow_transcode": "yes"}, "allow_transcode"),
        ({"laterality_markers": "L"}, "laterality_markers"),
        ({"tesseract": ""}, "tesseract"),
        ({"ocr_languages": "eng"}, "ocr_languages"),
    ],
)
def test_settings_errors_name_the_offending_key(data: dict, key: str) -> None:
    with pytest.raises(DeidConfigError) as err:
        PixelCleanSettings.from_mapping(data)
    assert err.value.key == key


def test_settings_from_mapping() -> None:
    settings_ = PixelCleanSettings.from_mapping(
        {
            "banner_zones": [{"modality": "US", "x0": 0, "y0": 0, "x1": 1, "y1": 0.08}],
            "laterality_markers": ["l", "r", "Left"],
            "max_frames": 8,
        }
    )
    assert settings_.banner_zones == (BannerZone(0.0, 0.0, 1.0, 0.08, modality="US"),)
    assert settings_.laterality_markers == frozenset({"L", "R", "LEFT"})
    assert settings_.max_frames == 8
    assert PixelCleanSettings.from_mapping({}) == PixelCleanSettings()


@pytest.mark.parametrize(
    ("zone", "attrs", "applies"),
    [
        (BannerZone(0, 0, 1, 1), {}, True),
        (BannerZone(0, 0, 1, 1, modality="us"), {"Modality": "US"}, True),
        (BannerZone(0, 0, 1, 1, modality="US"), {"Modality": "USX"}, False),
        (BannerZone(0, 0, 1, 1, manufacturer="acme"), {"Manufacturer": "Acme Medical GmbH"}, True),
        (BannerZone(0, 0, 1, 1, manufacturer="acme"), {}, False),
        (
            BannerZone(0, 0, 1, 1, model="X5", modality="CR"),
            {"Modality": "CR", "ManufacturerModelName": "ProX5"},
            True,
        ),
        (
            BannerZone(0, 0, 1, 1, model="X5", modality="CR"),
            {"Modality": "DX", "ManufacturerModelName": "ProX5"},
            False,
        ),
    ],
)
def test_banner_zone_matching(zone: BannerZone, attrs: dict, applies: bool) -> None:
    ds = Dataset()
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    assert zone.applies_to(ds) is applies


_fraction = st.floats(min_value=0.0, max_value=1.0, allow_nan=False)


@settings(max_examples=200, deadline=None)
@given(_fraction, _fraction, _fraction, _fraction, st.integers(1, 4000), st.integers(1, 4000))
def test_banner_zone_pixel_box_covers_the_fraction_and_stays_inside(a, b, c, d, rows, columns) -> None:
    x0, x1 = sorted((a, b))
    y0, y1 = sorted((c, d))
    if x0 == x1 or y0 == y1:
        return
    top, left, bottom, right = BannerZone(x0, y0, x1, y1).pixel_box(rows, columns)
    assert 0 <= top < bottom <= rows and 0 <= left < right <= columns
    assert top <= y0 * rows and bottom >= y1 * rows - 1e-9
    assert left <= x0 * columns and right >= x1 * columns - 1e-9


_box = st.tuples(st.integers(0, 60), st.integers(0, 60), st.integers(1, 30), st.integers(1, 30)).map(
    lambda t: (t[0], t[1], t[0] + t[2], t[1] + t[3])
)


@settings(max_examples=200, deadline=None)
@given(st.lists(_box, max_size=12))
def test_merged_boxes_cover_every_input_and_do_not_overlap(boxes) -> None:
    merged = merge_boxes(boxes)
    grid_in = np.zeros((100, 100), dtype=bool)
    grid_out = np.zeros((100, 100), dtype=np.int64)
    for y0, x0, y1, x1 in boxes:
        grid_in[y0:y1, x0:x1] = True
    for y0, x0, y1, x1 in merged:
        grid_out[y0:y1, x0:x1] += 1
    assert not (grid_in & (grid_out == 0)).any(), "every input pixel is covered"
    assert grid_out.max() <= 1, "merged boxes do not overlap"
    assert merged == merge_boxes(reversed(boxes)), "order does not matter"


def _reference_components(mask: np.ndarray) -> list[tuple[int, int, int, int, int]]:
    seen = np.zeros_like(mask)
    found = []
    for y, x in zip(*np.nonzero(mask)):
        if seen[y, x]:
            continue
        stack, pixels = [(y, x)], []
        seen[y, x] = True
        while stack:
            cy, cx = stack.pop()
            pixels.append((cy, cx))
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    ny, nx = cy + dy, cx + dx
                    if 0 <= ny < mask.shape[0] and 0 <= nx < mask.shape[1] and mask[ny, nx] and not seen[ny, nx]:
                        seen[ny, nx] = True
                        stack.append((ny, nx))
        ys, xs = zip(*pixels)
        found.append((min(ys), min(xs), max(ys) + 1, max(xs) + 1, len(pixels)))
    return sorted(found)


@settings(max_examples=150, deadline=None)
@given(st.integers(1, 12), st.integers(1, 12), st.integers(0, 2**32 - 1), st.floats(0.05, 0.7))
def test_connected_components_match_a_flood_fill(rows, columns, seed, density) -> None:
    mask = np.random.default_rng(seed).random((rows, columns)) < density
    assert _components(mask) == _reference_components(mask)


def test_text_mask_helper_draws_something() -> None:
    # Guards the fixtures: a font that silently renders nothing would make the OCR tests vacuous.
    assert text_mask(40, 200, [Text(2, 2, "DOE^JOHN")]).sum() > 50
