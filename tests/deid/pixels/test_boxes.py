"""Box geometry (deid.pixels.boxes): merged boxes cover every input without overlapping, connected
components agree with a flood fill, and the mask of boxes is exactly their pixels."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deid.pixels import Box, boxes_mask, merge_boxes
from deid.pixels.boxes import components, enclosed_glyphs

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
    assert components(mask) == _reference_components(mask)


def test_boxes_mask_is_exactly_the_pixels_of_the_boxes() -> None:
    boxes = [Box(0, 1, 2, 3, 5), Box(1, 0, 0, 1, 1, "zone"), Box(1, 2, 2, 4, 3)]
    mask = boxes_mask(boxes, 2, 4, 6)
    expected = np.zeros((2, 4, 6), dtype=bool)
    expected[0, 1:3, 2:5] = True
    expected[1, 0, 0] = True
    expected[1, 2:4, 2] = True
    assert np.array_equal(mask, expected)
    assert sorted(boxes)[0] == Box(0, 1, 2, 3, 5), "boxes sort by frame, then position"


def test_components_give_up_on_fragmented_masks() -> None:
    checker = (np.indices((20, 20)).sum(axis=0) % 2).astype(bool)
    assert components(checker, max_runs=100) is None
    assert components(np.zeros((3, 3), dtype=bool)) == []


@pytest.mark.parametrize(
    ("box", "expected"),
    [
        ((0, 0, 10, 30), 2),  # two glyph-high components inside, nothing else touches
        ((0, 0, 10, 12), 0),  # the second glyph sticks out: less than 80 % of the ink is inside
        ((0, 0, 40, 30), 0),  # the glyphs are less than 45 % of the box height
    ],
)
def test_enclosed_glyphs(box: tuple[int, int, int, int], expected: int) -> None:
    glyphs = [(1, 1, 9, 6, 20), (1, 10, 9, 16, 20)]
    assert enclosed_glyphs(box, glyphs) == expected
    assert enclosed_glyphs(box, None) == 0
