"""Grey levels of a monochrome image as displayed (PS3.3 C.11, PS3.4 N.2.1): the project's one grayscale
pipeline, used by `runtime.preprocess` (model input) and `deid.pixels.render` (the renderings OCR reads).

Steps, each a function on an array of values with the items that hold the attributes passed in (the
dataset itself, or an item of a per-frame or shared functional group: the caller decides where the
attributes come from):

1. `modality_lut`: the Modality LUT Sequence item, else Rescale Slope / Intercept -> float64.
2. `voi`: the first VOI transform, a window (`Window`: LINEAR, LINEAR_EXACT or SIGMOID per PS3.3
   C.11.2.1.2) or a VOI LUT Sequence item (`Lut`), else an automatic window -> float64 in [0, 1].
3. `invert_monochrome1`: 1.0 is always displayed white.

Where the attributes are missing, empty, malformed or ambiguous the two callers need different answers; a
`Fallbacks` passed to steps 1 and 2 says which, and each caller's constant says why it chose so
(`runtime.preprocess.MODEL_INPUT`, `deid.pixels.render.OCR_FALLBACKS`). Only `Fallbacks.strict` raises
(`PreprocessError`); otherwise nothing here raises for a bad attribute, it is skipped and logged at debug
level (no pixel or header values are logged).

numpy and pydicom only; nothing of ours but `runtime.errors`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import numpy as np
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from runtime.errors import PreprocessError

LOGGER = logging.getLogger(__name__)

_PARSE_ERRORS = (AttributeError, TypeError, ValueError, IndexError)


@dataclass(frozen=True)
class Fallbacks:
    """What `modality_lut` and `voi` do where the attributes leave a choice.

    strict: an unusable Modality LUT, window or VOI LUT (empty or non-numeric value, malformed LUT item,
        a width out of range for its function) raises PreprocessError. Otherwise it is skipped: the
        Modality LUT falls back to rescale, a VOI source to the next one and finally the automatic window.
    lone_rescale: a Rescale Slope or Intercept without the other still applies (a missing or empty
        value, and a zero slope, count as slope 1 / intercept 0). Otherwise rescale applies only when
        both are present, as in pydicom's ``apply_modality_lut``.
    window_first: a window wins over the VOI LUT Sequence when both are present; otherwise the LUT wins.
    lut_full_scale: the VOI LUT's output is divided by its nominal full scale, 2**bits - 1 (bits: the
        third LUT Descriptor value); otherwise by the table's largest entry (descriptors often overstate
        the bit depth), and a table of zeros is unusable.
    auto_percentiles: without a usable VOI transform the values are mapped linearly between these two
        percentiles and clipped; None: between the minimum and the maximum.
    """

    strict: bool
    lone_rescale: bool
    window_first: bool
    lut_full_scale: bool
    auto_percentiles: tuple[float, float] | None


def first_value(value: Any) -> float:
    """The first value of a possibly multi-valued numeric attribute (Window Center may hold several)."""
    if isinstance(value, (list, tuple, MultiValue)):
        value = value[0]
    return float(value)


def first_item(ds: Dataset, keyword: str) -> Dataset | None:
    """The first item of sequence `keyword` in `ds`, or None when it is absent or empty."""
    items = ds.get(keyword)
    return items[0] if items else None


# ------------------------------------------------------------------------------------------- LUTs


@dataclass(frozen=True)
class Lut:
    """The table of a Modality or VOI LUT Sequence item (LUT Descriptor + LUT Data, PS3.3 C.11.1.1.1
    and C.11.2.1.1). `table` holds the entries as float64; input `first` maps to ``table[0]``."""

    first: int
    bits: int
    table: np.ndarray

    @classmethod
    def of(cls, item: Dataset, *, big_endian: bool = False) -> Lut | None:
        """The item's LUT, or None when the item is malformed (no descriptor of three values, no
        data, no entries, bits not positive). LUT Data given as bytes (VR OW) is read as 16-bit
        words in the dataset's byte order; a descriptor's entry count of 0 means 65536."""
        try:
            entries, first, bits = (int(v) for v in item.LUTDescriptor)
            data = item.LUTData
            if isinstance(data, (bytes, bytearray)):
                table = np.frombuffer(data, dtype=">u2" if big_endian else "<u2").astype(np.float64)
            else:
                table = np.asarray(data if isinstance(data, (list, tuple, MultiValue)) else [data], dtype=np.float64)
        except _PARSE_ERRORS:
            return None
        table = table[: entries or 65536]
        if bits <= 0 or table.size == 0:
            return None
        return cls(first, bits, table)

    def __call__(self, values: np.ndarray) -> np.ndarray:
        """The entries for `values` (rounded to integers): inputs below the first mapped value take
        the first entry, inputs above the last the last."""
        index = np.clip(np.rint(values) - self.first, 0, self.table.size - 1).astype(np.int64)
        return self.table[index]


# ------------------------------------------------------------------------------------ Modality LUT


def rescale(values: np.ndarray, item: Dataset, *, lone: bool) -> np.ndarray:
    """``values * RescaleSlope + RescaleIntercept`` of `item` as float64; `lone` as in
    `Fallbacks.lone_rescale`. An unreadable slope or intercept raises PreprocessError."""
    try:
        if lone:
            slope = first_value(item.get("RescaleSlope", 1) or 1)
            intercept = first_value(item.get("RescaleIntercept", 0) or 0)
        elif "RescaleSlope" in item and "RescaleIntercept" in item:
            slope, intercept = first_value(item.RescaleSlope), first_value(item.RescaleIntercept)
        else:
            return values.astype(np.float64)
    except _PARSE_ERRORS:
        raise PreprocessError("Rescale Slope / Intercept is not a number") from None
    return values.astype(np.float64) * slope + intercept


def modality_lut(
    values: np.ndarray,
    lut_item: Dataset | None,
    rescale_item: Dataset,
    fallbacks: Fallbacks,
    *,
    big_endian: bool = False,
) -> np.ndarray:
    """Stored values -> modality output (float64): the Modality LUT Sequence item `lut_item` when
    given, else the rescale of `rescale_item` (the dataset, or a Pixel Value Transformation item)."""
    if lut_item is not None:
        lut = Lut.of(lut_item, big_endian=big_endian)
        if lut is not None:
            return lut(values)
        if fallbacks.strict:
            raise PreprocessError("Modality LUT Sequence is malformed")
        LOGGER.debug("Modality LUT Sequence unusable; applying Rescale Slope / Intercept instead")
    return rescale(values, rescale_item, lone=fallbacks.lone_rescale)


# ---------------------------------------------------------------------------------------- VOI LUT


@dataclass(frozen=True)
class Window:
    """A VOI window. `function` is LINEAR, LINEAR_EXACT or SIGMOID; any other name reads as LINEAR
    (the attribute's default)."""

    center: float
    width: float
    function: str = "LINEAR"

    @classmethod
    def of(cls, item: Dataset, *, strict: bool) -> Window | None:
        """The first window of `item`; None when Window Center or Width is absent. An empty or
        non-numeric value raises PreprocessError when `strict`, else is also None."""
        if "WindowCenter" not in item or "WindowWidth" not in item:
            return None
        center, width = item.WindowCenter, item.WindowWidth
        try:
            if center is None or width is None or str(center) == "" or str(width) == "":
                raise ValueError("empty")
            return cls(first_value(center), first_value(width), str(item.get("VOILUTFunction") or "LINEAR").upper())
        except _PARSE_ERRORS:
            if strict:
                raise PreprocessError("Window Center / Width is empty or not a number") from None
            LOGGER.debug("Window Center / Width unreadable; trying the next VOI transform")
            return None

    def __call__(self, values: np.ndarray) -> np.ndarray | None:
        """`values` windowed onto [0, 1] per PS3.3 C.11.2.1.2; None when the width is out of range
        for the function (SIGMOID and LINEAR_EXACT need > 0, LINEAR >= 1)."""
        c, w = self.center, self.width
        if self.function == "SIGMOID":
            if not w > 0:
                return None
            # 1 / (1 + exp(-4 (x - c) / w)), written with tanh so that it cannot overflow
            return 0.5 * (1.0 + np.tanh(2.0 * (values - c) / w))
        if self.function == "LINEAR_EXACT":
            if not w > 0:
                return None
            return np.clip((values - c) / w + 0.5, 0.0, 1.0)
        if not w >= 1:
            return None
        if w == 1:
            # PS3.3 C.11.2.1.2.1 with w = 1 is a threshold at c - 0.5
            return (values > c - 0.5).astype(np.float64)
        return np.clip((values - (c - 0.5)) / (w - 1) + 0.5, 0.0, 1.0)


def auto_window(values: np.ndarray, percentiles: tuple[float, float] | None) -> np.ndarray:
    """`values` mapped linearly onto [0, 1] between two percentiles (clipped outside), or between
    the minimum and the maximum when `percentiles` is None. A constant image maps to 0."""
    if percentiles is None:
        low, high = float(values.min()), float(values.max())
        if high <= low:
            return np.zeros(values.shape, dtype=np.float64)
        return (values - low) / (high - low)
    low, high = (float(v) for v in np.percentile(values, percentiles))
    return np.clip((values - low) / max(high - low, 1e-6), 0.0, 1.0)


def _by_window(values: np.ndarray, item: Dataset, fallbacks: Fallbacks) -> np.ndarray | None:
    window = Window.of(item, strict=fallbacks.strict)
    if window is None:
        return None
    out = window(values)
    if out is None:
        if fallbacks.strict:
            raise PreprocessError(f"invalid window width {window.width}")
        LOGGER.debug("window width out of range for %s; trying the next VOI transform", window.function)
    return out


def _by_lut(values: np.ndarray, item: Dataset | None, fallbacks: Fallbacks, big_endian: bool) -> np.ndarray | None:
    if item is None:
        return None
    lut = Lut.of(item, big_endian=big_endian)
    if lut is not None:
        scale = float(2**lut.bits - 1) if fallbacks.lut_full_scale else float(lut.table.max())
        if scale > 0:
            return np.clip(lut(values) / scale, 0.0, 1.0)
    if fallbacks.strict:
        raise PreprocessError("VOI LUT Sequence is malformed")
    LOGGER.debug("VOI LUT Sequence unusable; trying the next VOI transform")
    return None


def voi(
    values: np.ndarray,
    window_item: Dataset,
    lut_item: Dataset | None,
    fallbacks: Fallbacks,
    *,
    lut_values: np.ndarray | None = None,
    big_endian: bool = False,
) -> np.ndarray:
    """Modality output -> [0, 1] (float64, 1.0 = the top of the VOI output, before MONOCHROME1
    inversion): the window of `window_item` (the dataset or a Frame VOI LUT item) or the VOI LUT
    Sequence item `lut_item`, in the order `fallbacks` gives, else `auto_window`. The LUT reads
    `lut_values` when given (default: `values`)."""
    lut_input = values if lut_values is None else lut_values
    steps = ("window", "lut") if fallbacks.window_first else ("lut", "window")
    for step in steps:
        if step == "window":
            out = _by_window(values, window_item, fallbacks)
        else:
            out = _by_lut(lut_input, lut_item, fallbacks, big_endian)
        if out is not None:
            return out
    return auto_window(values, fallbacks.auto_percentiles)


def invert_monochrome1(display: np.ndarray, photometric: str) -> np.ndarray:
    """`display` in [0, 1] as shown: inverted for MONOCHROME1 (the minimum value is white), unchanged
    otherwise."""
    return 1.0 - display if photometric == "MONOCHROME1" else display


__all__ = [
    "Fallbacks",
    "Lut",
    "Window",
    "auto_window",
    "first_item",
    "first_value",
    "invert_monochrome1",
    "modality_lut",
    "rescale",
    "voi",
]
