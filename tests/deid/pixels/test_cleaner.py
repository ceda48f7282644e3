"""Clean Pixel Data end to end (deid.pixels.cleaner): burned-in text is unreadable afterwards and every
stored value outside the reported boxes is bit-identical. Images are generated here; tesseract reads the
output through a path that shares no code with the cleaner (fixtures.ocr_words)."""

from __future__ import annotations

import copy
import logging
import time

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import convert_color_space
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from deid.pixels import Box, PixelCleaner, PixelCleanSettings, boxes_mask, parse_banner_zones
from tests.deid.pixels.fixtures import (
    CORNER_TEXT,
    PHI_TOKENS,
    Text,
    assert_outside_identical,
    burn,
    chest,
    dataset,
    leaked,
    needs_tesseract,
    ocr_words,
    stored_values,
    text_mask,
)


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

    caplog.set_level(logging.DEBUG, logger="deid.pixels")
    caplog.set_level(logging.DEBUG, logger="runtime.grayscale")
    started = time.perf_counter()
    result = cleaner.clean(ds)
    elapsed = time.perf_counter() - started
    print(f"\n[pixels] {make.__name__.strip('_')}: clean() of 512x512 took {elapsed:.2f} s, {len(result.boxes)} boxes")

    assert leaked(PHI_TOKENS, ocr_words(stored_values(result.dataset)[0])) == set()
    after = assert_outside_identical(image[np.newaxis], result.dataset, result.boxes)
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
    assert_outside_identical(image[np.newaxis], removed.dataset, removed.boxes)


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
    assert_outside_identical(stack, result.dataset, result.boxes)
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
    after = assert_outside_identical(image[np.newaxis], result.dataset, result.boxes)
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
    after = assert_outside_identical(values[np.newaxis], result.dataset, result.boxes)
    assert np.all(after[0, :13, :] == values.min())
    assert result.dataset.file_meta.TransferSyntaxUID == syntax
    assert result.burned_in_not_found is True, "zones are not evidence that the annotation was found"


def test_text_mask_helper_draws_something() -> None:
    # Guards the fixtures: a font that silently renders nothing would make the OCR tests vacuous.
    assert text_mask(40, 200, [Text(2, 2, "DOE^JOHN")]).sum() > 50
