"""The shared grayscale pipeline (runtime.grayscale): windows per PS3.3 C.11.2.1.2, rescale, LUTs,
MONOCHROME1 inversion, and what each `Fallbacks` field changes."""

from __future__ import annotations

import math
import warnings
from dataclasses import replace

import numpy as np
import pytest
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi
from pydicom.sequence import Sequence

from runtime.errors import PreprocessError
from runtime.grayscale import (
    Fallbacks,
    Lut,
    Window,
    auto_window,
    first_item,
    invert_monochrome1,
    modality_lut,
    rescale,
    voi,
)

X = np.array([-1000.0, 0.0, 999.0, 1499.5, 1500.0, 2000.0, 5000.0])
STRICT = Fallbacks(
    strict=True, lone_rescale=False, window_first=True, lut_full_scale=True, auto_percentiles=(0.5, 99.5)
)
LENIENT = Fallbacks(strict=False, lone_rescale=True, window_first=False, lut_full_scale=False, auto_percentiles=None)


def _item(**attrs: object) -> Dataset:
    ds = Dataset()
    for keyword, value in attrs.items():
        setattr(ds, keyword, value)
    return ds


def _lut(entries: int, first: int, bits: int, data: list[int] | bytes) -> Dataset:
    item = Dataset()
    item.LUTDescriptor = [entries, first, bits]
    if isinstance(data, bytes):
        item.add_new(0x00283006, "OW", data)
    else:
        item.add_new(0x00283006, "US", data)
    return item


@pytest.mark.parametrize(
    ("window", "expected"),
    [
        # (x - (c - 0.5)) / (w - 1) + 0.5, clipped
        (Window(1500, 1001), np.clip((X - 1499.5) / 1000 + 0.5, 0, 1)),
        (Window(1500, 1001, "FOO"), np.clip((X - 1499.5) / 1000 + 0.5, 0, 1)),  # unknown: LINEAR
        (Window(1500, 1), (X > 1499.5).astype(float)),  # w = 1 is a threshold at c - 0.5
        (Window(1500, 1000, "LINEAR_EXACT"), np.clip((X - 1500) / 1000 + 0.5, 0, 1)),
        (Window(1500, 1000, "SIGMOID"), 1 / (1 + np.exp(-4 * (X - 1500) / 1000))),
        (Window(1500, 0.5, "SIGMOID"), np.array([0, 0, 0, 1 / (1 + math.exp(4)), 0.5, 1, 1])),  # no overflow
    ],
)
def test_window_functions(window: Window, expected: np.ndarray) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow in exp would warn
        out = window(X)
    assert out is not None
    np.testing.assert_allclose(out, expected, atol=1e-12)


@pytest.mark.parametrize(
    "window",
    [Window(0, 0.5), Window(0, 0), Window(0, 0, "SIGMOID"), Window(0, -1, "LINEAR_EXACT"), Window(0, math.nan)],
)
def test_widths_out_of_range_give_no_window(window: Window) -> None:
    assert window(X) is None


@pytest.mark.parametrize(
    ("attrs", "strict", "expected"),
    [
        ({"WindowCenter": 40, "WindowWidth": 400}, True, Window(40, 400)),
        (
            {"WindowCenter": [40, 50], "WindowWidth": [400, 500], "VOILUTFunction": "SIGMOID"},
            True,
            Window(40, 400, "SIGMOID"),
        ),
        ({"WindowCenter": 40, "WindowWidth": 400, "VOILUTFunction": ""}, False, Window(40, 400)),
        ({"WindowCenter": 40}, True, None),
        ({}, True, None),
        ({"WindowCenter": "", "WindowWidth": ""}, False, None),
    ],
)
def test_window_of_an_item(attrs: dict, strict: bool, expected: Window | None) -> None:
    assert Window.of(_item(**attrs), strict=strict) == expected


def test_an_empty_window_is_an_error_when_strict() -> None:
    with pytest.raises(PreprocessError):
        Window.of(_item(WindowCenter="", WindowWidth=""), strict=True)


@pytest.mark.parametrize(
    ("attrs", "lone", "slope", "intercept"),
    [
        ({}, True, 1, 0),
        ({}, False, 1, 0),
        ({"RescaleSlope": 2, "RescaleIntercept": -1024}, True, 2, -1024),
        ({"RescaleSlope": 2, "RescaleIntercept": -1024}, False, 2, -1024),
        ({"RescaleSlope": 2}, True, 2, 0),  # a lone slope applies ...
        ({"RescaleSlope": 2}, False, 1, 0),  # ... or not, as pydicom's apply_modality_lut
        ({"RescaleIntercept": 7}, True, 1, 7),
        ({"RescaleIntercept": 7}, False, 1, 0),
        ({"RescaleSlope": 0, "RescaleIntercept": 7}, True, 1, 7),  # a zero slope counts as 1
    ],
)
def test_rescale(attrs: dict, lone: bool, slope: float, intercept: float) -> None:
    values = np.array([0, 1, 4095], dtype=np.uint16)
    out = rescale(values, _item(**attrs), lone=lone)
    assert out.dtype == np.float64
    np.testing.assert_array_equal(out, values * float(slope) + intercept)


@pytest.mark.parametrize("photometric", ["MONOCHROME1", "MONOCHROME2", "RGB"])
def test_monochrome1_inversion(photometric: str) -> None:
    display = np.array([0.0, 0.25, 1.0])
    expected = 1.0 - display if photometric == "MONOCHROME1" else display
    np.testing.assert_array_equal(invert_monochrome1(display, photometric), expected)


