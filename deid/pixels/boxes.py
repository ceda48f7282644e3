"""Box geometry of Clean Pixel Data: the blacked-out `Box`, connected components of a mask, and
the merging of word boxes.

Boxes are half-open: (y0, x0, y1, x1) covers rows y0..y1-1 and columns x0..x1-1 of the stored matrix.
`merge_boxes` covers every input pixel with boxes that do not overlap, and its result does not depend
on the input order (the cleaner is deterministic). `components` finds 8-connected components, in
reading order, and gives up (None) on masks too fragmented to hold glyphs.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, order=True)
class Box:
    """A blacked-out rectangle in frame `frame`: rows y0..y1-1, columns x0..x1-1 of the stored
    matrix. `source` is ``"ocr"`` (text found) or ``"zone"`` (a configured banner zone)."""

    frame: int
    y0: int
    x0: int
    y1: int
    x1: int
    source: str = "ocr"


#: (y0, x0, y1, x1, pixel count) of a connected component, half-open.
Component = tuple[int, int, int, int, int]


def components(mask: np.ndarray, max_runs: int = 200_000) -> list[Component] | None:
    """8-connected components of a boolean mask as (y0, x0, y1, x1, pixels) in reading order;
    None when the mask has more than max_runs horizontal runs (anatomy, not glyphs)."""
    rows, cols = mask.shape
    padded = np.zeros((rows, cols + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    edges = np.diff(padded, axis=1)
    run_y, run_start = np.nonzero(edges == 1)
    _, run_end = np.nonzero(edges == -1)
    n = len(run_y)
    if n == 0:
        return []
    if n > max_runs:
        return None
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first = np.searchsorted(run_y, np.arange(rows + 1)).tolist()
    starts, ends = run_start.tolist(), run_end.tolist()
    for y in range(1, rows):
        i, i_end, j, j_end = first[y - 1], first[y], first[y], first[y + 1]
        while i < i_end and j < j_end:
            # Half-open runs [s, e): 8-connected when they overlap or touch diagonally.
            if starts[i] <= ends[j] and starts[j] <= ends[i]:
                a, b = find(i), find(j)
                if a != b:
                    parent[max(a, b)] = min(a, b)
            if ends[i] < ends[j]:
                i += 1
            else:
                j += 1
    roots = np.array([find(i) for i in range(n)])
    labels, inverse = np.unique(roots, return_inverse=True)
    k = len(labels)
    y0 = np.full(k, rows)
    x0 = np.full(k, cols)
    y1 = np.zeros(k, dtype=np.int64)
    x1 = np.zeros(k, dtype=np.int64)
    count = np.zeros(k, dtype=np.int64)
    np.minimum.at(y0, inverse, run_y)
    np.minimum.at(x0, inverse, run_start)
    np.maximum.at(y1, inverse, run_y + 1)
    np.maximum.at(x1, inverse, run_end)
    np.add.at(count, inverse, run_end - run_start)
    found = [(int(a), int(b), int(c), int(d), int(e)) for a, b, c, d, e in zip(y0, x0, y1, x1, count)]
    return sorted(found)


def enclosed_glyphs(box: tuple[int, int, int, int], found: list[Component] | None) -> int:
    """How many components at least 45 % as high as `box` lie inside it (grown by 2 px), provided
    the components inside hold at least 80 % of the ink of all components touching it; else 0."""
    if not found:
        return 0
    y0, x0, y1, x1 = box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2
    touching = inside = enclosed = 0
    for cy0, cx0, cy1, cx1, pixels in found:
        if cy0 >= y1 or cy1 <= y0 or cx0 >= x1 or cx1 <= x0:
            continue
        touching += pixels
        if cy0 >= y0 and cx0 >= x0 and cy1 <= y1 and cx1 <= x1:
            inside += pixels
            enclosed += (cy1 - cy0) * 20 >= (y1 - y0 - 4) * 9
    return enclosed if touching and inside >= 0.8 * touching else 0


def merge_boxes(boxes: Iterable[tuple[int, int, int, int]]) -> list[tuple[int, int, int, int]]:
    """Union overlapping half-open (y0, x0, y1, x1) boxes into their bounding boxes until none
    overlap; the result covers every input pixel. Sorted for determinism."""
    pending = sorted(set(boxes))
    merged = True
    while merged:
        merged = False
        out: list[tuple[int, int, int, int]] = []
        for box in pending:
            for k, other in enumerate(out):
                if box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]:
                    out[k] = (
                        min(box[0], other[0]),
                        min(box[1], other[1]),
                        max(box[2], other[2]),
                        max(box[3], other[3]),
                    )
                    merged = True
                    break
            else:
                out.append(box)
        pending = sorted(set(out))
    return pending


def boxes_mask(boxes: Iterable[Box], frames: int, rows: int, columns: int) -> np.ndarray:
    """Boolean (frames, rows, columns) mask of the pixels inside `boxes` (for callers and tests)."""
    mask = np.zeros((frames, rows, columns), dtype=bool)
    for box in boxes:
        mask[box.frame, box.y0 : box.y1, box.x0 : box.x1] = True
    return mask


__all__ = ["Box", "Component", "boxes_mask", "components", "enclosed_glyphs", "merge_boxes"]
