"""OCR of the text candidates of one frame: which candidates are text, and which are laterality
markers.

Contract of `CandidateReader.read(rendering, candidates)`: for every candidate, in order, a
`Reading`: `text` (tesseract read at least one confident word on it, see `_confident`) and
`marker` (every confident word is a laterality marker, read at ``glyph_min_confidence``). Each
candidate is cropped once at frame resolution and binarised: the pixels at the most common value
among its stroke pixels (top-hat residue of its polarity, repeating a neighbour's value), since
burned-in text is drawn at one value. The crop is drawn black on white, scaled to a text height
tesseract reads well, and placed on its own line of a mosaic; vertical candidates are placed
twice, turned both ways. One tesseract call reads up to ``_SLOTS`` lines, so a frame costs a few
calls at most, never one per rendering pass. `grow` then adds the candidates next to text.
The recognised text never leaves this module.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

import numpy as np
from PIL import Image

from deid.pixels.candidates import Candidate, flat, residue
from deid.pixels.ocr import Tesseract, Word, tsv_words
from deid.pixels.render import Rendering
from deid.pixels.settings import PixelCleanSettings

_HEIGHT = 32  # mosaic text height in pixels
_SLOTS = 24  # lines per tesseract call
_MAX_WIDTH = 2400  # mosaic pixels; longer lines are scaled down
_MARKER_PUNCTUATION = " .,:;-_|()[]{}'\"`"


@dataclass(frozen=True)
class Reading:
    """What OCR made of one candidate (no text kept)."""

    text: bool
    marker: bool


class CandidateReader:
    """Reads candidates with the given tesseract (see the module docstring)."""

    def __init__(self, settings: PixelCleanSettings, ocr: Tesseract) -> None:
        self.settings = settings
        self._ocr = ocr

    def crop(self, rendering: Rendering, cand: Candidate) -> np.ndarray:
        """The candidate's binarised crop, text True: burned-in text is drawn at one value, so the
        most common value among the crop's stroke pixels that repeat a neighbour's value is the
        text's, and exactly the pixels at that value are drawn (crisp glyphs, no anatomy)."""
        y0, x0, y1, x1 = cand.box
        height = (x1 - x0) if cand.vertical else (y1 - y0)
        pad = max(2, height // 3)
        rows, cols = rendering.display.shape
        ys, xs = slice(max(0, y0 - pad), min(rows, y1 + pad)), slice(max(0, x0 - pad), min(cols, x1 + pad))
        k = max(9, (height // 2) | 1)
        brightness = rendering.brightness[ys, xs]
        low, high = float(rendering.brightness.min()), float(rendering.brightness.max())
        full = ((brightness - low) / max(high - low, 1e-9)).astype(np.float32)
        strokes = residue(rendering.display[ys, xs].astype(np.float32), cand.bright, self.settings.min_contrast, k)
        strokes |= residue(full, cand.bright, self.settings.min_contrast, k)
        strokes &= flat(brightness)
        if not strokes.any():
            return strokes
        values, counts = np.unique(brightness[strokes], return_counts=True)
        return brightness == values[int(np.argmax(counts))]

    def _slots(self, mask: np.ndarray, vertical: bool) -> list[np.ndarray]:
        views = [np.rot90(mask, 1), np.rot90(mask, 3)] if vertical else [mask]
        out = []
        for view in views:
            ink = np.where(view, 0, 255).astype(np.uint8)
            h, w = ink.shape
            scale = min(_HEIGHT * 1.6 / max(h, 1), _MAX_WIDTH / max(w, 1), 8.0)
            size = (max(1, round(w * scale)), max(1, round(h * scale)))
            out.append(np.asarray(Image.fromarray(ink).resize(size, Image.Resampling.LANCZOS)))
        return out

    def read(self, rendering: Rendering, candidates: list[Candidate], *, lone_glyphs: bool = True) -> list[Reading]:
        """One Reading per candidate, in order. Without `lone_glyphs` (markers are kept anyway), a
        frame none of whose candidates looks like a line of text (`Candidate.regular`) is not read:
        the common case of an image without text costs no OCR at all."""
        if not candidates or not (lone_glyphs or any(c.regular for c in candidates)):
            return [Reading(False, False)] * len(candidates)
        owners: list[int] = []
        pieces: list[np.ndarray] = []
        for index, cand in enumerate(candidates):
            for piece in self._slots(self.crop(rendering, cand), cand.vertical):
                owners.append(index)
                pieces.append(piece)
        chunks = [list(range(i, min(i + _SLOTS, len(pieces)))) for i in range(0, len(pieces), _SLOTS)]
        mosaics = [self._mosaic([pieces[i] for i in chunk]) for chunk in chunks]
        with ThreadPoolExecutor(max_workers=max(1, min(len(mosaics), self.settings.ocr_workers))) as pool:
            tsvs = list(pool.map(lambda m: self._ocr.run(m[0], 6), mosaics))
        text = [False] * len(candidates)
        other = [False] * len(candidates)
        markers = [False] * len(candidates)
        s = self.settings
        for chunk, (_, spans), tsv in zip(chunks, mosaics, tsvs):
            for word in tsv_words(tsv, 1):
                centre = (word.box[0] + word.box[2]) / 2
                for slot, (top, bottom) in zip(chunk, spans):
                    if not top <= centre < bottom:
                        continue
                    owner = owners[slot]
                    cand = candidates[owner]
                    if word.text.strip(_MARKER_PUNCTUATION).upper() in s.laterality_markers:
                        if word.confidence >= s.glyph_min_confidence:
                            text[owner] = markers[owner] = True
                    elif cand.wordlike and _confident(word, cand, s):
                        text[owner] = other[owner] = True
                    break
        return [Reading(t, m and not o) for t, m, o in zip(text, markers, other)]

    @staticmethod
    def grow(candidates: list[Candidate], readings: list[Reading]) -> list[bool]:
        """Which candidates are text: those read as text, then, repeatedly, those next to text on
        the same line (a word or glyph OCR could not read on its own), and word-like ones on the
        line above or below a candidate read as text (a banner's line); same reading direction.
        A vertical candidate must look like a line (`Candidate.regular`): glyphs of horizontal
        lines stacked above each other form vertical groups too."""
        seeds = [r.text and not r.marker for r in readings]
        text = list(seeds)
        changed = True
        while changed:
            changed = False
            for i, cand in enumerate(candidates):
                if text[i] or readings[i].marker or (cand.vertical and not cand.regular):
                    continue
                for j, other in enumerate(candidates):
                    # A lone glyph has no reading direction of its own.
                    if not text[j] or (other.vertical != cand.vertical and cand.glyphs > 1):
                        continue
                    if _near(cand, other, 0.0) or (seeds[j] and cand.wordlike and _near(cand, other, 1.0)):
                        text[i] = changed = True
                        break
        return text

    @staticmethod
    def _mosaic(pieces: list[np.ndarray]) -> tuple[np.ndarray, list[tuple[int, int]]]:
        """Pieces on white, one per line with a blank line between; each slot's row span."""
        gap = _HEIGHT
        width = max(p.shape[1] for p in pieces) + 2 * gap
        height = sum(p.shape[0] + gap for p in pieces) + gap
        canvas = np.full((height, width), 255, dtype=np.uint8)
        spans = []
        top = gap
        for piece in pieces:
            canvas[top : top + piece.shape[0], gap : gap + piece.shape[1]] = piece
            spans.append((top - gap // 2, top + piece.shape[0] + gap // 2))
            top += piece.shape[0] + gap
        return canvas, spans


def _confident(word: Word, cand: Candidate, s: PixelCleanSettings) -> bool:
    """A word that makes its candidate text. On a candidate that looks like a line of text, three
    letters/digits at ``candidate_min_confidence`` (four digits at 40: numbers score low), two at
    ``glyph_min_confidence``; elsewhere (anatomy reads as short words up to ~75) two at
    ``glyph_min_confidence``, three on a vertical group (glyphs of stacked horizontal lines)."""
    if not cand.regular:
        return word.alnum >= (3 if cand.vertical else 2) and word.confidence >= s.glyph_min_confidence
    return (
        (word.alnum >= 3 and word.confidence >= s.candidate_min_confidence)
        or (word.alnum >= 2 and word.confidence >= s.glyph_min_confidence)
        or (sum(ch.isdigit() for ch in word.text) >= 4 and word.confidence >= 40)
    )


def _near(a: Candidate, b: Candidate, across: float) -> bool:
    """`a` within 2.5 text heights of `b` along the line and `across` heights across it (0: on
    the same line, overlapping by half a height), heights within 2.5x."""
    ha, hb = a.height, b.height
    if max(ha, hb) > 2.5 * max(1, min(ha, hb)):
        return False
    along = 2.5 * max(ha, hb)
    across = across * max(ha, hb) if across else -0.5 * min(ha, hb)
    dy, dx = (along, across) if b.vertical else (across, along)
    y0, x0, y1, x1 = b.box
    return a.box[0] < y1 + dy and a.box[2] > y0 - dy and a.box[1] < x1 + dx and a.box[3] > x0 - dx


__all__ = ["CandidateReader", "Reading"]