@pytest.mark.parametrize("big_endian", [False, True])
@pytest.mark.parametrize("as_bytes", [False, True])
def test_lut_lookup_clips_below_and_above(big_endian: bool, as_bytes: bool) -> None:
    entries = [10, 20, 30, 40]
    data = np.asarray(entries, dtype=">u2" if big_endian else "<u2").tobytes() if as_bytes else entries
    lut = Lut.of(_lut(4, -2, 16, data), big_endian=big_endian)
    assert lut is not None
    np.testing.assert_array_equal(lut(np.array([-100, -2, -1, 0.4, 1, 50])), [10, 10, 20, 30, 40, 40])


@pytest.mark.parametrize(
    "item",
    [_item(), _item(LUTDescriptor=[4, 0]), _lut(4, 0, 0, [1, 2, 3, 4]), _lut(4, 0, 16, b"")],
    ids=["no-descriptor", "two-values", "zero-bits", "no-data"],
)
def test_malformed_luts_are_none(item: Dataset) -> None:
    assert Lut.of(item) is None


@pytest.mark.parametrize("entries, first", [(4096, 0), (0, 0), (300, 100)])
def test_lut_agrees_with_pydicom_on_well_formed_tables(entries: int, first: int) -> None:
    size = entries or 65536
    table = list(np.random.default_rng(entries).integers(0, 65536, size))
    stored = np.random.default_rng(1).integers(0, 4096, (16, 16)).astype(np.uint16)
    ds = Dataset()
    ds.ModalityLUTSequence = Sequence([_lut(entries, first, 16, [int(v) for v in table])])
    ds.VOILUTSequence = Sequence([_lut(entries, first, 16, [int(v) for v in table])])
    ours = Lut.of(ds.ModalityLUTSequence[0])
    assert ours is not None
    np.testing.assert_array_equal(ours(stored), apply_modality_lut(stored, ds))
    np.testing.assert_array_equal(ours(stored), apply_voi(stored, ds))


def _voi_dataset() -> Dataset:
    ds = _item(WindowCenter=2047.5, WindowWidth=4096)
    ds.VOILUTSequence = Sequence([_lut(4096, 0, 16, [4095 - i for i in range(4096)])])
    return ds


RAMP = np.linspace(0, 4095, 64)


@pytest.mark.parametrize(
    ("fallbacks", "expected"),
    [
        (STRICT, np.clip((RAMP + 0.5) / 4095, 0, 1)),  # the window wins
        (LENIENT, 1 - RAMP / 4095),  # the LUT wins, scaled by its largest entry (4095)
        (replace(LENIENT, lut_full_scale=True), (4095 - RAMP) / 65535),  # its nominal 16-bit full scale
    ],
    ids=["window-first", "lut-first", "lut-full-scale"],
)
def test_voi_order_and_lut_scale(fallbacks: Fallbacks, expected: np.ndarray) -> None:
    ds = _voi_dataset()
    np.testing.assert_allclose(voi(RAMP, ds, first_item(ds, "VOILUTSequence"), fallbacks), expected, atol=1e-12)


def test_the_lut_may_read_other_values_than_the_window() -> None:
    ds = _voi_dataset()
    del ds.WindowCenter
    out = voi(RAMP + 1000, ds, first_item(ds, "VOILUTSequence"), STRICT, lut_values=RAMP)
    np.testing.assert_allclose(out, (4095 - RAMP) / 65535, atol=1e-12)


@pytest.mark.parametrize(
    ("attrs", "lut"),
    [
        ({"WindowCenter": 10, "WindowWidth": 0}, None),
        ({"WindowCenter": [], "WindowWidth": 10}, None),
        ({}, _lut(4, 0, 16, [0, 0, 0, 0])),  # all zero: no largest entry to scale by
        ({}, _item(LUTDescriptor=[4, 0, 16])),
    ],
    ids=["width-0", "empty-centre", "zero-table", "no-data"],
)
def test_unusable_voi_raises_when_strict_and_falls_back_otherwise(attrs: dict, lut: Dataset | None) -> None:
    item = _item(**attrs)
    np.testing.assert_array_equal(voi(RAMP, item, lut, LENIENT), RAMP / 4095)
    with pytest.raises(PreprocessError):
        voi(RAMP, item, lut, replace(LENIENT, strict=True))


def test_auto_window() -> None:
    values = np.concatenate([np.arange(1000.0), [1e6]])
    np.testing.assert_allclose(auto_window(values, None), values / 1e6)
    robust = auto_window(values, (0.5, 99.5))
    assert robust[-1] == 1.0 and robust[-2] == 1.0 and robust[500] == pytest.approx(0.5, abs=0.01)
    assert np.all(auto_window(np.full(5, 7.0), None) == 0) and np.all(auto_window(np.full(5, 7.0), (0.5, 99.5)) == 0)


def test_modality_lut_wins_over_rescale_and_a_malformed_one_falls_back() -> None:
    values = np.array([0, 1, 2, 3])
    ds = _item(RescaleSlope=2, RescaleIntercept=1)
    good = _lut(4, 0, 16, [5, 6, 7, 8])
    np.testing.assert_array_equal(modality_lut(values, good, ds, STRICT), [5, 6, 7, 8])
    bad = _item(LUTDescriptor=[4, 0, 16])
    np.testing.assert_array_equal(modality_lut(values, bad, ds, LENIENT), [1, 3, 5, 7])
    with pytest.raises(PreprocessError):
        modality_lut(values, bad, ds, STRICT)
