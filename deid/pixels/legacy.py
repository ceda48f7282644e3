"""The former detector, kept as the benchmark baseline (``detector = "ocr_passes"``): tesseract on
whole-frame renderings (deid.pixels.detect.TextFinder), up to ``max_rounds`` scans per frame.

Contract of `ocr_passes_frame(...)`: the padded, merged word boxes blacked out in `words` (a
writable view on the frame) and the number of laterality markers kept in the first scan. After
blacking out what a scan found, the frame is rendered and read again, until a scan finds nothing
new. Not used by default: it is slow (four whole-frame OCR passes plus glyph strips per scan) and
reads noisy anatomy as text.
"""

from __future__ import annotations

import math

import numpy as np
from pydicom.dataset import Dataset

from deid.pixels.boxes import merge_boxes
from deid.pixels.detect import TextFinder
from deid.pixels.layout import Layout
from deid.pixels.render import render
from deid.pixels.settings import PixelCleanSettings

_MARKER_PUNCTUATION = " .,:;-_|()[]{}'\"`"


def pad_box(
    box: tuple[int, int, int, int],
    height: int,
    settings: PixelCleanSettings,
    rows: int,
    columns: int,
    vertical: bool | None = None,
) -> tuple[int, int, int, int]:
    """`box` grown by max(pad_px, pad_fraction * height) on every side, clipped to the frame; with
    a reading direction (`vertical` given) twice that along the line, where a glyph cut off from
    its word would otherwise stay readable."""
    y0, x0, y1, x1 = box
    pad = max(settings.pad_px, math.ceil(settings.pad_fraction * height))
    py = px = pad
    if vertical is not None:
        py, px = (2 * pad, pad) if vertical else (pad, 2 * pad)
    return (max(0, y0 - py), max(0, x0 - px), min(rows, y1 + py), min(columns, x1 + px))


def ocr_passes_frame(
    finder: TextFinder,
    settings: PixelCleanSettings,
    ds: Dataset,
    layout: Layout,
    frame: int,
    words: np.ndarray,
    black: np.ndarray,
    keep_markers: bool,
) -> tuple[list[tuple[int, int, int, int]], int]:
    """Scan, black out and rescan one frame (see the module docstring)."""
    kept: list[tuple[int, int, int, int]] = []
    boxes: list[tuple[int, int, int, int]] = []
    for scan in range(settings.max_rounds):
        rendering = render(ds, layout, frame, words)
        found = finder.find(rendering)
        redact: list[tuple[int, int, int, int]] = []
        for word in found:
            if keep_markers and word.text.strip(_MARKER_PUNCTUATION).upper() in settings.laterality_markers:
                if scan == 0:
                    kept.append(word.box)
                continue
            redact.append(pad_box(word.box, word.box[2] - word.box[0], settings, layout.rows, layout.columns))
        redact = merge_boxes(redact)
        # Already black: nothing new to hide, and a rescan would only repeat itself.
        redact = [b for b in redact if not np.all(words[b[0] : b[2], b[1] : b[3]] == black)]
        if not redact:
            break
        for y0, x0, y1, x1 in redact:
            words[y0:y1, x0:x1] = black
            boxes.append((y0, x0, y1, x1))
    # Several passes may read the same marker: count places, not reads.
    return merge_boxes(boxes), len(merge_boxes(kept))


__all__ = ["ocr_passes_frame", "pad_box"]
