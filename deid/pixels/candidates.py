"""Cheap text candidates on one rendered frame, without OCR: morphological top-hat, connected
components, glyph-sized components grouped into lines.

Contract of `find_candidates(rendering, settings)`: the text-like line regions of the frame, in a
fixed order, each with its polarity (bright text on a darker background, or dark on brighter), its
box in frame pixels (not padded) and whether it reads top-to-bottom (a vertical line: 90 or 270
degrees). Nothing here reads text; `deid.pixels.verify` decides which candidates are text.

How: the display rendering and the unwindowed presentation value are reduced to at most
``candidate_side`` pixels a side (block maximum for bright text, minimum for dark text, so thin
strokes survive). On the display, a square opening of ``_OPEN`` pixels is subtracted (white or
black top-hat): strokes narrower than the square remain, broad anatomy goes; the residue above
``min_contrast`` (and above 5 x the frame's noise) is kept (where the window clips more than
1 % of the frame, on the mean of the display and the full range of the presentation value, at
half the contrast), and so are the pixels within 2 % of
the frame's extreme presentation values (text burned there, which the window may hide). Of these,
only pixels that repeat a neighbour's value count (burned-in text is drawn at one value; noisy
anatomy rarely repeats itself). They are labelled; components of glyph size and fill
(not solid blobs, not long curves) are linked into horizontal and vertical lines by alignment,
height and spacing. A line needs two glyphs, or one wide component (touching glyphs), or one
glyph at the extreme value (a laterality marker).

Known limits: text whose value varies along its strokes by more than the noise (lossy compression,
heavy anti-aliasing, overlays blended into anatomy) has few pixels that repeat a neighbour's value
and may not become a candidate; text over a background of its own value is invisible there.
"""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from deid.pixels.boxes import components
from deid.pixels.render import Rendering
from deid.pixels.settings import PixelCleanSettings

_OPEN = 9  # working pixels: wider than the strokes of 40 px bold text at 512
_MIN_GLYPH = 3  # working pixels
_MAX_RUNS = 400_000


@dataclass(frozen=True, order=True)
class Candidate:
    """A possible text line: box (y0, x0, y1, x1) half-open in frame pixels, `bright` polarity,
    `vertical` reading direction, `glyphs` components linked, `extreme` whether its pixels sit at
    the frame's extreme presentation values."""

    box: tuple[int, int, int, int]
    bright: bool
    vertical: bool
    glyphs: int
    extreme: bool
    regular: bool = False

    @property
    def height(self) -> int:
        """Text height: across the reading direction."""
        y0, x0, y1, x1 = self.box
        return (x1 - x0) if self.vertical else (y1 - y0)

    @property
    def wordlike(self) -> bool:
        """Two glyphs or more, or one component longer than a glyph (touching glyphs)."""
        y0, x0, y1, x1 = self.box
        along = (y1 - y0) if self.vertical else (x1 - x0)
        return self.glyphs >= 2 or along >= 1.6 * self.height


def sliding(a: np.ndarray, k: int, axis: int, op: Callable[..., np.ndarray]) -> np.ndarray:
    """Centred running `op` (np.minimum or np.maximum) over `k` samples along `axis`, edges
    replicated; log(k) array operations, each on slices along `axis` (no transposed copies)."""

    def cut(x: np.ndarray, lo: int, hi: int | None) -> np.ndarray:
        index: list[slice] = [slice(None)] * x.ndim
        index[axis] = slice(lo, hi)
        return x[tuple(index)]

    n = a.shape[axis]
    before = k // 2
    first, last = cut(a, 0, 1), cut(a, n - 1, n)
    padded = np.concatenate([first] * before + [a] + [last] * (k - 1 - before), axis=axis)
    out, width = padded, 1
    while width * 2 <= k:
        out = op(cut(out, 0, -width), cut(out, width, None))
        width *= 2
    if width < k:
        out = op(cut(out, 0, n), cut(out, k - width, k - width + n))
    return cut(out, 0, n)


