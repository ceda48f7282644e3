"""Settings of Clean Pixel Data: `PixelCleanSettings` (the appliance config's `[deid.pixels]`) and
the always-blacked-out `BannerZone`s. `from_mapping` raises DeidConfigError naming the exact key."""

from __future__ import annotations

import math
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from pydicom.dataset import Dataset

from deid.errors import DeidConfigError


@dataclass(frozen=True)
class BannerZone:
    """A rectangle that is always blacked out on matching images, given as fractions of the
    image width (x) and height (y) so that one entry fits every matrix size.

    A zone applies when every given criterion matches: `modality` equals (0008,0060) Modality,
    `manufacturer` is a substring of (0008,0070) Manufacturer and `model` a substring of
    (0008,1090) Manufacturer's Model Name (case-insensitive). None matches anything. Example, in
    the TOML table the caller hands to `PixelCleanSettings.from_mapping` (here ``[pixels]``):

        [[pixels.banner_zones]]   # top 8 % of every ACME ultrasound image
        modality = "US"
        manufacturer = "ACME"
        x0 = 0.0
        y0 = 0.0
        x1 = 1.0
        y1 = 0.08
    """

    x0: float
    y0: float
    x1: float
    y1: float
    modality: str | None = None
    manufacturer: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        for name in ("x0", "y0", "x1", "y1"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
                raise DeidConfigError(name, "must be a number between 0 and 1")
            if not 0.0 <= value <= 1.0:
                raise DeidConfigError(name, f"{value} is outside 0..1 (fractions of the image)")
            object.__setattr__(self, name, float(value))
        if self.x0 >= self.x1:
            raise DeidConfigError("x1", "must be greater than x0")
        if self.y0 >= self.y1:
            raise DeidConfigError("y1", "must be greater than y0")
        for name in ("modality", "manufacturer", "model"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise DeidConfigError(name, "must be a non-empty string")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> BannerZone:
        """Build a zone from a TOML table; unknown or missing keys raise DeidConfigError."""
        if not isinstance(data, Mapping):
            raise DeidConfigError("banner_zones", f"entries must be tables, not {type(data).__name__}")
        allowed = {f.name for f in fields(cls)}
        for key in data:
            if key not in allowed:
                raise DeidConfigError(str(key), "unknown key")
        for key in ("x0", "y0", "x1", "y1"):
            if key not in data:
                raise DeidConfigError(key, "missing")
        return cls(**dict(data))

    def applies_to(self, ds: Dataset) -> bool:
        """Whether this zone's criteria match the dataset's equipment attributes."""
        checks = (
            (self.modality, "Modality", True),
            (self.manufacturer, "Manufacturer", False),
            (self.model, "ManufacturerModelName", False),
        )
        for wanted, keyword, exact in checks:
            if wanted is None:
                continue
            actual = str(ds.get(keyword, "") or "").strip().upper()
            want = wanted.strip().upper()
            if (exact and actual != want) or (not exact and want not in actual):
                return False
        return True

    def pixel_box(self, rows: int, columns: int) -> tuple[int, int, int, int]:
        """(y0, x0, y1, x1), half-open, covering the fractional rectangle on a rows x columns image."""
        return (
            math.floor(self.y0 * rows),
            math.floor(self.x0 * columns),
            max(math.floor(self.y0 * rows) + 1, math.ceil(self.y1 * rows)),
            max(math.floor(self.x0 * columns) + 1, math.ceil(self.x1 * columns)),
        )


def parse_banner_zones(value: Any) -> tuple[BannerZone, ...]:
    """Parse a list of TOML tables into zones; errors name the entry, e.g. ``banner_zones[1].x1``."""
    if not isinstance(value, (list, tuple)):
        raise DeidConfigError("banner_zones", f"must be a list of tables, not {type(value).__name__}")
    zones = []
    for i, item in enumerate(value):
        try:
            zones.append(BannerZone.from_mapping(item))
        except DeidConfigError as exc:
            raise DeidConfigError(f"banner_zones[{i}].{exc.key}", str(exc).split(": ", 1)[1]) from None
    return tuple(zones)


@dataclass(frozen=True)
class DeviceMatch:
    """Equipment whose Burned In Annotation NO the site trusts: `manufacturer` and `model` are
    case-insensitive substrings of (0008,0070) Manufacturer and (0008,1090) Manufacturer's Model
    Name; None matches anything, but an entry must give at least one."""

    manufacturer: str | None = None
    model: str | None = None

    def __post_init__(self) -> None:
        for name in ("manufacturer", "model"):
            value = getattr(self, name)
            if value is not None and (not isinstance(value, str) or not value.strip()):
                raise DeidConfigError(name, "must be a non-empty string")
        if self.manufacturer is None and self.model is None:
            raise DeidConfigError("manufacturer", "give a manufacturer, a model or both")

    def matches(self, ds: Dataset) -> bool:
        for wanted, keyword in ((self.manufacturer, "Manufacturer"), (self.model, "ManufacturerModelName")):
            if wanted is not None and wanted.strip().upper() not in str(ds.get(keyword, "") or "").upper():
                return False
        return True


def parse_trust(value: Any) -> str | tuple[DeviceMatch, ...]:
    """``"all"``, ``"none"`` or a list of {manufacturer, model} tables; errors name the entry."""
    if isinstance(value, str):
        if value not in ("all", "none"):
            raise DeidConfigError("trust_burned_in_no", 'must be "all", "none" or a list of tables')
        return value
    if not isinstance(value, (list, tuple)):
        raise DeidConfigError("trust_burned_in_no", 'must be "all", "none" or a list of tables')
    matches = []
    for i, item in enumerate(value):
        if isinstance(item, DeviceMatch):
            matches.append(item)
            continue
        if not isinstance(item, Mapping):
            raise DeidConfigError(f"trust_burned_in_no[{i}]", "entries must be tables")
        for key in item:
            if key not in ("manufacturer", "model"):
                raise DeidConfigError(f"trust_burned_in_no[{i}].{key}", "unknown key")
        try:
            matches.append(DeviceMatch(**dict(item)))
        except DeidConfigError as exc:
            raise DeidConfigError(f"trust_burned_in_no[{i}].{exc.key}", str(exc).split(": ", 1)[1]) from None
    return tuple(matches)


@dataclass(frozen=True)
class PixelCleanSettings:
    """Settings of the pixel stage.

    tesseract: path or name of the tesseract binary; language: its traineddata (``eng``).
    detector: ``"candidates"`` (default: cheap text candidates, OCR on their crops only, see
        deid.pixels.candidates and deid.pixels.verify) or ``"ocr_passes"`` (the former whole-frame
        OCR passes of deid.pixels.detect, kept as the benchmark baseline).
    ocr_engine: ``"auto"`` (libtesseract in process through tesserocr when it is installed and
        ``tesseract`` is the default name, else the binary) or ``"subprocess"`` (always the binary).
    trust_burned_in_no: where Burned In Annotation is NO and the equipment matches, pixel text is
        not searched at all: ``"none"`` (default: never trusted), ``"all"``, or a list of
        {manufacturer, model} tables (DeviceMatch).
    candidate_side: candidates are searched on the frame reduced to at most this many pixels a side.
    min_contrast: least stroke contrast of a candidate (fraction of the display range).
    max_text_height: text taller than this (stored pixels) is not searched for.
    candidate_min_confidence: a word of three letters/digits read at this confidence on a
        candidate's crop makes it text (two letters/digits need glyph_min_confidence).
    layer_min_confidence / layer_strong_confidence: on the extreme-value text layers a word counts
        when its confidence (0-100) reaches the strong level, or reaches the minimum and is
        corroborated (on a line with a strong word, or made of whole glyph-sized components).
        Names such as ``DOE^JOHN`` often score only 10-60; saturated anatomy scores up to ~55.
    display_min_confidence: minimum word confidence on the plain display rendering, where noisy
        anatomy produces "words" up to ~65; high, so that anatomy is not blacked out. Words there
        also need two letters/digits.
    glyph_min_confidence: minimum confidence for single characters (candidates and glyph strips) (tesseract's page
        layout drops lone glyphs such as an "L" marker, so they are recognised one by one).
    min_text_height: words lower than this (in stored pixels) are not text on the display
        rendering and need corroboration on the layers.
    extreme_tolerance: width of the extreme-value layers as a fraction of the frame's value range.
    target_side / max_upscale: renderings smaller than target_side are upscaled by an integer
        factor (at most max_upscale) so that small text reaches a size tesseract reads.
    pad_px / pad_fraction: every word box grows by max(pad_px, pad_fraction * its height).
    max_rounds: after redaction the frame is scanned again (up to this many scans in all) while
        new text keeps appearing; a frame without text costs one scan.
    max_frames: frames above this raise UnsafeToClean.
    ocr_workers: most tesseract processes running at once in this process, over all cleaners
        (each single-threaded); default the number of CPUs.
    timeout_s: per tesseract call.
    allow_transcode: decode compressed syntaxes without an encoder here and write Explicit VR Little
        Endian; when False they raise UnsafeToClean.
    banner_zones: always blacked out where they apply (BannerZone).
    laterality_markers: words kept when keep_laterality_markers is on (compared upper-case, after
        stripping punctuation).
    """

    tesseract: str = "tesseract"
    language: str = "eng"
    detector: str = "candidates"
    ocr_engine: str = "auto"
    trust_burned_in_no: str | tuple[DeviceMatch, ...] = "none"
    candidate_side: int = 1024
    min_contrast: float = 0.06
    max_text_height: int = 64
    candidate_min_confidence: float = 60.0
    layer_min_confidence: float = 5.0
    layer_strong_confidence: float = 60.0
    display_min_confidence: float = 80.0
    glyph_min_confidence: float = 80.0
    min_text_height: int = 6
    extreme_tolerance: float = 0.02
    target_side: int = 1024
    max_upscale: int = 3
    pad_px: int = 2
    pad_fraction: float = 0.25
    max_rounds: int = 2
    max_frames: int = 64
    ocr_workers: int = field(default_factory=lambda: os.cpu_count() or 1)
    timeout_s: float = 60.0
    allow_transcode: bool = True
    banner_zones: tuple[BannerZone, ...] = ()
    laterality_markers: frozenset[str] = frozenset({"L", "R", "LT", "RT"})

    def __post_init__(self) -> None:
        for name in (
            "layer_min_confidence",
            "layer_strong_confidence",
            "display_min_confidence",
            "glyph_min_confidence",
            "candidate_min_confidence",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 100:
                raise DeidConfigError(name, "must be a number between 0 and 100")
        if (
            isinstance(self.extreme_tolerance, bool)
            or not isinstance(self.extreme_tolerance, (int, float))
            or not (0 < self.extreme_tolerance < 0.5)
        ):
            raise DeidConfigError("extreme_tolerance", "must be a number in (0, 0.5)")
        if (
            isinstance(self.pad_fraction, bool)
            or not isinstance(self.pad_fraction, (int, float))
            or self.pad_fraction < 0
        ):
            raise DeidConfigError("pad_fraction", "must be a non-negative number")
        if (
            isinstance(self.min_contrast, bool)
            or not isinstance(self.min_contrast, (int, float))
            or not 0 < self.min_contrast < 1
        ):
            raise DeidConfigError("min_contrast", "must be a number in (0, 1)")
        if self.ocr_engine not in ("auto", "subprocess"):
            raise DeidConfigError("ocr_engine", 'must be "auto" or "subprocess"')
        if self.detector not in ("candidates", "ocr_passes"):
            raise DeidConfigError("detector", 'must be "candidates" or "ocr_passes"')
        object.__setattr__(self, "trust_burned_in_no", parse_trust(self.trust_burned_in_no))
        if isinstance(self.timeout_s, bool) or not isinstance(self.timeout_s, (int, float)) or self.timeout_s <= 0:
            raise DeidConfigError("timeout_s", "must be a positive number")
        for name, low in (
            ("target_side", 1),
            ("max_upscale", 1),
            ("min_text_height", 1),
            ("pad_px", 0),
            ("max_rounds", 1),
            ("max_frames", 1),
            ("ocr_workers", 1),
            ("candidate_side", 64),
            ("max_text_height", 4),
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < low:
                raise DeidConfigError(name, f"must be an integer >= {low}")
        for name in ("tesseract", "language"):
            if not isinstance(getattr(self, name), str) or not getattr(self, name).strip():
                raise DeidConfigError(name, "must be a non-empty string")
        if not isinstance(self.allow_transcode, bool):
            raise DeidConfigError("allow_transcode", "must be true or false")
        zones = self.banner_zones
        if isinstance(zones, (list, tuple)) and all(isinstance(z, BannerZone) for z in zones):
            object.__setattr__(self, "banner_zones", tuple(zones))
        else:
            raise DeidConfigError("banner_zones", "must be a sequence of BannerZone")
        markers = self.laterality_markers
        if (
            isinstance(markers, str)
            or not isinstance(markers, Iterable)
            or not all(isinstance(m, str) for m in markers)
        ):
            raise DeidConfigError("laterality_markers", "must be a set of strings")
        object.__setattr__(self, "laterality_markers", frozenset(m.strip().upper() for m in markers))

    def trusts_burned_in_no(self, ds: Dataset) -> bool:
        """Whether `ds` says Burned In Annotation NO and the site policy trusts its equipment."""
        if str(ds.get("BurnedInAnnotation", "") or "").strip().upper() != "NO":
            return False
        trust = self.trust_burned_in_no
        if isinstance(trust, str):
            return trust == "all"
        return any(match.matches(ds) for match in trust)

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> PixelCleanSettings:
        """Build settings from a TOML table; unknown keys and wrong types raise DeidConfigError
        whose `key` is the offending key (``banner_zones[0].y1`` for zone entries)."""
        if not isinstance(data, Mapping):
            raise DeidConfigError("pixels", f"must be a table, not {type(data).__name__}")
        known = {f.name for f in fields(cls)}
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if key not in known:
                raise DeidConfigError(str(key), "unknown option")
            if key == "banner_zones":
                kwargs[key] = parse_banner_zones(value)
            elif key == "laterality_markers":
                if not isinstance(value, (list, tuple)):
                    raise DeidConfigError(key, "must be a list of strings")
                kwargs[key] = frozenset(value)
            else:
                kwargs[key] = value
        return cls(**kwargs)
