"""Renderings for OCR (deid.pixels.render): the stored word that displays black, the grey levels through
the shared pipeline (runtime.grayscale), where the OCR fallbacks differ from the model's, and the
functional groups of multi-frame images."""

from __future__ import annotations

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from deid.pixels.layout import Layout, read_words
from deid.pixels.render import Rendering, render
from runtime.errors import PreprocessError
from runtime.preprocess import display_image
from tests.deid.pixels.fixtures import chest, dataset


def _render(ds: Dataset, frame: int = 0) -> Rendering:
    layout = Layout.of(ds)
    _, view, _ = read_words(bytes(ds.PixelData), layout)
    return render(ds, layout, frame, view[frame])


def _ramp(top: int = 4095) -> np.ndarray:
    return np.tile(np.linspace(0, top, 40).round().astype(np.int64), (30, 1))


@pytest.mark.parametrize("photometric", ["MONOCHROME2", "MONOCHROME1"])
@pytest.mark.parametrize(
    "window", [(2047.5, 4096.0), (1500.0, 1001.0), (1200.0, 1.0), (100.0, 5000.0)], ids=lambda w: f"{w[0]}/{w[1]}"
)
def test_ocr_rendering_equals_the_model_input_for_a_plain_window(photometric: str, window: tuple) -> None:
    """One pipeline: with a plain window both callers show the same grey levels."""
    ds = dataset(chest(30, 40, 12, 3), bits_stored=12, photometric=photometric, window=window)
    model = display_image(ds)
    ocr = _render(ds).display
    assert model.dtype == np.float32 and 0.0 < model.mean() < 1.0
    assert np.array_equal(ocr.astype(np.float32), model)


@pytest.mark.parametrize(
    ("photometric", "signed", "expected"),
    [
        ("MONOCHROME2", False, "min"),
        ("MONOCHROME1", False, "max"),
        ("MONOCHROME2", True, "min"),
        ("MONOCHROME1", True, "max"),
    ],
)
def test_black_is_the_stored_word_displayed_darkest(photometric: str, signed: bool, expected: str) -> None:
    values = chest(30, 40, 12, 1) - (2048 if signed else 0)
    ds = dataset(values, bits_stored=12, photometric=photometric, signed=signed)
    rendering = _render(ds)
    darkest = values.min() if expected == "min" else values.max()
    word = np.array([darkest]).astype("<i2" if signed else "<u2").view("<u2")
    assert np.array_equal(rendering.black, word)
    # brightness: higher is brighter as displayed, unwindowed
    assert rendering.brightness.max() == (values.max() if expected == "min" else -values.min())
    assert rendering.display[values == darkest].max() == 0.0


def test_black_follows_a_modality_lut_that_inverts() -> None:
    ds = dataset(_ramp(), bits_stored=12)
    lut = Dataset()
    lut.LUTDescriptor = [4096, 0, 16]
    lut.LUTData = [4095 - i for i in range(4096)]
    ds.ModalityLUTSequence = Sequence([lut])
    assert int(_render(ds).black[0]) == 4095


def test_without_a_window_the_frame_range_is_used_not_percentiles() -> None:
    values = chest(30, 40, 12, 2)
    values[2, 3:7] = 4095  # a few text pixels at the extreme
    ds = dataset(values, bits_stored=12)
    display = _render(ds).display
    expected = (values - values.min()) / (values.max() - values.min())
    np.testing.assert_allclose(display, expected, atol=1e-12)
    assert (display == 1.0).sum() == 4
    # the model's automatic window clips 0.5 % at each end: the text merges with the brightest anatomy
    assert (display_image(ds) == 1.0).sum() > 4


def test_voi_lut_wins_over_the_window_for_ocr_but_not_for_the_model() -> None:
    ds = dataset(_ramp(), bits_stored=12, window=(2047.5, 4096.0))
    lut = Dataset()
    lut.LUTDescriptor = [4096, 0, 16]
    lut.LUTData = [4095 - i for i in range(4096)]  # an inverting LUT: the opposite of the window
    ds.VOILUTSequence = Sequence([lut])
    ocr = _render(ds).display
    model = display_image(ds)
    np.testing.assert_allclose(ocr, 1.0 - _ramp() / 4095.0, atol=1e-12)  # scaled by the largest entry
    assert model[0, 0] < 0.01 and model[0, -1] > 0.99


@pytest.mark.parametrize(
    "attrs",
    [
        {"WindowCenter": 1000, "WindowWidth": 0},
        {"WindowCenter": 1000, "WindowWidth": -5, "VOILUTFunction": "SIGMOID"},
        {"WindowCenter": "", "WindowWidth": ""},
    ],
    ids=["linear-width-0", "sigmoid-negative", "empty"],
)
def test_an_unusable_window_falls_back_to_the_range_for_ocr_and_is_refused_for_the_model(attrs: dict) -> None:
    ds = dataset(_ramp(), bits_stored=12)
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    display = _render(ds).display
    assert display.min() == 0.0 and display.max() == 1.0
    with pytest.raises(PreprocessError):
        display_image(ds)


def test_a_lone_rescale_slope_applies_for_ocr() -> None:
    ds = dataset(_ramp(), bits_stored=12)
    ds.RescaleSlope = 2
    np.testing.assert_array_equal(_render(ds).brightness, 2.0 * _ramp())


def test_functional_groups_give_each_frame_its_window_and_rescale() -> None:
    stack = np.stack([_ramp(), _ramp()])
    ds = dataset(stack, bits_stored=12, window=(100.0, 50.0))  # the dataset's window: not used
    shared = Dataset()
    shared_window = Dataset()
    shared_window.WindowCenter, shared_window.WindowWidth = 2047.5, 4096
    shared.FrameVOILUTSequence = Sequence([shared_window])
    ds.SharedFunctionalGroupsSequence = Sequence([shared])
    per_frame = [Dataset(), Dataset()]
    own = Dataset()
    own.WindowCenter, own.WindowWidth, own.VOILUTFunction = 1000, 500, "LINEAR_EXACT"
    transform = Dataset()
    transform.RescaleSlope, transform.RescaleIntercept = 1, 500
    per_frame[1].FrameVOILUTSequence = Sequence([own])
    per_frame[1].PixelValueTransformationSequence = Sequence([transform])
    ds.PerFrameFunctionalGroupsSequence = Sequence(per_frame)

    first, second = _render(ds, 0), _render(ds, 1)
    np.testing.assert_allclose(first.display, np.clip((_ramp() + 0.5) / 4095, 0, 1), atol=1e-12)
    np.testing.assert_array_equal(second.brightness, _ramp() + 500.0)
    np.testing.assert_allclose(second.display, np.clip((_ramp() + 500 - 1000) / 500 + 0.5, 0, 1), atol=1e-12)


@pytest.mark.parametrize(("photometric", "black"), [("RGB", [0, 0, 0]), ("YBR_FULL", [0, 128, 128])])
def test_colour_black_and_luma(photometric: str, black: list[int]) -> None:
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
    ds = dataset(pixels[..., 0], bits_stored=8, bits_allocated=8)
    ds.SamplesPerPixel = 3
    ds.PhotometricInterpretation = photometric
    ds.PlanarConfiguration = 0
    ds.PixelData = pixels.tobytes()
    rendering = _render(ds)
    assert rendering.black.tolist() == black
    p = pixels.astype(np.float64)
    luma = 0.299 * p[..., 0] + 0.587 * p[..., 1] + 0.114 * p[..., 2] if photometric == "RGB" else p[..., 0]
    np.testing.assert_allclose(rendering.display, luma / 255.0, atol=1e-12)
