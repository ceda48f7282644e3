"""8-bit-ready renderings of one frame for OCR, and the stored word that displays black.

Contract of `render(ds, layout, frame, words)`:

* Monochrome: the frame's grey levels go through `runtime.grayscale` (the pipeline the model input
  uses too) with the `OCR_FALLBACKS`: Modality LUT or rescale (the frame's Pixel Value Transformation
  functional group first, then the dataset), then the frame's Frame VOI LUT window, or else the
  dataset's VOI LUT Sequence or window, else the frame's range; MONOCHROME1 inverted.
  `brightness` is the unwindowed presentation value (modality output, negated for MONOCHROME1), and
  `black` the stored word of the darkest pixel as displayed (the minimum stored value for MONOCHROME2,
  the maximum for MONOCHROME1, through any Modality LUT).
* RGB: luma (BT.601 weights) over the full range of Bits Stored, black is (0, 0, 0); YBR_FULL: the Y
  channel, black is Y = 0 with neutral chroma.
* Nothing raises for a missing or malformed window or LUT: text must be searched on every image.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset

from deid.pixels.layout import Layout, stored_values
from runtime.grayscale import Fallbacks, first_item, invert_monochrome1, modality_lut, voi

#: The grayscale fallbacks of the OCR renderings, which differ from the model's
#: (`runtime.preprocess.MODEL_INPUT`) because text must be searched on every image, however odd its
#: header: a malformed LUT or window is skipped, never an error. A lone Rescale Slope or Intercept
#: applies. The VOI LUT Sequence wins over a window (as before the pipeline was shared) and is scaled by
#: its largest entry, since descriptors often overstate the bit depth. Without a VOI transform the frame's
#: minimum to maximum, so that text burned just inside a percentile tail keeps its contrast.
OCR_FALLBACKS = Fallbacks(
    strict=False, lone_rescale=True, window_first=False, lut_full_scale=False, auto_percentiles=None
)


@dataclass(frozen=True)
class Rendering:
    """One frame seen as displayed: `display` in 0..1 (1 = white), `brightness` the unwindowed
    presentation value (higher = brighter) and the stored word that displays darkest."""

    display: np.ndarray
    brightness: np.ndarray
    black: np.ndarray  # one word per sample


def functional_item(ds: Dataset, frame: int, sequence: str) -> Dataset | None:
    """First item of a functional group macro for `frame` (per-frame before shared), if any."""
    for group_seq, index in (
        ("PerFrameFunctionalGroupsSequence", frame),
        ("SharedFunctionalGroupsSequence", 0),
    ):
        groups = ds.get(group_seq)
        if groups and len(groups) > index:
            items = groups[index].get(sequence)
            if items:
                return items[0]
    return None


def render(ds: Dataset, layout: Layout, frame: int, words: np.ndarray) -> Rendering:
    """The rendering of frame `frame`, whose stored words (rows, columns, samples) are `words`."""
    values = stored_values(words, layout)
    if layout.samples == 3:
        top = float((1 << layout.bits_stored) - 1)
        if layout.photometric == "RGB":
            luma = 0.299 * values[..., 0] + 0.587 * values[..., 1] + 0.114 * values[..., 2]
            black = np.zeros(3, dtype=words.dtype)
        else:  # YBR_FULL: black is Y = 0 with neutral chroma
            luma = values[..., 0].astype(np.float64)
            mid = 1 << (layout.bits_stored - 1)
            black = np.array([0, mid, mid], dtype=np.int64).astype(words.dtype)
        display = np.clip(luma / top, 0.0, 1.0)
        return Rendering(display, luma, black)

    grey = values[..., 0]
    rescale_item = functional_item(ds, frame, "PixelValueTransformationSequence") or ds
    presentation = modality_lut(
        grey, first_item(ds, "ModalityLUTSequence"), rescale_item, OCR_FALLBACKS, big_endian=layout.big_endian
    )
    brightness = -presentation if layout.photometric == "MONOCHROME1" else presentation
    darkest = np.unravel_index(int(np.argmin(brightness)), brightness.shape)
    black = np.array([words[darkest][0]], dtype=words.dtype)
    # A frame's own window replaces the dataset's VOI module, LUT included.
    window_item = functional_item(ds, frame, "FrameVOILUTSequence") or ds
    lut_item = first_item(ds, "VOILUTSequence") if window_item is ds else None
    display = voi(presentation, window_item, lut_item, OCR_FALLBACKS, big_endian=layout.big_endian)
    return Rendering(invert_monochrome1(display, layout.photometric), brightness, black)


__all__ = ["OCR_FALLBACKS", "Rendering", "functional_item", "render"]
