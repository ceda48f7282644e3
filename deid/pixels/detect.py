"""Finding burned-in text on one rendered frame: the OCR passes and the rules that accept a word.

Contract of `TextFinder.find(rendering)`: the words accepted on the frame, boxes in frame pixels and
not yet padded, in a fixed order (the same images give the same words). The passes are listed in the
`TextFinder` docstring. Recognised text stays in memory: it is never logged nor put in a message.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from PIL import Image

from deid.pixels.boxes import Component, components, enclosed_glyphs
from deid.pixels.ocr import Tesseract, Word, tsv_words, upscale
from deid.pixels.render import Rendering
from deid.pixels.settings import PixelCleanSettings


class TextFinder:
    """Per frame and scan, tesseract (page segmentation 11, sparse text) reads:

    1. the display rendering (Modality LUT/rescale, first VOI window or VOI LUT, else the frame's
       range; MONOCHROME1 inverted) in both polarities. Noisy anatomy reads as short "words", so
       a word counts only at ``display_min_confidence`` with three letters/digits and at least
       ``min_text_height`` pixels, or on the same line as such a word;
    2. two text layers: pixels within ``extreme_tolerance`` of the frame's brightest and darkest
       presentation value, unwindowed (modalities burn text at an extreme value, which may be
       invisible in the stored window but visible in another), drawn black on white. A word
       counts at ``layer_strong_confidence`` (three letters/digits, text height), or from
       ``layer_min_confidence`` when corroborated: on a line with a strong word, or made of at
       least two whole glyph-sized components (saturated anatomy produces "words" on the edges
       of blobs that reach beyond the word box);
    3. glyph-sized, not solid, connected components of the layers that no word covers, one per
       line on a strip (tesseract's layout analysis drops isolated characters such as an "L"
       marker), accepted at ``glyph_min_confidence``.
    Renderings of small matrices are upscaled by an integer factor. A word needs a letter or a
    digit. Known limits: text drawn at a value that equals its background is invisible and not
    found (nor readable); text of mid-grey value shorter than three characters and not on a line
    with longer text is not found.
    """

    _GLYPH_HEIGHT = 48
    _MAX_GLYPHS = 32

    def __init__(self, settings: PixelCleanSettings, ocr: Tesseract) -> None:
        self.settings = settings
        self._ocr = ocr

    def _scale(self, shape: tuple[int, ...]) -> int:
        return max(1, min(self.settings.max_upscale, self.settings.target_side // max(shape[0], shape[1])))

    def find(self, rendering: Rendering) -> list[Word]:
        """Accepted words of one frame in frame pixels (see the class docstring for the passes)."""
        settings = self.settings
        scale = self._scale(rendering.display.shape)
        display = np.rint(rendering.display * 255.0).astype(np.uint8)
        layers = self._layers(rendering.brightness)
        images = [display, 255 - display] + [np.where(layer, 0, 255).astype(np.uint8) for layer in layers]
        with ThreadPoolExecutor(max_workers=settings.ocr_workers) as pool:
            tsvs = list(pool.map(lambda image: self._ocr.run(upscale(image, scale), 11), images))
            found = [w for tsv in tsvs[:2] for w in self._accept_display(tsv_words(tsv, scale))]
            for layer, tsv in zip(layers, tsvs[2:]):
                found += self._accept_layer(tsv_words(tsv, scale), components(layer))
            strips = [strip for layer in layers if (strip := self._glyph_strip(layer, found)) is not None]
            glyph_tsvs = list(pool.map(lambda strip: self._ocr.run(strip[0], 6), strips))
        for (_, slots), tsv in zip(strips, glyph_tsvs):
            for word in tsv_words(tsv, 1):
                if word.confidence < settings.glyph_min_confidence or not word.alnum:
                    continue
                centre = (word.box[0] + word.box[2]) / 2
                for top, bottom, box in slots:
                    if top <= centre < bottom:
                        found.append(Word(word.text, word.confidence, box))
                        break
        return found

    def _accept_display(self, words: Sequence[Word]) -> list[Word]:
        """Noisy anatomy reads as short "words", at confidences up to ~80 and often only a few
        pixels high: a word counts when it is confident, has three letters/digits and is
        text-high, or shares a line with such a word."""
        s = self.settings

        def strong(w: Word) -> bool:
            return w.confidence >= s.display_min_confidence and w.alnum >= 3 and w.height >= s.min_text_height

        strong_lines = {w.line for w in words if strong(w)}
        return [w for w in words if strong(w) or (w.alnum and w.line in strong_lines)]

    def _accept_layer(self, words: Sequence[Word], found: list[Component] | None) -> list[Word]:
        """A layer word counts when it is confident (with three letters/digits and text height),
        shares a line with such a word, or covers at least two whole glyph-sized components
        (saturated anatomy reads as words on the edges of blobs that reach beyond the box)."""
        s = self.settings

        def strong(w: Word) -> bool:
            return w.confidence >= s.layer_strong_confidence and w.alnum >= 3 and w.height >= s.min_text_height

        def glyphs(w: Word) -> bool:
            return w.height >= s.min_text_height and enclosed_glyphs(w.box, found) >= 2

        strong_lines = {w.line for w in words if strong(w)}
        return [
            w
            for w in words
            if w.alnum and w.confidence >= s.layer_min_confidence and (strong(w) or w.line in strong_lines or glyphs(w))
        ]

    def _layers(self, brightness: np.ndarray) -> list[np.ndarray]:
        low, high = float(brightness.min()), float(brightness.max())
        if high <= low:
            return []
        margin = self.settings.extreme_tolerance * (high - low)
        layers = []
        for layer in (brightness >= high - margin, brightness <= low + margin):
            if layer.any() and not layer.all():
                layers.append(layer)
        return layers

    def _glyph_strip(
        self, layer: np.ndarray, found: Sequence[Word]
    ) -> tuple[np.ndarray, list[tuple[int, int, tuple[int, int, int, int]]]] | None:
        """An image of the layer's isolated glyph-sized components not covered by a word, each
        scaled to the same height on its own line, and the strip row range of each glyph's box.
        Solid blobs (fill above 0.7: discs, bars, squares) are not glyphs worth reading."""
        residual = layer.copy()
        for word in found:
            y0, x0, y1, x1 = word.box
            residual[max(0, y0 - 2) : y1 + 2, max(0, x0 - 2) : x1 + 2] = False
        parts = components(residual)
        if not parts:
            return None
        min_h, max_h = (
            self.settings.min_text_height,
            max(self.settings.min_text_height + 2, layer.shape[0] // 6),
        )
        glyphs = []
        for y0, x0, y1, x1, pixels in parts:
            h, w = y1 - y0, x1 - x0
            if min_h <= h <= max_h and w <= 1.5 * h and pixels >= 12 and pixels <= 0.7 * h * w:
                glyphs.append((y0, x0, y1, x1))
        glyphs = glyphs[: self._MAX_GLYPHS]
        if not glyphs:
            return None
        height = self._GLYPH_HEIGHT
        pieces = []
        for y0, x0, y1, x1 in glyphs:
            margin = max(2, (y1 - y0) // 4)
            crop = residual[max(0, y0 - margin) : y1 + margin, max(0, x0 - margin) : x1 + margin]
            ink = np.where(crop, 0, 255).astype(np.uint8)
            width = max(1, round(crop.shape[1] * height / crop.shape[0]))
            pieces.append(np.asarray(Image.fromarray(ink).resize((width, height), Image.Resampling.LANCZOS)))
        # One glyph per text line, a glyph height apart: each is read on its own.
        pitch = 2 * height
        strip = np.full(
            (pitch * len(pieces) + height, max(p.shape[1] for p in pieces) + 2 * height), 255, dtype=np.uint8
        )
        slots: list[tuple[int, int, tuple[int, int, int, int]]] = []
        for k, (piece, glyph) in enumerate(zip(pieces, glyphs)):
            top = height + k * pitch
            strip[top : top + height, height : height + piece.shape[1]] = piece
            slots.append((top - height // 2, top + height + height // 2, glyph))
        return strip, slots


__all__ = ["TextFinder"]
