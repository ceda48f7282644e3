"""Clean Pixel Data (PS3.15 E.3.1 option): find burned-in text and black it out.

Contract of `PixelCleaner.clean(ds)`:

* The input dataset is never mutated; the result holds a deep copy.
* Pixels are decoded from the native transfer syntaxes (Implicit/Explicit VR Little Endian,
  Deflated, Explicit VR Big Endian) by reading the stored words directly, and from RLE Lossless
  with pydicom. Other encapsulated syntaxes are decoded when a pydicom decoder is available and
  written back as Explicit VR Little Endian (``allow_transcode``, stated in ``actions``);
  otherwise `UnsafeToClean` is raised and the caller quarantines the instance. Native and RLE
  inputs keep their transfer syntax.
* Text is found in two steps per frame (``detector = "candidates"``, the default): cheap
  candidates without OCR (deid.pixels.candidates: top-hat strokes at one repeated value, glyph-
  sized components linked into lines), then one OCR read of each candidate's crop, all crops of a
  frame on a few mosaics (deid.pixels.verify). A frame with no line-like candidate costs no OCR.
  A candidate is text when OCR reads a confident word on it, or when it lies on the same line as
  text (or is a word-like line just above or below a line read as text). Each text candidate's
  whole line box is blacked out with a margin (max(pad_px, pad_fraction x text height) across
  the line, twice that along it): a word is never partly masked. Boxes are merged and set to the
  frame's darkest stored value as displayed (the minimum stored value for MONOCHROME2, the
  maximum for MONOCHROME1; black for RGB/YBR_FULL). Configured banner zones are always blacked
  out. ``detector = "ocr_passes"`` keeps the former whole-frame OCR passes (deid.pixels.legacy),
  as the benchmark's baseline.
* Stored pixel values outside the returned boxes are bit-identical to the input. The only other
  change to Pixel Data: when Bits Allocated > Bits Stored, the unused high bits are set to their
  canonical form (zero, or the sign extension for signed data), because they may carry a retired
  embedded overlay (burned-in text that viewers draw on top); PS3.5 8.1.1 gives them no pixel
  value, so the stored values do not change.
* Overlay groups (60xx, all elements, also private odd 60xx groups), retired Curve groups (50xx)
  and every Icon Image Sequence (0088,0200) are removed, at any nesting depth.
* Burned In Annotation is set to NO afterwards. A YES with no text found by OCR is reported
  (`PixelResult.burned_in_not_found` and an action) and left to the caller's policy. A NO is
  not trusted (the attribute is often wrong) unless the site's policy trusts the equipment
  (``trust_burned_in_no``: "none" by default, "all", or manufacturer/model matches): then the
  text search is skipped, `PixelResult.text_searched` is False and an action says so; zones,
  overlays, icons and unused bits are still handled. For the PS3.15 record, the Clean Pixel
  Data option was then applied on the strength of the header, not of a search. Recognizable
  Visual Features is left alone.
* Laterality markers (a lone glyph read as one of ``laterality_markers``) are kept when asked,
  and counted where the frame was read (a frame whose only candidates are lone glyphs is not read
  when markers are kept: they would be kept anyway); with keep_laterality_markers off every lone
  glyph is read and markers are blacked out like text.
* Multi-frame images are cleaned frame by frame, up to ``max_frames`` frames; more raise
  `UnsafeToClean` (OCR time grows linearly with frames).
* For the header engine (deid.header.engine): after a successful clean() its pending items
  ``clean_pixel_data`` (record it with ``mark_option_applied(ds, "clean_pixel_data")``) and
  ``embedded_overlay_bits`` (the unused bits are cleared) are done; `UnsafeToClean` is an
  `UnsafeToDeidentify`, so the caller's existing quarantine path applies.
* Deterministic: tesseract runs single-threaded per process (OMP_THREAD_LIMIT=1), candidates and
  mosaics are built in a fixed order and results are merged in a fixed order. Logs carry counts
  only, never recognised text.
* OCR is bounded process-wide: at most ``ocr_workers`` tesseract processes run at once over all
  cleaners (deid.pixels.ocr.OCR_GATE); tesseract is only needed when a frame has candidates, so
  callers run `check_ocr` at start-up to fail early.

OCR runs the Debian ``tesseract`` binary through `subprocess` rather than pytesseract: the
rendering is piped on stdin and the TSV read from stdout, so no temporary file holding patient
pixels is ever written to disk (pytesseract writes both image and result to the temp folder), the
environment (thread limit) and timeout are under our control, and there is no extra dependency.

The module layout: `deid.pixels.layout` (Image Pixel module, stored words), `deid.pixels.render`
(renderings through `runtime.grayscale`), `deid.pixels.ocr` (tesseract and its bound),
`deid.pixels.candidates` (text candidates without OCR), `deid.pixels.verify` (OCR of the
candidates), `deid.pixels.detect` and `deid.pixels.legacy` (the former OCR passes),
`deid.pixels.boxes` (box geometry); this module decodes, strips the header parts, blacks out and
reports.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from pydicom.dataset import Dataset
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

from deid.pixels.boxes import Box, merge_boxes
from deid.pixels.candidates import find_candidates
from deid.pixels.detect import TextFinder
from deid.pixels.errors import UnsafeToClean
from deid.pixels.layout import Layout, canonical_words, read_words
from deid.pixels.legacy import ocr_passes_frame, pad_box
from deid.pixels.ocr import Tesseract
from deid.pixels.render import render
from deid.pixels.settings import BannerZone, PixelCleanSettings
from deid.pixels.verify import CandidateReader

LOGGER = logging.getLogger(__name__)

ICON_IMAGE_SEQUENCE = Tag(0x0088, 0x0200)
_LITTLE_ENDIAN_NATIVE = frozenset({ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian})


@dataclass(frozen=True)
class PixelResult:
    """The cleaned copy, the boxes blacked out and a human-readable, patient-data-free list of
    what was done. `burned_in_not_found` is True when the input said Burned In Annotation YES
    but OCR found no text (zones do not count): the caller's policy decides. `text_searched` is
    False when a trusted Burned In Annotation NO skipped the text search (zones, overlays, icons
    and unused bits were still handled)."""

    dataset: Dataset
    boxes: tuple[Box, ...]
    actions: tuple[str, ...]
    burned_in_not_found: bool = False
    text_searched: bool = True


class PixelCleaner:
    """Finds burned-in text and blacks it out; see the module docstring for the contract,
    `deid.pixels.candidates` and `deid.pixels.verify` for the default detector and
    `deid.pixels.legacy` for the former one. Laterality markers are kept on request
    (``laterality_markers``). One cleaner may serve several threads."""

    def __init__(self, settings: PixelCleanSettings | None = None) -> None:
        self.settings = settings if settings is not None else PixelCleanSettings()
        self._ocr = Tesseract(self.settings)
        self._finder = TextFinder(self.settings, self._ocr)
        self._reader = CandidateReader(self.settings, self._ocr)

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
        layout = Layout.of(out, big_endian=syntax == ExplicitVRBigEndian)
        if layout.frames > self.settings.max_frames:
            raise UnsafeToClean(f"{layout.frames} frames exceed max_frames={self.settings.max_frames}")
        # A zero-length Pixel Data element reads as None: refused below as shorter than declared.
        flat, view, tail = read_words(bytes(out.PixelData or b""), layout)

        if layout.bits_allocated > layout.bits_stored:
            canonical = canonical_words(flat, layout)
            changed = int(np.count_nonzero(canonical != flat))
            if changed:
                flat[:] = canonical
                actions.append(f"cleared unused high bits (above Bits Stored) in {changed} pixel samples")

        zones = [z for z in self.settings.banner_zones if z.applies_to(out)]
        search = not self.settings.trusts_burned_in_no(ds)
        if not search:
            actions.append(
                "Burned In Annotation NO trusted by the site policy for this equipment: burned-in text not searched"
            )
        boxes: list[Box] = []
        kept = 0
        for frame in range(layout.frames):
            frame_boxes, frame_kept = self._clean_frame(
                out, layout, frame, view[frame], zones, keep_laterality_markers, search
            )
            boxes.extend(frame_boxes)
            kept += frame_kept

        out.PixelData = flat.tobytes() + tail
        if reencode == RLELossless:
            try:
                out.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
            except Exception as exc:  # pydicom encoders raise many types
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
            "pixel clean: frames=%d ocr_boxes=%d zone_boxes=%d kept_markers=%d text_searched=%s",
            layout.frames,
            len(ocr_boxes),
            len(zone_boxes),
            kept,
            search,
        )
        return PixelResult(out, tuple(sorted(boxes)), tuple(actions), not_found, search)

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
        except Exception as exc:  # decoders raise RuntimeError, ValueError, OSError, ...
            raise UnsafeToClean(f"{syntax.name}: pixel data could not be decoded ({type(exc).__name__})") from None
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
        layout: Layout,
        frame: int,
        words: np.ndarray,
        zones: Sequence[BannerZone],
        keep_markers: bool,
        search: bool,
    ) -> tuple[list[Box], int]:
        """Black out zones and text in `words` (a writable view on the frame). Returns the boxes
        and the number of laterality markers kept."""
        rendering = render(ds, layout, frame, words)
        black = rendering.black
        boxes: list[Box] = []
        for zone in zones:
            y0, x0, y1, x1 = zone.pixel_box(layout.rows, layout.columns)
            words[y0:y1, x0:x1] = black
            boxes.append(Box(frame, y0, x0, y1, x1, "zone"))
        if not search:
            return boxes, 0
        if self.settings.detector == "ocr_passes":
            found, kept = ocr_passes_frame(self._finder, self.settings, ds, layout, frame, words, black, keep_markers)
            return boxes + [Box(frame, *b, "ocr") for b in found], kept
        if zones:
            rendering = render(ds, layout, frame, words)
        candidates = find_candidates(rendering, self.settings)
        readings = self._reader.read(rendering, candidates, lone_glyphs=not keep_markers)
        redact: list[tuple[int, int, int, int]] = []
        markers: list[tuple[int, int, int, int]] = []
        for cand, reading, text in zip(candidates, readings, self._reader.grow(candidates, readings)):
            if reading.marker and keep_markers:
                markers.append(cand.box)
                continue
            if not (text or reading.marker):
                continue
            redact.append(pad_box(cand.box, cand.height, self.settings, layout.rows, layout.columns, cand.vertical))
        found = merge_boxes(redact)
        for y0, x0, y1, x1 in found:
            words[y0:y1, x0:x1] = black
        # A marker read on overlapping candidates counts once; one inside a blacked-out box is gone.
        survivors = [m for m in merge_boxes(markers) if not any(_inside(m, b) for b in found)]
        return boxes + [Box(frame, *b, "ocr") for b in found], len(survivors)


def _inside(inner: tuple[int, int, int, int], outer: tuple[int, int, int, int]) -> bool:
    return outer[0] <= inner[0] and outer[1] <= inner[1] and inner[2] <= outer[2] and inner[3] <= outer[3]


__all__ = ["PixelCleaner", "PixelResult"]
