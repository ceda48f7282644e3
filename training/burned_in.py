"""The project's burned-in text corpus: synthetic radiographs (training.phantoms) with text burned
into the stored pixels, each with the ground-truth glyph mask of every text, plus clean phantoms
(no text, Burned In Annotation NO) for the false-positive rate; and an OCR reader that shares no
code with deid.pixels, to count the tokens still readable after cleaning.

Contract:

* `burned_in_case(index, size)` is deterministic (same index and size, same pixels and masks).
  Cases cycle through fonts (DejaVu Sans, Serif, Mono, Sans Bold from Debian fonts-dejavu-core),
  sizes 8-40 px, angles (0, 90, 270 and small rotations), polarity (bright text; dark text on a
  bright label or on bright anatomy), contrast (the extreme stored value, or low contrast: 12 %
  of the window width off the local background), places (corners, the middle of the image over
  anatomy) and multi-line banners. Glyph masks are the drawn pixels (anti-aliasing thresholded
  at half) that differ from the pixels they cover by at least 5 % of the window width; every
  glyph pixel is set to one stored value.
* `clean_case(index, size)` is a phantom without text (CR or DX, as `make_phantom` draws it).
* `read_tokens(values)` runs the ``tesseract`` binary (stdin/stdout, no temporary files) on four
  windows of a frame, as a reader who re-windows would: the full range in both polarities and the
  darkest and brightest 2 %. `readable(tokens, words)` matches tokens against what was read.
* `score(case, after, boxes_mask)`: readable tokens left, the largest fraction of any one text's
  glyph pixels left unchanged-and-outside the boxes, and stored pixels changed outside the boxes.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont
from pydicom.dataset import Dataset

from training.phantoms import make_phantom

FONT_DIR = "/usr/share/fonts/truetype/dejavu"
FONTS = ("DejaVuSans.ttf", "DejaVuSerif.ttf", "DejaVuSansMono.ttf", "DejaVuSans-Bold.ttf")
SIZES = (8, 10, 12, 14, 16, 20, 24, 32, 40)
ANGLES = (0.0, 0.0, 90.0, 3.0, 0.0, -4.0, 270.0, 0.0)
_NAMES = ("DOE^JOHN", "SMITH^ANNA", "NGUYEN^THI", "MULLER^HANS", "GARCIA^ROSA", "OKAFOR^CHIDI")
_PLACES = ("ST MARY HOSP", "GENERAL HOSPITAL", "CITY CLINIC", "NORTH RADIOLOGY")


@dataclass(frozen=True)
class BurnedText:
    """One text drawn on a case: its tokens (upper case, 3+ characters) and glyph mask."""

    text: str
    mask: np.ndarray  # (rows, columns) bool
    tokens: tuple[str, ...]


@dataclass(frozen=True)
class BurnedInCase:
    """A corpus image: `dataset` (one frame, native Explicit VR Little Endian), `values` its stored
    values (rows, columns) and the texts burned in (empty for a clean case)."""

    name: str
    dataset: Dataset
    values: np.ndarray
    texts: tuple[BurnedText, ...]

    @property
    def tokens(self) -> tuple[str, ...]:
        return tuple(t for text in self.texts for t in text.tokens)


def font(name: str, size: int) -> ImageFont.FreeTypeFont:
    """A DejaVu font at `size` px; raises OSError when fonts-dejavu-core is not installed."""
    return ImageFont.truetype(os.path.join(FONT_DIR, name), size)


def glyph_mask(text: str, font_name: str, size: int, angle: float) -> np.ndarray:
    """Boolean mask of `text` drawn at `size` px and rotated by `angle` degrees (counter-clockwise)."""
    face = font(font_name, size)
    left, top, right, bottom = (int(v) for v in face.getbbox(text))
    canvas = Image.new("L", (right - left + 4, bottom - top + 4), 0)
    ImageDraw.Draw(canvas).text((2 - left, 2 - top), text, fill=255, font=face)
    if angle:
        canvas = canvas.rotate(angle, resample=Image.Resampling.BICUBIC, expand=True)
    mask = np.asarray(canvas) > 127
    ys, xs = np.nonzero(mask)
    return mask[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]


def _tokens(text: str) -> tuple[str, ...]:
    return tuple(t for t in text.upper().replace("^", " ").replace("/", " ").split() if len(t) >= 3)


def clean_case(index: int, size: int) -> BurnedInCase:
    """A phantom without text (CR or DX alternating), Burned In Annotation NO."""
    phantom = make_phantom(5000 + index, modality=("CR", "DX")[index % 2], rows=size, cols=size)
    ds = phantom.dataset
    return BurnedInCase(f"clean-{size}-{index}", ds, _values(ds), ())


def _values(ds: Dataset) -> np.ndarray:
    return np.asarray(ds.pixel_array, dtype=np.int64).reshape(int(ds.Rows), int(ds.Columns))


def burned_in_case(index: int, size: int) -> BurnedInCase:
    """Case `index` at `size` x `size` (see the module docstring for what varies)."""
    rng = np.random.default_rng([index, size, 10])
    phantom = make_phantom(7000 + index, modality=("CR", "DX")[index % 2], rows=size, cols=size)
    ds = phantom.dataset
    values = _values(ds)
    top = (1 << int(ds.BitsStored)) - 1
    mono1 = ds.PhotometricInterpretation == "MONOCHROME1"
    bright, dark = (0, top) if mono1 else (top, 0)
    width = float(ds.WindowWidth)
    face = FONTS[index % len(FONTS)]
    scale = size / 512
    text_size = int(SIZES[(index * 5) % len(SIZES)] * (1 if size <= 512 else rng.choice([1, 2])))
    text_size = max(8, min(40, text_size))
    angle = ANGLES[index % len(ANGLES)]
    style = ("bright", "label", "low", "bright", "over", "banner", "low", "bright")[(index // 2) % 8]
    name = _NAMES[index % len(_NAMES)]
    lines = [f"{name} {rng.integers(10**6, 10**8)}"]
    if style == "banner" or index % 3 == 0:
        lines += [f"DOB {rng.integers(1, 28):02d}/{rng.integers(1, 12):02d}/{rng.integers(1930, 2020)}"]
        lines += [_PLACES[index % len(_PLACES)]]
    # The longest line must fit inside the image with a margin on each side.
    while text_size > 8 and max(max(glyph_mask(t, face, text_size, angle).shape) for t in lines) > 0.8 * size:
        text_size -= 4
    masks = [glyph_mask(line, face, text_size, angle) for line in lines]
    corner = index % 5  # 0-3 corners, 4 the middle
    margin = int(rng.integers(4, 24) * scale) + 2
    placed: list[BurnedText] = []
    cursor = margin
    for line, mask in zip(lines, masks):
        h, w = mask.shape
        if h >= size - 2 * margin or w >= size - 2 * margin:
            continue
        vertical = abs(angle) in (90.0, 270.0)
        if corner == 4:
            y, x = size // 3 + (0 if vertical else cursor), size // 3 + (cursor if vertical else 0)
        else:
            y = cursor if corner in (0, 1) or vertical else size - margin - h - (cursor - margin)
            x = margin if corner in (0, 2) else size - margin - w
            if vertical:
                x = cursor if corner in (0, 2) else size - cursor - w
                y = margin if corner in (0, 1) else size - margin - h
        y, x = max(0, min(size - h, y)), max(0, min(size - w, x))
        cursor += (w if vertical else h) + max(3, text_size // 3)
        full = np.zeros((size, size), dtype=bool)
        full[y : y + h, x : x + w] = mask
        region = values[y : y + h, x : x + w]
        if style == "label":
            pad = max(2, text_size // 4)
            values[max(0, y - pad) : y + h + pad, max(0, x - pad) : x + w + pad] = bright
            value = dark
        elif style == "over":
            value = (
                dark if np.median(region) * (-1 if mono1 else 1) > np.median(values) * (-1 if mono1 else 1) else bright
            )
        elif style == "low":
            local = float(np.median(region))
            delta = 0.12 * width * (1 if (local < top / 2) != mono1 else -1)
            value = int(np.clip(round(local + (-delta if mono1 else delta)), 0, top))
        else:
            value = bright
        # Only glyph pixels that stand out from what they cover count: a constant-valued text
        # crossing a background of its own value is invisible there, to readers and cleaners alike.
        visible = full & (np.abs(values - value) >= 0.05 * width)
        values[full] = value
        placed.append(BurnedText(line, visible, _tokens(line)))
    ds.PixelData = values.astype("<u2").tobytes()
    ds.BurnedInAnnotation = "YES"
    label = f"{style}-{face.split('.')[0]}-{text_size}px-{angle:g}deg-{('tl', 'tr', 'bl', 'br', 'mid')[corner]}"
    return BurnedInCase(f"text-{size}-{index}-{label}", ds, values, tuple(placed))


def corpus(sizes: Iterable[int] = (512, 2048), n_text: int = 16, n_clean: int = 10) -> list[BurnedInCase]:
    """`n_text` burned-in cases and `n_clean` clean ones per size."""
    cases = []
    for size in sizes:
        cases += [burned_in_case(i, size) for i in range(n_text)]
        cases += [clean_case(i, size) for i in range(n_clean)]
    return cases


TESSERACT = shutil.which("tesseract")


def read_tokens(values: np.ndarray) -> set[str]:
    """Upper-cased words tesseract reads on one frame (stored values): the full range in both
    polarities and windows onto the darkest and brightest 2 %, upscaled 2x below 1024 px."""
    low, high = float(values.min()), float(values.max())
    p2, p98 = (float(v) for v in np.percentile(values, [2, 98]))

    def window(a: float, b: float) -> np.ndarray:
        return np.rint(np.clip((values - a) / max(1.0, b - a), 0.0, 1.0) * 255.0).astype(np.uint8)

    full = window(low, high)
    found: set[str] = set()
    for image in (full, 255 - full, window(low, p2), 255 - window(p98, high)):
        pil = Image.fromarray(image)
        if max(pil.size) < 1024:
            pil = pil.resize((pil.width * 2, pil.height * 2), Image.Resampling.LANCZOS)
        buffer = io.BytesIO()
        pil.save(buffer, format="PNG")
        done = subprocess.run(
            [TESSERACT or "tesseract", "stdin", "stdout", "--psm", "11"],
            input=buffer.getvalue(),
            capture_output=True,
            check=True,
            env=dict(os.environ, OMP_THREAD_LIMIT="1"),
        )
        found.update(done.stdout.decode("utf-8", errors="replace").upper().replace("^", " ").split())
    return found


def readable(tokens: Iterable[str], words: set[str]) -> set[str]:
    """Tokens read back: a word containing the token, or a read of 4+ characters inside it."""
    return {t for t in tokens if any(t in w or (len(w) >= 4 and w in t) for w in words)}


@dataclass(frozen=True)
class Score:
    """Of one cleaned case: tokens still readable, the largest fraction of one text's glyph pixels
    left (outside every box and unchanged), and stored pixels changed outside the boxes."""

    readable: tuple[str, ...]
    max_text_left: float
    changed_outside: int


def score(case: BurnedInCase, after: np.ndarray, inside: np.ndarray, *, read: bool = True) -> Score:
    """Score `after` (stored values, rows x columns) with `inside` the boxes' mask."""
    left = 0.0
    for text in case.texts:
        still = text.mask & ~inside & (after == case.values)
        left = max(left, float(still.sum()) / max(1, int(text.mask.sum())))
    changed = int(np.count_nonzero((after != case.values) & ~inside))
    tokens = tuple(sorted(readable(case.tokens, read_tokens(after)))) if read and case.texts else ()
    return Score(tokens, left, changed)


__all__ = [
    "FONTS",
    "BurnedInCase",
    "BurnedText",
    "Score",
    "burned_in_case",
    "clean_case",
    "corpus",
    "glyph_mask",
    "read_tokens",
    "readable",
    "score",
]
