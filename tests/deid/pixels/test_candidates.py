"""The candidate detector (deid.pixels.candidates, deid.pixels.verify) on the burned-in corpus
(training.burned_in): text is unreadable afterwards by an independent reader, at most 5 % of any
text's glyph pixels are left, nothing outside the boxes changes, clean phantoms get no box; plus
the morphology helpers against naive versions and the box margin."""

from __future__ import annotations

import math

import numpy as np
import pytest

from deid.pixels import PixelCleaner, PixelCleanSettings, boxes_mask
from deid.pixels.candidates import flat, pool, sliding, tophat
from tests.deid.pixels.fixtures import needs_tesseract
from training.burned_in import BurnedInCase, burned_in_case, clean_case, read_tokens, readable, score


def _naive_sliding(a: np.ndarray, k: int, axis: int, op) -> np.ndarray:
    a = np.moveaxis(a, axis, -1)
    n = a.shape[-1]
    before = k // 2
    out = np.empty_like(a)
    for i in range(n):
        lo, hi = max(0, i - before), min(n, i - before + k)
        out[..., i] = op.reduce(a[..., lo:hi], axis=-1)
    return np.moveaxis(out, -1, axis)


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 9, 13])
@pytest.mark.parametrize("axis", [0, 1])
@pytest.mark.parametrize("op", [np.minimum, np.maximum])
def test_sliding_matches_a_naive_running_filter(k: int, axis: int, op) -> None:
    a = np.random.default_rng(k).random((11, 17)).astype(np.float32)
    assert np.array_equal(sliding(a, k, axis, op), _naive_sliding(a, k, axis, op))


def test_tophat_keeps_thin_strokes_and_drops_broad_shapes() -> None:
    a = np.zeros((40, 40), dtype=np.float32)
    a[5:35, 5:20] = 1.0  # a broad block
    a[5:35, 30:32] = 1.0  # a 2-pixel stroke
    hat = tophat(a, 9, bright=True)
    assert hat[20, 30] == 1.0 and hat[20, 12] == 0.0
    dark = tophat(1.0 - a, 9, bright=False)
    assert dark[20, 31] == 1.0 and dark[20, 12] == 0.0


@pytest.mark.parametrize("f", [1, 2, 3])
def test_pool_is_the_block_extreme(f: int) -> None:
    a = np.random.default_rng(f).random((10, 13))
    got = pool(a, f, np.maximum)
    for y in range(got.shape[0]):
        for x in range(got.shape[1]):
            block = a[y * f : (y + 1) * f, x * f : (x + 1) * f]
            assert got[y, x] == block.max()


def test_flat_marks_pixels_that_repeat_a_neighbour() -> None:
    a = np.arange(25).reshape(5, 5)
    a[1, 1] = a[2, 2] = 99  # diagonal neighbours
    assert flat(a).sum() == 2 and flat(a)[1, 1] and flat(a)[2, 2]


def _clean(cleaner: PixelCleaner, case: BurnedInCase) -> tuple[np.ndarray, np.ndarray, tuple]:
    result = cleaner.clean(case.dataset)
    rows, cols = case.values.shape
    after = np.asarray(result.dataset.pixel_array, dtype=np.int64).reshape(rows, cols)
    return after, boxes_mask(result.boxes, 1, rows, cols)[0], result.boxes


def _check_text_case(cleaner: PixelCleaner, case: BurnedInCase, read: bool = True) -> None:
    assert case.texts and all(t.mask.any() for t in case.texts)
    after, inside, boxes = _clean(cleaner, case)
    s = score(case, after, inside, read=read)
    assert s.changed_outside == 0, "a pixel outside the boxes changed"
    assert s.max_text_left <= 0.05, f"{case.name}: {s.max_text_left:.1%} of a text's pixels left"
    assert s.readable == (), f"{case.name}: {len(s.readable)} token(s) still readable"
    assert all(b.source == "ocr" for b in boxes)
    assert inside.mean() < 0.25, "only the text regions are blacked out"