def tophat(a: np.ndarray, k: int, bright: bool) -> np.ndarray:
    """White (bright) or black top-hat of `a` with a k x k square."""
    if not bright:
        a = -a
    eroded = sliding(sliding(a, k, 0, np.minimum), k, 1, np.minimum)
    opened = sliding(sliding(eroded, k, 0, np.maximum), k, 1, np.maximum)
    return a - opened


def pool(a: np.ndarray, f: int, op: Callable[..., np.ndarray]) -> np.ndarray:
    """Block reduction of `a` by an integer factor (the last partial block uses the edge)."""
    if f == 1:
        return a
    rows, cols = -(-a.shape[0] // f) * f, -(-a.shape[1] // f) * f
    padded = a if (rows, cols) == a.shape else np.pad(a, ((0, rows - a.shape[0]), (0, cols - a.shape[1])), mode="edge")
    out = padded[::f, ::f].copy()
    for dy in range(f):
        for dx in range(f):
            if dy or dx:
                op(out, padded[dy::f, dx::f], out=out)
    return out


def noise(a: np.ndarray) -> float:
    """Robust standard deviation of the pixel noise (median absolute horizontal difference)."""
    d = np.abs(np.diff(a[:: max(1, a.shape[0] // 256)], axis=1))
    return float(np.median(d)) * 1.4826 / np.sqrt(2.0)


def residue(image: np.ndarray, bright: bool, min_contrast: float, k: int = _OPEN) -> np.ndarray:
    """The top-hat residue of `image` (0..1) above the contrast threshold: the stroke mask."""
    hat = tophat(image, k, bright)
    return hat > max(min_contrast, 5.0 * noise(image))


def flat(a: np.ndarray) -> np.ndarray:
    """Pixels equal to at least one 8-neighbour: burned-in text is drawn at one value, while noisy
    anatomy rarely repeats a value next to itself."""
    out = np.zeros(a.shape, dtype=bool)
    for dy, dx in ((0, 1), (1, 0), (1, 1), (1, -1)):
        ys, yd = slice(0, a.shape[0] - dy), slice(dy, a.shape[0])
        xs, xd = (slice(0, a.shape[1] - dx), slice(dx, a.shape[1])) if dx >= 0 else (slice(1, None), slice(0, -1))
        same = a[ys, xs] == a[yd, xd]
        out[ys, xs] |= same
        out[yd, xd] |= same
    return out


def _glyph(h: int, w: int, pixels: int, max_h: int) -> bool:
    """A glyph, or touching glyphs forming one component (a word, along either axis)."""
    if pixels < 6 or min(h, w) < 1:
        return False
    fill = pixels / (h * w)
    if w > 1.6 * h or h > 1.6 * w:  # a word as one component, horizontal or vertical
        return _MIN_GLYPH <= min(h, w) <= max_h and 0.15 <= fill <= 0.75
    return _MIN_GLYPH <= h <= max_h and fill <= 0.8 and (fill >= 0.12 or h <= 2 * w)


def _lines(boxes: list[tuple[int, int, int, int]]) -> list[list[int]]:
    """Indices of `boxes` (y0, x0, y1, x1) linked into horizontal lines: similar heights, rows
    overlapping by half the smaller height, gaps under the taller height."""
    order = sorted(range(len(boxes)), key=lambda i: boxes[i][1])
    parent = list(range(len(boxes)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for pos, i in enumerate(order):
        y0, x0, y1, x1 = boxes[i]
        h = y1 - y0
        for j in order[pos + 1 :]:
            b0, a0, b1, a1 = boxes[j]
            g = b1 - b0
            if a0 - x1 > 1.2 * max(h, g):
                break
            if max(h, g) > 2.5 * min(h, g):
                continue
            if min(y1, b1) - max(y0, b0) >= 0.5 * min(h, g):
                parent[find(j)] = find(i)
    groups: dict[int, list[int]] = {}
    for i in range(len(boxes)):
        groups.setdefault(find(i), []).append(i)
    return sorted(groups.values())


def _extent(members: list[tuple[int, int, int, int]], vertical: bool) -> tuple[int, int, int, int]:
    """The line box: along the line, every member; across it, the band of the members of about
    the median height (a glyph merged with a taller neighbour, e.g. a device it touches, would
    otherwise stretch the line over what is not text)."""
    y0 = min(b[0] for b in members)
    x0 = min(b[1] for b in members)
    y1 = max(b[2] for b in members)
    x1 = max(b[3] for b in members)
    a, b = (1, 3) if vertical else (0, 2)
    hm = statistics.median(m[b] - m[a] for m in members)
    band = [m for m in members if m[b] - m[a] <= 1.6 * hm]
    lo, hi = min(m[a] for m in band), max(m[b] for m in band)
    return (y0, lo, y1, hi) if vertical else (lo, x0, hi, x1)


def _regular(spans: list[tuple[int, int]], along: int, height: int) -> bool:
    """A text line's look: three glyphs or more, two thirds of them of the median height and on
    a common baseline or top line (within a third of it); or one word-long component."""
    if len(spans) == 1:
        return along >= 2.5 * height
    if len(spans) < 3:
        return False
    heights = [b - a for a, b in spans]
    hm = statistics.median(heights)
    tol = max(1.0, hm / 3)
    same = [(a, b) for a, b in spans if abs((b - a) - hm) <= tol]
    if 3 * len(same) < 2 * len(spans):
        return False
    for edge in (0, 1):
        level = statistics.median(s[edge] for s in same)
        if 3 * sum(abs(s[edge] - level) <= tol for s in same) >= 2 * len(spans):
            return True
    return False


def find_candidates(rendering: Rendering, settings: PixelCleanSettings) -> list[Candidate]:
    """Text-like line regions of the frame (see the module docstring)."""
    rows, cols = rendering.display.shape
    f = max(1, -(-max(rows, cols) // settings.candidate_side))
    brightness = rendering.brightness
    low, high = float(brightness.min()), float(brightness.max())
    span = max(high - low, 1e-9)
    max_h = max(_MIN_GLYPH + 2, int(settings.max_text_height / f))
    found: set[Candidate] = set()
    clipped = float(np.mean((rendering.display[::4, ::4] <= 0.0) | (rendering.display[::4, ::4] >= 1.0))) > 0.01
    for bright in (True, False):
        op = np.maximum if bright else np.minimum
        display = pool(rendering.display, f, op).astype(np.float32)
        level = pool(brightness, f, op)
        full = ((level - low) / span).astype(np.float32)
        # Text at the frame's extreme value stays a candidate where the window hides it.
        layer = full >= 0.98 if bright else full <= 0.02
        if clipped:
            # What the window clips may hold low-contrast text: one top-hat on the mean of the
            # display and the full range sees strokes in either, at half their contrast.
            mask = residue((display + full) * 0.5, bright, settings.min_contrast * 0.5)
        else:
            mask = residue(display, bright, settings.min_contrast)
        mask &= flat(level)
        parts = components(mask, _MAX_RUNS)
        if not parts:
            continue
        glyphs = [(y0, x0, y1, x1) for y0, x0, y1, x1, n in parts if _glyph(y1 - y0, x1 - x0, n, max_h)]
        if not glyphs:
            continue
        for vertical in (False, True):
            boxes = [(b[1], b[0], b[3], b[2]) for b in glyphs] if vertical else glyphs
            for group in _lines(boxes):
                members = [glyphs[i] for i in group]
                y0, x0, y1, x1 = _extent(members, vertical)
                h, w = (x1 - x0, y1 - y0) if vertical else (y1 - y0, x1 - x0)
                inked = layer[y0:y1, x0:x1][mask[y0:y1, x0:x1]]
                extreme = bool(inked.size) and float(np.mean(inked)) > 0.5
                if len(members) == 1 and w < 1.6 * h and (vertical or not extreme):
                    continue  # a lone glyph: a horizontal candidate if at the extreme (a marker)
                box = (y0 * f, x0 * f, min(rows, y1 * f), min(cols, x1 * f))
                spans = [(b[1], b[3]) for b in members] if vertical else [(b[0], b[2]) for b in members]
                found.add(Candidate(box, bright, vertical, len(members), extreme, _regular(spans, w, h)))
    return sorted(found)


__all__ = ["Candidate", "find_candidates", "pool", "residue", "sliding", "tophat"]
