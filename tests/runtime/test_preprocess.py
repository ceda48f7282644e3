"""DICOM -> model input: windowing, photometric interpretation, geometry, normalisation."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from runtime.bundle import Preprocessing
from runtime.errors import PreprocessError, UnsupportedImage
from runtime.preprocess import display_image, to_model_input

CFG = Preprocessing(image_size=32, mean=(0.5, 0.4, 0.3), std=(0.25, 0.2, 0.1))


def make_ds(pixels: np.ndarray, photometric: str = "MONOCHROME2", bits: int = 12, **extra) -> Dataset:
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.1"
    ds.SOPInstanceUID = generate_uid()
    ds.Rows, ds.Columns = pixels.shape
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, bits, bits - 1, 0
    ds.PixelData = pixels.astype(np.uint16).tobytes()
    for k, v in extra.items():
        setattr(ds, k, v)
    return ds


def ramp(rows: int = 40, cols: int = 50, top: int = 4095) -> np.ndarray:
    return np.tile(np.linspace(0, top, cols).round().astype(np.uint16), (rows, 1))


def test_linear_window_follows_ps33_formula() -> None:
    px = np.array([[0, 1000, 1500, 2000, 4095]], dtype=np.uint16)
    img = display_image(make_ds(px, WindowCenter=1500, WindowWidth=1001))
    # (x - (c - 0.5)) / (w - 1) + 0.5 clipped to [0, 1]
    expected = np.clip((px - 1499.5) / 1000 + 0.5, 0, 1)
    np.testing.assert_allclose(img, expected, atol=1e-6)


def test_rescale_is_applied_before_the_window() -> None:
    px = ramp()
    plain = display_image(make_ds(px, WindowCenter=2047, WindowWidth=4096))
    rescaled = display_image(make_ds(px, WindowCenter=4094, WindowWidth=8192, RescaleSlope=2, RescaleIntercept=0))
    np.testing.assert_allclose(plain, rescaled, atol=1e-3)


def test_monochrome1_is_inverted_to_the_same_display() -> None:
    px = ramp()
    mono2 = display_image(make_ds(px, "MONOCHROME2", WindowCenter=2047.5, WindowWidth=4096))
    mono1 = display_image(make_ds(4095 - px, "MONOCHROME1", WindowCenter=2047.5, WindowWidth=4096))
    # the standard's linear window is off-centre by half a step, hence 1/4095 of tolerance
    np.testing.assert_allclose(mono1, mono2, atol=1.0 / 4095 + 1e-6)


def test_without_window_a_percentile_window_spans_the_range() -> None:
    img = display_image(make_ds(ramp(top=1000)))
    assert img.min() == 0.0 and img.max() == 1.0


def test_sigmoid_window() -> None:
    px = np.array([[1000, 1500, 2000]], dtype=np.uint16)
    img = display_image(make_ds(px, WindowCenter=1500, WindowWidth=500, VOILUTFunction="SIGMOID"))
    assert img[0, 1] == pytest.approx(0.5) and img[0, 0] < 0.5 < img[0, 2]


@pytest.mark.parametrize(
    "change, error",
    [
        ({"PhotometricInterpretation": "RGB"}, UnsupportedImage),
        ({"NumberOfFrames": 2}, UnsupportedImage),
        ({"WindowCenter": 10, "WindowWidth": 0}, PreprocessError),
    ],
)
def test_unsupported_images_raise_typed_errors(change, error) -> None:
    ds = make_ds(ramp())
    for k, v in change.items():
        setattr(ds, k, v)
    with pytest.raises(error):
        display_image(ds)


def test_missing_pixel_data_is_unsupported() -> None:
    ds = make_ds(ramp())
    del ds.PixelData
    with pytest.raises(UnsupportedImage, match="no pixel data"):
        display_image(ds)


@pytest.mark.parametrize("shape", [(40, 50), (50, 40), (32, 32), (300, 17)])
def test_model_input_shape_and_normalisation(shape) -> None:
    out = to_model_input(np.full(shape, 0.5, dtype=np.float32), CFG)
    assert out.shape == (3, 32, 32) and out.dtype == np.float32
    np.testing.assert_allclose(out[:, 0, 0], [(0.5 - m) / s for m, s in zip(CFG.mean, CFG.std)], atol=1e-5)


def test_centre_crop_keeps_the_centre_of_a_wide_image() -> None:
    img = np.zeros((32, 96), dtype=np.float32)
    img[:, 40:56] = 1.0  # a bright vertical band in the middle
    grey = to_model_input(img, CFG)[0] * CFG.std[0] + CFG.mean[0]
    assert grey[:, 14:18].mean() > 0.9 and grey[:, :4].mean() < 0.05


@settings(max_examples=60, deadline=None)
@given(
    center=st.floats(-1000, 5000, allow_nan=False),
    width=st.floats(1.0, 8000, allow_nan=False),
    function=st.sampled_from(["LINEAR", "LINEAR_EXACT", "SIGMOID"]),
    photometric=st.sampled_from(["MONOCHROME1", "MONOCHROME2"]),
)
def test_display_image_is_always_within_unit_range(center, width, function, photometric) -> None:
    ds = make_ds(ramp(8, 8), photometric, WindowCenter=center, WindowWidth=width, VOILUTFunction=function)
    img = display_image(ds)
    assert img.dtype == np.float32 and np.all((img >= 0) & (img <= 1))