#: A handful of corpus cases for the default run: bright, label (dark on bright), low contrast,
#: 90 degrees, a small rotation, text over anatomy in the middle, a multi-line banner, and 2048.
SHORT_CASES = [(0, 512), (2, 512), (4, 512), (5, 512), (9, 512), (11, 512), (1, 2048)]


@needs_tesseract
@pytest.mark.parametrize(("index", "size"), SHORT_CASES, ids=lambda v: str(v))
def test_corpus_text_is_blacked_out(index: int, size: int, cleaner: PixelCleaner) -> None:
    case = burned_in_case(index, size)
    if index == 0:
        assert readable(case.tokens, read_tokens(case.values)), "the image must be readable before cleaning"
    _check_text_case(cleaner, case)


@needs_tesseract
@pytest.mark.parametrize("index", range(6))
def test_clean_phantoms_get_no_box_and_stay_identical(index: int, cleaner: PixelCleaner) -> None:
    case = clean_case(index, 512)
    after, inside, boxes = _clean(cleaner, case)
    assert boxes == (), f"{case.name}: anatomy mistaken for text"
    assert np.array_equal(after, case.values)


@needs_tesseract
def test_every_box_covers_its_text_with_the_margin(cleaner: PixelCleaner) -> None:
    case = burned_in_case(15, 512)  # bold 14 px, three lines in the top-left corner
    after, inside, boxes = _clean(cleaner, case)
    s = cleaner.settings
    for text in case.texts:
        ys, xs = np.nonzero(text.mask)
        height = int(ys.max() - ys.min() + 1)
        pad = max(s.pad_px, math.ceil(s.pad_fraction * height)) - 1  # the line box may sit a pixel inside
        y0, y1 = max(0, ys.min() - pad), min(512, ys.max() + 1 + pad)
        x0, x1 = max(0, xs.min() - 2 * pad), min(512, xs.max() + 1 + 2 * pad)
        assert inside[y0:y1, x0:x1].all(), "the whole word and its margin are blacked out"
    mono1 = case.dataset.PhotometricInterpretation == "MONOCHROME1"
    black = case.values.max() if mono1 else case.values.min()
    assert np.all(after[inside] == black), "boxes hold the stored value displayed darkest"


#: The whole corpus of the slow run; the cases listed in KNOWN_MISSES are the detector's known
#: limits (tiny rotated text at 2048, where the block reduction merges glyphs; low-contrast text
#: whose background crosses its value) and must stay listed until fixed (strict xfail).
CORPUS_TEXT = [(i, 512) for i in range(16)] + [(i, 2048) for i in range(8)]
KNOWN_MISSES = {(2, 2048), (4, 2048), (6, 2048)}


@needs_tesseract
@pytest.mark.slow
@pytest.mark.parametrize(
    ("index", "size"),
    [
        pytest.param(i, size, marks=pytest.mark.xfail(strict=True, reason="known limit"))
        if (i, size) in KNOWN_MISSES
        else (i, size)
        for i, size in CORPUS_TEXT
    ],
    ids=lambda v: str(v),
)
def test_whole_corpus_text(index: int, size: int, cleaner: PixelCleaner) -> None:
    _check_text_case(cleaner, burned_in_case(index, size))


@needs_tesseract
@pytest.mark.slow
@pytest.mark.parametrize(("index", "size"), [(i, 512) for i in range(6, 20)] + [(i, 2048) for i in range(8)])
def test_whole_corpus_clean(index: int, size: int, cleaner: PixelCleaner) -> None:
    case = clean_case(index, size)
    assert _clean(cleaner, case)[2] == (), f"{case.name}: anatomy mistaken for text"


def test_the_old_detector_stays_available() -> None:
    assert PixelCleanSettings(detector="ocr_passes").detector == "ocr_passes"
    assert PixelCleanSettings().detector == "candidates"
