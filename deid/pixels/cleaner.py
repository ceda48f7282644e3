"""Clean Pixel Data (PS3.15 E.3.1 option): find burned-in text with OCR and black it out.

Contract of `PixelCleaner.clean(ds)`:

* The input dataset is never mutated; the result holds a deep copy.
* Pixels are decoded from the native transfer syntaxes (Implicit/Explicit VR Little Endian,
  Deflated, Explicit VR Big Endian) by reading the stored words directly, and from RLE Lossless
  with pydicom. Other encapsulated syntaxes are decoded when a pydicom decoder is available and
  written back as Explicit VR Little Endian (``allow_transcode``, stated in ``actions``);
  otherwise `UnsafeToClean` is raised and the caller quarantines the instance. Native and RLE
  inputs keep their transfer syntax.
* Text is searched on 8-bit renderings of every frame (see `PixelCleaner` for the passes), word
  boxes are padded and merged, and each box is set to the frame's darkest stored value as
  displayed (the minimum stored value for MONOCHROME2, the maximum for MONOCHROME1; black for
  RGB/YBR_FULL). Configured banner zones are always blacked out.
* Stored pixel values outside the returned boxes are bit-identical to the input. The only other
  change to Pixel Data: when Bits Allocated > Bits Stored, the unused high bits are set to their
  canonical form (zero, or the sign extension for signed data), because they may carry a retired
  embedded overlay (burned-in text that viewers draw on top); PS3.5 8.1.1 gives them no pixel
  value, so the stored values do not change.
* Overlay groups (60xx, all elements, also private odd 60xx groups), retired Curve groups (50xx)
  and every Icon Image Sequence (0088,0200) are removed, at any nesting depth.
* Burned In Annotation is set to NO afterwards. A YES with no text found by OCR is reported
  (`PixelResult.burned_in_not_found` and an action) and left to the caller's policy; a NO is not
  trusted (the attribute is often wrong): every image is scanned. Recognizable Visual Features
  is left alone.
* Multi-frame images are cleaned frame by frame, up to ``max_frames`` frames; more raise
  `UnsafeToClean` (OCR time grows linearly with frames).
* For the header engine (deid.header.engine): after a successful clean() its pending items
  ``clean_pixel_data`` (record it with ``mark_option_applied(ds, "clean_pixel_data")``) and
  ``embedded_overlay_bits`` (the unused bits are cleared) are done; `UnsafeToClean` is an
  `UnsafeToDeidentify`, so the caller's existing quarantine path applies.
* Deterministic: tesseract runs single-threaded per process (OMP_THREAD_LIMIT=1) and results are
  merged in a fixed order. Logs carry counts only, never recognised text.

OCR runs the Debian ``tesseract`` binary through `subprocess` rather than pytesseract: the
rendering is piped on stdin and the TSV read from stdout, so no temporary file holding patient
pixels is ever written to disk (pytesseract writes both image and result to the temp folder), the
environment (thread limit) and timeout are under our control, and there is no extra dependency.
"""

from __future__ import annotations

import copy
import io
import logging
import math
import os
import shutil
import subprocess
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.pixels import get_decoder
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import BaseTag, Tag
from pydicom.uid import (
    UID,
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from deid.errors import DeidError, UnsafeToDeidentify
from deid.pixels.settings import BannerZone, PixelCleanSettings, parse_banner_zones

LOGGER = logging.getLogger(__name__)

ICON_IMAGE_SEQUENCE = Tag(0x0088, 0x0200)
_LITTLE_ENDIAN_NATIVE = frozenset(
    {ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian}
)
_SUPPORTED_PHOTOMETRIC = frozenset({"MONOCHROME1", "MONOCHROME2", "RGB", "YBR_FULL"})
_MARKER_PUNCTUATION = " .,:;-_|()[]{}'\"`"


# --------------------------------------------------------------------------------------- errors


class PixelCleanError(DeidError):
    """Base class of the pixel stage's errors. Messages never contain recognised text."""


class UnsafeToClean(PixelCleanError, UnsafeToDeidentify):
    """This instance's pixels cannot be cleaned safely (undecodable transfer syntax, unsupported
    pixel layout, too many frames, float pixel data). The caller must quarantine it."""


class OcrError(PixelCleanError):
    """Tesseract is missing, failed or timed out: an environment fault, not the instance's."""


# --------------------------------------------------------------------------------------- result


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


@dataclass(frozen=True)
class PixelResult:
    """The cleaned copy, the boxes blacked out and a human-readable, patient-data-free list of
    what was done. `burned_in_not_found` is True when the input said Burned In Annotation YES
    but OCR found no text (zones do not count): the caller's policy decides."""

    dataset: Dataset
    boxes: tuple[Box, ...]
    actions: tuple[str, ...]
    burned_in_not_found: bool = False


# --------------------------------------------------------------------------------------- pixels


@dataclass(frozen=True)
class _Layout:
    rows: int
    columns: int
    frames: int
    samples: int
    bits_allocated: int
    bits_stored: int
    signed: bool
    photometric: str
    planar: int
    big_endian: bool = False

    @classmethod
    def of(cls, ds: Dataset, big_endian: bool = False) -> _Layout:
        try:
            layout = cls(
                rows=int(ds.Rows),
                columns=int(ds.Columns),
                frames=int(ds.get("NumberOfFrames", 1) or 1),
                samples=int(ds.get("SamplesPerPixel", 1) or 1),
                bits_allocated=int(ds.BitsAllocated),
                bits_stored=int(ds.get("BitsStored", ds.BitsAllocated)),
                signed=int(ds.get("PixelRepresentation", 0) or 0) == 1,
                photometric=str(ds.PhotometricInterpretation).strip().upper(),
                planar=int(ds.get("PlanarConfiguration", 0) or 0),
                big_endian=big_endian,
            )
            high_bit = int(ds.get("HighBit", layout.bits_stored - 1))
        except (AttributeError, TypeError, ValueError) as exc:
            raise UnsafeToClean(
                f"Image Pixel module incomplete or malformed ({type(exc).__name__})"
            ) from None
        if layout.photometric not in _SUPPORTED_PHOTOMETRIC:
            raise UnsafeToClean(f"Photometric Interpretation {layout.photometric} is not supported")
        if layout.samples != (1 if layout.photometric.startswith("MONOCHROME") else 3):
            raise UnsafeToClean(f"Samples per Pixel {layout.samples} does not fit {layout.photometric}")
        if layout.bits_allocated not in (8, 16, 32):
            raise UnsafeToClean(f"Bits Allocated {layout.bits_allocated} is not supported")
        if not 1 <= layout.bits_stored <= layout.bits_allocated or high_bit != layout.bits_stored - 1:
            raise UnsafeToClean("Bits Stored / High Bit layout is not supported")
        if layout.rows < 1 or layout.columns < 1 or layout.frames < 1:
            raise UnsafeToClean("empty pixel matrix")
        return layout

    @property
    def frame_words(self) -> int:
        return self.rows * self.columns * self.samples


def _words(pixel_bytes: bytes, layout: _Layout) -> tuple[np.ndarray, np.ndarray, bytes]:
    """The stored words as a writable flat array, a (frames, rows, columns, samples) view on it
    and the bytes after the pixel words (padding), which are kept as they are."""
    itemsize = layout.bits_allocated // 8
    dtype = np.dtype(f"{'>' if layout.big_endian else '<'}u{itemsize}")
    count = layout.frames * layout.frame_words
    if len(pixel_bytes) < count * itemsize:
        raise UnsafeToClean("Pixel Data is shorter than the Image Pixel module declares")
    flat = np.frombuffer(pixel_bytes, dtype=dtype, count=count).copy()
    if layout.samples > 1 and layout.planar == 1:
        view = np.moveaxis(flat.reshape(layout.frames, layout.samples, layout.rows, layout.columns), 1, -1)
    else:
        view = flat.reshape(layout.frames, layout.rows, layout.columns, layout.samples)
    return flat, view, pixel_bytes[count * itemsize :]


def _stored_values(words: np.ndarray, layout: _Layout) -> np.ndarray:
    """Pixel values (int64) of stored words: the low Bits Stored bits, sign-extended if signed."""
    values = words.astype(np.int64) & ((1 << layout.bits_stored) - 1)
    if layout.signed:
        sign = 1 << (layout.bits_stored - 1)
        values = (values ^ sign) - sign
    return values


def _canonical_words(words: np.ndarray, layout: _Layout) -> np.ndarray:
    """Words whose unused bits are zero (unsigned) or the sign extension (signed)."""
    values = _stored_values(words, layout)
    return (values & ((1 << layout.bits_allocated) - 1)).astype(words.dtype)


# ------------------------------------------------------------------------------------ rendering


def _functional_item(ds: Dataset, frame: int, sequence: str) -> Dataset | None:
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


def _first(value: Any) -> float:
    if isinstance(value, (list, tuple, MultiValue)):
        value = value[0]
    return float(value)


@dataclass(frozen=True)
class _Rendering:
    """One frame seen as displayed: `display` in 0..1 (1 = white), `brightness` the unwindowed
    presentation value (higher = brighter) and the stored word that displays darkest."""

    display: np.ndarray
    brightness: np.ndarray
    black: np.ndarray  # one word per sample


def _render(ds: Dataset, layout: _Layout, frame: int, words: np.ndarray) -> _Rendering:
    values = _stored_values(words, layout)
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
        return _Rendering(display, luma, black)

    grey = values[..., 0]
    presentation = _modality(ds, layout, frame, grey)
    brightness = -presentation if layout.photometric == "MONOCHROME1" else presentation
    darkest = np.unravel_index(int(np.argmin(brightness)), brightness.shape)
    black = np.array([words[darkest][0]], dtype=words.dtype)
    display = _voi(ds, layout, frame, presentation)
    if layout.photometric == "MONOCHROME1":
        display = 1.0 - display
    return _Rendering(display, brightness, black)


def _lut(item: Dataset, x: np.ndarray, big_endian: bool) -> tuple[np.ndarray, float] | None:
    """Apply a LUT item (LUT Descriptor + LUT Data, PS3.3 C.11.1.1.1 / C.11.2.1.1) to values
    `x`: inputs below the first mapped value take the first entry, above the last the last.
    Returns the mapped values and the table's largest entry; None when the item is malformed
    (the caller falls back)."""
    try:
        entries, first, bits = (int(v) for v in item.LUTDescriptor)
        data = item.LUTData
        if isinstance(data, (bytes, bytearray)):
            table = np.frombuffer(data, dtype=">u2" if big_endian else "<u2").astype(np.float64)
        else:
            table = np.asarray(
                data if isinstance(data, (list, tuple, MultiValue)) else [data], dtype=np.float64
            )
    except (AttributeError, TypeError, ValueError):
        return None
    entries = entries or 65536
    if bits <= 0 or table.size == 0:
        return None
    table = table[:entries]
    index = np.clip(np.rint(x) - first, 0, table.size - 1).astype(np.int64)
    return table[index], float(table.max())


def _modality(ds: Dataset, layout: _Layout, frame: int, values: np.ndarray) -> np.ndarray:
    if ds.get("ModalityLUTSequence"):
        mapped = _lut(ds.ModalityLUTSequence[0], values, layout.big_endian)
        if mapped is not None:
            return mapped[0]
        LOGGER.debug("Modality LUT Sequence unusable; using the stored values")
    item = _functional_item(ds, frame, "PixelValueTransformationSequence") or ds
    slope = _first(item.get("RescaleSlope", 1) or 1)
    intercept = _first(item.get("RescaleIntercept", 0) or 0)
    return values.astype(np.float64) * slope + intercept


def _voi(ds: Dataset, layout: _Layout, frame: int, presentation: np.ndarray) -> np.ndarray:
    """The first VOI transform of the frame, mapped to 0..1; min/max of the frame when none."""
    item = _functional_item(ds, frame, "FrameVOILUTSequence") or ds
    if item is ds and ds.get("VOILUTSequence"):
        mapped = _lut(ds.VOILUTSequence[0], presentation, layout.big_endian)
        if mapped is not None and mapped[1] > 0:
            # Scaled by the table's own maximum: descriptors often overstate the bit depth.
            return np.clip(mapped[0] / mapped[1], 0.0, 1.0)
        LOGGER.debug("VOI LUT Sequence unusable; falling back to the window or the frame's range")
    center = item.get("WindowCenter")
    width = item.get("WindowWidth")
    if center is not None and width is not None and str(center) != "" and str(width) != "":
        try:
            c, w = _first(center), _first(width)
            function = str(item.get("VOILUTFunction", "LINEAR") or "LINEAR").upper()
        except (TypeError, ValueError, IndexError):
            c, w, function = 0.0, 0.0, "LINEAR"
        x = presentation
        if function == "SIGMOID" and w > 0:
            return 1.0 / (1.0 + np.exp(-4.0 * (x - c) / w))
        if function == "LINEAR_EXACT" and w > 0:
            return np.clip((x - c) / w + 0.5, 0.0, 1.0)
        if function not in ("SIGMOID", "LINEAR_EXACT") and w >= 1:
            if w == 1:
                return (x > c - 0.5).astype(np.float64)
            return np.clip((x - (c - 0.5)) / (w - 1) + 0.5, 0.0, 1.0)
    low, high = float(presentation.min()), float(presentation.max())
    if high <= low:
        return np.zeros(presentation.shape, dtype=np.float64)
    return (presentation - low) / (high - low)


# ------------------------------------------------------------------------------------------ OCR


@dataclass(frozen=True)
class _Word:
    text: str  # kept in memory only, never logged
    confidence: float
    box: tuple[int, int, int, int]  # y0, x0, y1, x1 in frame pixels (strip pixels for glyphs)
    line: tuple[str, ...] = ()  # tesseract's (block, paragraph, line) numbers

    @property
    def height(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def alnum(self) -> int:
        return sum(ch.isalnum() for ch in self.text)


def _tsv_words(tsv: str, scale: int) -> list[_Word]:
    """Word rows (level 5) of tesseract's TSV, boxes divided by `scale` (rounded outwards)."""
    words = []
    for line in tsv.splitlines()[1:]:
        parts = line.split("\t", 11)
        if len(parts) != 12 or parts[0] != "5":
            continue
        text = parts[11].strip()
        try:
            left, top, width, height = (int(p) for p in parts[6:10])
            conf = float(parts[10])
        except ValueError:
            continue
        if not text or conf < 0:
            continue
        box = (top // scale, left // scale, -(-(top + height) // scale), -(-(left + width) // scale))
        words.append(_Word(text, conf, box, tuple(parts[2:5])))
    return words


#: (y0, x0, y1, x1, pixel count) of a connected component, half-open.
_Component = tuple[int, int, int, int, int]


def _components(mask: np.ndarray, max_runs: int = 200_000) -> list[_Component] | None:
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


class _Tesseract:
    def __init__(self, settings: PixelCleanSettings) -> None:
        self._settings = settings
        self._env = dict(os.environ, OMP_THREAD_LIMIT="1")

    def executable(self) -> str:
        exe = shutil.which(self._settings.tesseract)
        if exe is None:
            raise OcrError(f"tesseract not found ({self._settings.tesseract})")
        return exe

    def run(self, image: np.ndarray, psm: int) -> str:
        """TSV of tesseract on an 8-bit greyscale image, passed on stdin (never written to disk)."""
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PPM")  # binary PGM for mode L
        cmd = [
            self.executable(),
            "stdin",
            "stdout",
            "-l",
            self._settings.language,
            "--oem",
            "1",
            "--psm",
            str(psm),
            "tsv",
        ]
        try:
            done = subprocess.run(
                cmd,
                input=buffer.getvalue(),
                capture_output=True,
                env=self._env,
                timeout=self._settings.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise OcrError(f"tesseract timed out after {self._settings.timeout_s} s") from None
        except OSError as exc:
            raise OcrError(f"tesseract could not be started ({type(exc).__name__})") from None
        if done.returncode != 0:
            raise OcrError(f"tesseract exited with status {done.returncode}")
        return done.stdout.decode("utf-8", errors="replace")


def _upscale(image: np.ndarray, scale: int) -> np.ndarray:
    if scale == 1:
        return image
    height, width = image.shape
    return np.asarray(
        Image.fromarray(image).resize((width * scale, height * scale), Image.Resampling.LANCZOS)
    )


# --------------------------------------------------------------------------------------- cleaner


class PixelCleaner:
    """Finds burned-in text and blacks it out; see the module docstring for the contract.

    Per frame and scan, tesseract (page segmentation 11, sparse text) reads:
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
    digit; laterality markers are kept on request. Known limits: text drawn at a value that
    equals its background is invisible and not found (nor readable); text of mid-grey value
    shorter than three characters and not on a line with longer text is not found.
    """

    def __init__(self, settings: PixelCleanSettings | None = None) -> None:
        self.settings = settings if settings is not None else PixelCleanSettings()
        self._ocr = _Tesseract(self.settings)

    def check_ocr(self) -> str:
        """Run tesseract once on a blank image; returns its path. Raises OcrError when unusable
        (call at start-up to fail early)."""
        self._ocr.run(np.full((32, 32), 255, dtype=np.uint8), 11)
        return self._ocr.executable()

    def clean(self, ds: Dataset, *, keep_laterality_markers: bool = True) -> PixelResult:
        """Return a cleaned deep copy of `ds`; raises UnsafeToClean or OcrError."""
        out = copy.deepcopy(ds)
        actions: list[str] = []
        self._strip_overlays_and_icons(out, actions)
        for keyword in ("FloatPixelData", "DoubleFloatPixelData"):
            if keyword in out:
                raise UnsafeToClean(f"{keyword} cannot be cleaned")
        if "PixelData" not in out:
            actions.append("no Pixel Data: nothing to scan")
            return PixelResult(out, (), tuple(actions))

        syntax = self._transfer_syntax(out)
        reencode = self._decode_to_native(out, syntax, actions)
        layout = _Layout.of(out, big_endian=syntax == ExplicitVRBigEndian)
        if layout.frames > self.settings.max_frames:
            raise UnsafeToClean(f"{layout.frames} frames exceed max_frames={self.settings.max_frames}")
        flat, view, tail = _words(bytes(out.PixelData), layout)

        if layout.bits_allocated > layout.bits_stored:
            canonical = _canonical_words(flat, layout)
            changed = int(np.count_nonzero(canonical != flat))
            if changed:
                flat[:] = canonical
                actions.append(f"cleared unused high bits (above Bits Stored) in {changed} pixel samples")

        zones = [z for z in self.settings.banner_zones if z.applies_to(out)]
        boxes: list[Box] = []
        kept = 0
        for frame in range(layout.frames):
            frame_boxes, frame_kept = self._clean_frame(
                out, layout, frame, view[frame], zones, keep_laterality_markers
            )
            boxes.extend(frame_boxes)
            kept += frame_kept

        out.PixelData = flat.tobytes() + tail
        if reencode == RLELossless:
            try:
                out.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
            except Exception as exc:  # noqa: BLE001 - pydicom encoders raise many types
                raise UnsafeToClean(f"RLE re-encoding failed ({type(exc).__name__})") from None

        ocr_boxes = [b for b in boxes if b.source == "ocr"]
        zone_boxes = [b for b in boxes if b.source == "zone"]
        if ocr_boxes:
            actions.append(f"blacked out {len(ocr_boxes)} text region(s) found by OCR")
        if zone_boxes:
            actions.append(f"blacked out {len(zone_boxes)} configured banner zone region(s)")
        if kept:
            actions.append(f"kept {kept} laterality marker(s)")
        declared = str(ds.get("BurnedInAnnotation", "") or "").strip().upper()
        not_found = declared == "YES" and not ocr_boxes
        if not_found:
            actions.append("Burned In Annotation was YES but OCR found no text")
        elif declared == "NO" and ocr_boxes:
            actions.append("Burned In Annotation was NO but OCR found text")
        out.BurnedInAnnotation = "NO"
        actions.append("set Burned In Annotation to NO")
        LOGGER.info(
            "pixel clean: frames=%d ocr_boxes=%d zone_boxes=%d kept_markers=%d",
            layout.frames,
            len(ocr_boxes),
            len(zone_boxes),
            kept,
        )
        return PixelResult(out, tuple(sorted(boxes)), tuple(actions), not_found)

    # ---------------------------------------------------------------------------- transfer syntax

    @staticmethod
    def _transfer_syntax(ds: Dataset) -> UID:
        meta = getattr(ds, "file_meta", None)
        syntax = meta.get("TransferSyntaxUID") if meta is not None else None
        if not syntax:
            raise UnsafeToClean("no Transfer Syntax UID in the file meta information")
        return UID(str(syntax))

    def _decode_to_native(self, ds: Dataset, syntax: UID, actions: list[str]) -> UID | None:
        """Decode encapsulated Pixel Data in place. Returns the syntax to re-encode to (RLE),
        the native syntax it stays in, or None after a transcode to Explicit VR Little Endian."""
        if syntax in _LITTLE_ENDIAN_NATIVE or syntax == ExplicitVRBigEndian:
            return syntax
        if not syntax.is_encapsulated:
            raise UnsafeToClean(f"transfer syntax {syntax} is not supported")
        if syntax != RLELossless and not self.settings.allow_transcode:
            raise UnsafeToClean(f"{syntax.name}: cannot re-encode and allow_transcode is off")
        try:
            decoder = get_decoder(syntax)
        except NotImplementedError:
            decoder = None
        if decoder is None or not decoder.is_available:
            raise UnsafeToClean(f"{syntax.name}: no pixel decoder available")
        # Decoding options a caller set on its dataset were copied along; back to the defaults.
        ds.pixel_array_options()
        try:
            # RLE stays RLE, so its colour space must not change; lossy codecs go to RGB.
            ds.decompress(as_rgb=syntax != RLELossless, generate_instance_uid=False)
        except Exception as exc:  # noqa: BLE001 - decoders raise RuntimeError, ValueError, OSError, ...
            raise UnsafeToClean(
                f"{syntax.name}: pixel data could not be decoded ({type(exc).__name__})"
            ) from None
        if syntax == RLELossless:
            return RLELossless
        actions.append(f"transcoded {syntax.name} to Explicit VR Little Endian (only RLE is re-encoded)")
        return None

    # ----------------------------------------------------------------------------- header parts

    @staticmethod
    def _strip_overlays_and_icons(ds: Dataset, actions: list[str]) -> None:
        overlay_groups: set[int] = set()
        curve_groups: set[int] = set()
        icons = 0

        def walk(item: Dataset) -> None:
            nonlocal icons
            doomed: list[BaseTag] = []
            for elem in item:
                group = elem.tag.group
                if group & 0xFF00 == 0x6000:
                    overlay_groups.add(group)
                    doomed.append(elem.tag)
                elif group & 0xFF00 == 0x5000:
                    curve_groups.add(group)
                    doomed.append(elem.tag)
                elif elem.tag == ICON_IMAGE_SEQUENCE:
                    icons += 1
                    doomed.append(elem.tag)
                elif elem.VR == "SQ" and isinstance(elem.value, DicomSequence):
                    for child in elem.value:
                        walk(child)
            for tag in doomed:
                del item[tag]

        walk(ds)
        if overlay_groups:
            names = ", ".join(f"{g:04X}" for g in sorted(overlay_groups))
            actions.append(f"removed overlay group(s) {names}")
        if curve_groups:
            actions.append(f"removed {len(curve_groups)} retired curve group(s)")
        if icons:
            actions.append(f"removed {icons} Icon Image Sequence(s)")

    # -------------------------------------------------------------------------------- per frame

    def _clean_frame(
        self,
        ds: Dataset,
        layout: _Layout,
        frame: int,
        words: np.ndarray,
        zones: Sequence[BannerZone],
        keep_markers: bool,
    ) -> tuple[list[Box], int]:
        """Black out zones and text in `words` (a writable view on the frame). Returns the boxes
        and the number of laterality markers kept in the first scan."""
        black = _render(ds, layout, frame, words).black
        boxes: list[Box] = []
        for zone in zones:
            y0, x0, y1, x1 = zone.pixel_box(layout.rows, layout.columns)
            words[y0:y1, x0:x1] = black
            boxes.append(Box(frame, y0, x0, y1, x1, "zone"))

        kept: list[tuple[int, int, int, int]] = []
        for scan in range(self.settings.max_rounds):
            rendering = _render(ds, layout, frame, words)
            found = self._find_words(rendering)
            redact: list[tuple[int, int, int, int]] = []
            for word in found:
                if (
                    keep_markers
                    and word.text.strip(_MARKER_PUNCTUATION).upper() in self.settings.laterality_markers
                ):
                    if scan == 0:
                        kept.append(word.box)
                    continue
                redact.append(self._pad(word.box, layout))
            redact = merge_boxes(redact)
            # Already black: nothing new to hide, and a rescan would only repeat itself.
            redact = [b for b in redact if not np.all(words[b[0] : b[2], b[1] : b[3]] == black)]
            if not redact:
                break
            for y0, x0, y1, x1 in redact:
                words[y0:y1, x0:x1] = black
                boxes.append(Box(frame, y0, x0, y1, x1, "ocr"))
        ocr = merge_boxes((b.y0, b.x0, b.y1, b.x1) for b in boxes if b.source == "ocr")
        # Several passes may read the same marker: count places, not reads.
        return [b for b in boxes if b.source == "zone"] + [Box(frame, *b, "ocr") for b in ocr], len(
            merge_boxes(kept)
        )

    def _pad(self, box: tuple[int, int, int, int], layout: _Layout) -> tuple[int, int, int, int]:
        y0, x0, y1, x1 = box
        pad = max(self.settings.pad_px, math.ceil(self.settings.pad_fraction * (y1 - y0)))
        return (max(0, y0 - pad), max(0, x0 - pad), min(layout.rows, y1 + pad), min(layout.columns, x1 + pad))

    def _scale(self, shape: tuple[int, ...]) -> int:
        return max(1, min(self.settings.max_upscale, self.settings.target_side // max(shape[0], shape[1])))

    def _find_words(self, rendering: _Rendering) -> list[_Word]:
        """Accepted words of one frame in frame pixels (see the class docstring for the passes)."""
        settings = self.settings
        scale = self._scale(rendering.display.shape)
        display = np.rint(rendering.display * 255.0).astype(np.uint8)
        layers = self._layers(rendering.brightness)
        images = [display, 255 - display] + [np.where(layer, 0, 255).astype(np.uint8) for layer in layers]
        with ThreadPoolExecutor(max_workers=settings.ocr_workers) as pool:
            tsvs = list(pool.map(lambda image: self._ocr.run(_upscale(image, scale), 11), images))
            found = [w for tsv in tsvs[:2] for w in self._accept_display(_tsv_words(tsv, scale))]
            for layer, tsv in zip(layers, tsvs[2:]):
                found += self._accept_layer(_tsv_words(tsv, scale), _components(layer))
            strips = [strip for layer in layers if (strip := self._glyph_strip(layer, found)) is not None]
            glyph_tsvs = list(pool.map(lambda strip: self._ocr.run(strip[0], 6), strips))
        for (_, slots), tsv in zip(strips, glyph_tsvs):
            for word in _tsv_words(tsv, 1):
                if word.confidence < settings.glyph_min_confidence or not word.alnum:
                    continue
                centre = (word.box[0] + word.box[2]) / 2
                for top, bottom, box in slots:
                    if top <= centre < bottom:
                        found.append(_Word(word.text, word.confidence, box))
                        break
        return found

    def _accept_display(self, words: Sequence[_Word]) -> list[_Word]:
        """Noisy anatomy reads as short "words", at confidences up to ~80 and often only a few
        pixels high: a word counts when it is confident, has three letters/digits and is
        text-high, or shares a line with such a word."""
        s = self.settings

        def strong(w: _Word) -> bool:
            return w.confidence >= s.display_min_confidence and w.alnum >= 3 and w.height >= s.min_text_height

        strong_lines = {w.line for w in words if strong(w)}
        return [w for w in words if strong(w) or (w.alnum and w.line in strong_lines)]

    def _accept_layer(self, words: Sequence[_Word], components: list[_Component] | None) -> list[_Word]:
        """A layer word counts when it is confident (with three letters/digits and text height),
        shares a line with such a word, or covers at least two whole glyph-sized components
        (saturated anatomy reads as words on the edges of blobs that reach beyond the box)."""
        s = self.settings

        def strong(w: _Word) -> bool:
            return (
                w.confidence >= s.layer_strong_confidence and w.alnum >= 3 and w.height >= s.min_text_height
            )

        def glyphs(w: _Word) -> bool:
            return w.height >= s.min_text_height and _enclosed_glyphs(w.box, components) >= 2

        strong_lines = {w.line for w in words if strong(w)}
        return [
            w
            for w in words
            if w.alnum
            and w.confidence >= s.layer_min_confidence
            and (strong(w) or w.line in strong_lines or glyphs(w))
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

    _GLYPH_HEIGHT = 48
    _MAX_GLYPHS = 32

    def _glyph_strip(
        self, layer: np.ndarray, found: Sequence[_Word]
    ) -> tuple[np.ndarray, list[tuple[int, int, tuple[int, int, int, int]]]] | None:
        """An image of the layer's isolated glyph-sized components not covered by a word, each
        scaled to the same height on its own line, and the strip row range of each glyph's box.
        Solid blobs (fill above 0.7: discs, bars, squares) are not glyphs worth reading."""
        residual = layer.copy()
        for word in found:
            y0, x0, y1, x1 = word.box
            residual[max(0, y0 - 2) : y1 + 2, max(0, x0 - 2) : x1 + 2] = False
        components = _components(residual)
        if not components:
            return None
        min_h, max_h = (
            self.settings.min_text_height,
            max(self.settings.min_text_height + 2, layer.shape[0] // 6),
        )
        glyphs = []
        for y0, x0, y1, x1, pixels in components:
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


def _enclosed_glyphs(box: tuple[int, int, int, int], components: list[_Component] | None) -> int:
    """How many components at least 45 % as high as `box` lie inside it (grown by 2 px), provided
    the components inside hold at least 80 % of the ink of all components touching it; else 0."""
    if not components:
        return 0
    y0, x0, y1, x1 = box[0] - 2, box[1] - 2, box[2] + 2, box[3] + 2
    touching = inside = enclosed = 0
    for cy0, cx0, cy1, cx1, pixels in components:
        if cy0 >= y1 or cy1 <= y0 or cx0 >= x1 or cx1 <= x0:
            continue
        touching += pixels
        if cy0 >= y0 and cx0 >= x0 and cy1 <= y1 and cx1 <= x1:
            inside += pixels
            enclosed += (cy1 - cy0) * 20 >= (y1 - y0 - 4) * 9
    return enclosed if touching and inside >= 0.8 * touching else 0


def boxes_mask(boxes: Iterable[Box], frames: int, rows: int, columns: int) -> np.ndarray:
    """Boolean (frames, rows, columns) mask of the pixels inside `boxes` (for callers and tests)."""
    mask = np.zeros((frames, rows, columns), dtype=bool)
    for box in boxes:
        mask[box.frame, box.y0 : box.y1, box.x0 : box.x1] = True
    return mask


__all__ = [
    "BannerZone",
    "Box",
    "OcrError",
    "PixelCleanError",
    "PixelCleanSettings",
    "PixelCleaner",
    "PixelResult",
    "UnsafeToClean",
    "boxes_mask",
    "merge_boxes",
    "parse_banner_zones",
]
