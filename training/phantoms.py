"""Procedural chest radiograph phantoms, written as real DICOM files with matching reports.

No real patient data can be used, so the project trains and demonstrates on phantoms: a PA chest
radiograph drawn from a StudyFindings (body, lungs with vascular markings, mediastinum, heart,
spine, ribs, clavicles, diaphragm, and the findings and devices), wrapped in a CR or DX
DICOM dataset with realistic headers, plus the ground-truth report.

Conventions:
- `render_radiograph` returns float32 attenuation in [0, 1], 1 = dense (white on MONOCHROME2).
- The patient's right is on the image's left (standard PA display).
- Anatomy is laid out in a unit square centred in the image (the square of side
  min(rows, cols)), so a resize-shortest-side + centre-crop keeps all of it. The square spans
  PHANTOM_FIELD_MM of patient, which sets nodule sizes and ImagerPixelSpacing.
- Everything is a pure function of its seed: the same seed gives a byte-identical file.

Pure numpy + pydicom; no torch.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

import numpy as np
import pydicom
from pydicom.dataset import FileDataset, FileMetaDataset
from pydicom.filebase import DicomBytesIO
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from training.findings import (
    FINDINGS,
    FindingDetails,
    StudyFindings,
    sample_details,
    sample_findings,
)
from training.reports import Report, write_report

PHANTOM_FIELD_MM = 350.0
CR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.1")
DX_IMAGE_STORAGE_FOR_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.1")
MODALITIES = ("CR", "DX")
PHOTOMETRICS = ("MONOCHROME2", "MONOCHROME1")
BITS_STORED = (12, 13, 14, 15, 16)
# (rows, cols) used when make_phantom is not told a size.
SIZES: tuple[tuple[int, int], ...] = ((512, 512), (512, 512), (576, 512), (512, 480), (640, 560))
MANIFEST_NAME = "manifest.jsonl"
MANIFEST_KEYS = (
    "id",
    "file",
    "findings",
    "labels",
    "report",
    "findings_text",
    "impression_text",
    "accession",
    "study_uid",
)
# Namespace mixed into every seed so that phantom streams never coincide with other uses of the
# same integer seed.
_NAMESPACE = 0x5EC0_3ED6


class PhantomError(Exception):
    """Base class for phantom generation and manifest errors."""


class ManifestError(PhantomError):
    """A phantom manifest is missing or malformed."""


# --------------------------------------------------------------------------------------------
# Drawing primitives


@lru_cache(maxsize=256)
def _resample_weights(n_out: int, n_in: int, nodes: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gather indices and weights for separable interpolation from n_in to n_out samples.

    nodes=True spreads n_in random-field nodes over the whole output with smoothstep weights
    (C1 across nodes, no creases); nodes=False resamples an image, pixel centres aligned.
    """
    if nodes:
        pos = np.linspace(0.0, n_in - 1.0, n_out)
    else:
        pos = np.clip((np.arange(n_out) + 0.5) * (n_in / n_out) - 0.5, 0.0, n_in - 1.0)
    lo = np.clip(np.floor(pos).astype(np.intp), 0, max(n_in - 2, 0))
    hi = np.minimum(lo + 1, n_in - 1)
    frac = np.clip(pos - lo, 0.0, 1.0)
    if nodes:
        frac = frac * frac * (3.0 - 2.0 * frac)
    return lo, hi, frac.astype(np.float32)


def _resample(img: np.ndarray, shape: tuple[int, int], *, nodes: bool = False) -> np.ndarray:
    """Separable (smooth)linear resampling of a 2-D array to shape, float32."""
    lo, hi, w = _resample_weights(shape[0], img.shape[0], nodes)
    tmp = img[lo] * (1.0 - w)[:, None] + img[hi] * w[:, None]
    lo, hi, w = _resample_weights(shape[1], img.shape[1], nodes)
    return (tmp[:, lo] * (1.0 - w) + tmp[:, hi] * w).astype(np.float32, copy=False)


def _smooth_field(rng: np.random.Generator, shape: tuple[int, int], cells: tuple[int, int]) -> np.ndarray:
    """Smooth random field of roughly unit variance with `cells` random nodes per axis."""
    grid = rng.standard_normal(cells).astype(np.float32)
    return _resample(grid, shape, nodes=True)


def _chaikin(points: np.ndarray, iterations: int = 2) -> np.ndarray:
    """Corner-cutting smoothing of an open polyline; keeps both end points."""
    pts = np.asarray(points, dtype=np.float64)
    for _ in range(iterations):
        q = 0.75 * pts[:-1] + 0.25 * pts[1:]
        r = 0.25 * pts[:-1] + 0.75 * pts[1:]
        mid = np.empty((2 * len(q), 2))
        mid[0::2], mid[1::2] = q, r
        pts = np.vstack([pts[:1], mid, pts[-1:]])
    return pts


def _stroke(
    layer: np.ndarray,
    pts: np.ndarray,
    radius: float | np.ndarray,
    value: float,
    *,
    round_profile: bool = False,
) -> None:
    """Draw an anti-aliased polyline into layer (max-combined).

    pts: (N, 2) pixel (row, col) vertices; radius: pixels, one value or one per vertex.
    round_profile gives a cylinder's cross-section (vessels, catheters) instead of a flat band.
    """
    pts = np.asarray(pts, dtype=np.float64)
    if len(pts) < 2:
        return
    rad = np.broadcast_to(np.asarray(radius, dtype=np.float64), (len(pts),))
    _segments(layer, pts[:-1], pts[1:], rad[:-1], rad[1:], value, round_profile=round_profile)


def _segments(
    layer: np.ndarray,
    p0: np.ndarray,
    p1: np.ndarray,
    r0: np.ndarray,
    r1: np.ndarray,
    value: float,
    *,
    round_profile: bool = False,
) -> None:
    """Draw independent segments p0[i] -> p1[i] (pixel (row, col)) with radii r0[i] -> r1[i].

    Each segment is sampled densely and every sample stamps a small anti-aliased disc, all
    segments in one vectorised pass (far cheaper than one pass per segment).
    """
    r0 = np.maximum(r0, 0.35)
    r1 = np.maximum(r1, 0.35)
    d = p1 - p0
    seg = np.hypot(d[:, 0], d[:, 1])
    step = np.maximum(0.5, 0.5 * np.minimum(r0, r1))
    n = np.ceil(seg / step).astype(np.intp) + 1
    idx = np.repeat(np.arange(len(seg)), n)
    t = (np.arange(int(n.sum())) - np.repeat(np.cumsum(n) - n, n)) / np.repeat(n - 1, n)
    samples = p0[idx] + d[idx] * t[:, None]
    r = r0[idx] + (r1 - r0)[idx] * t
    reach = math.ceil(float(r.max()) + 1.0)
    off = np.arange(-reach, reach + 1)
    orr, occ = np.meshgrid(off, off, indexing="ij")
    base = np.floor(samples).astype(np.intp)
    rr = base[:, :1] + orr.ravel()[None, :]
    cc = base[:, 1:] + occ.ravel()[None, :]
    d2 = (rr - samples[:, :1]) ** 2 + (cc - samples[:, 1:]) ** 2
    outer = (r + 0.5)[:, None]
    if round_profile:
        w = np.sqrt(np.clip(1.0 - d2 / outer**2, 0.0, 1.0))
    else:
        w = np.clip(outer - np.sqrt(d2), 0.0, 1.0)
    ok = (w > 0) & (rr >= 0) & (rr < layer.shape[0]) & (cc >= 0) & (cc < layer.shape[1])
    np.maximum.at(layer, (rr[ok], cc[ok]), (w[ok] * value).astype(layer.dtype))


def _soft(v: np.ndarray, width: float) -> np.ndarray:
    """0 -> 1 ramp of v around 0 with the given width (a cheap sigmoid)."""
    return np.clip(v * (1.0 / width) + 0.5, 0.0, 1.0)


# --------------------------------------------------------------------------------------------
# Geometry


@dataclass(frozen=True)
class _Frame:
    """Maps anatomy coordinates (unit square, x right, y down) to pixel (row, col) and back."""

    rows: int
    cols: int
    scale: float
    angle: float
    dx: float
    dy: float

    @property
    def side(self) -> int:
        return min(self.rows, self.cols)

    def resized(self, rows: int, cols: int) -> _Frame:
        return _Frame(rows, cols, self.scale, self.angle, self.dx, self.dy)

    def to_px(self, x: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
        ca, sa = math.cos(self.angle), math.sin(self.angle)
        x0, y0 = np.asarray(x, dtype=np.float64) - 0.5, np.asarray(y, dtype=np.float64) - 0.5
        u = 0.5 + self.dx + self.scale * (ca * x0 - sa * y0)
        v = 0.5 + self.dy + self.scale * (sa * x0 + ca * y0)
        s = self.side
        return v * s + (self.rows - s) / 2 - 0.5, u * s + (self.cols - s) / 2 - 0.5

    def points(self, xy: np.ndarray) -> np.ndarray:
        xy = np.asarray(xy, dtype=np.float64)
        r, c = self.to_px(xy[:, 0], xy[:, 1])
        return np.stack([r, c], axis=1)

    def px(self, length: float) -> float:
        """A length in anatomy units, in pixels."""
        return length * self.scale * self.side

    def grid(self, rs: slice, cs: slice) -> tuple[np.ndarray, np.ndarray]:
        """Anatomy coordinates (float32) of the pixels rows[rs] x cols[cs]."""
        s = self.side
        ca, sa = math.cos(self.angle), math.sin(self.angle)
        rr = np.arange(rs.start, rs.stop, dtype=np.float32)[:, None]
        cc = np.arange(cs.start, cs.stop, dtype=np.float32)[None, :]
        u = cc * np.float32(1 / s) + np.float32((0.5 - (self.cols - s) / 2) / s - 0.5 - self.dx)
        v = rr * np.float32(1 / s) + np.float32((0.5 - (self.rows - s) / 2) / s - 0.5 - self.dy)
        k = 1.0 / self.scale
        x = np.float32(ca * k) * u + np.float32(sa * k) * v + np.float32(0.5)
        y = np.float32(-sa * k) * u + np.float32(ca * k) * v + np.float32(0.5)
        return x, y

    def region(self, x0: float, x1: float, y0: float, y1: float) -> tuple[slice, slice] | None:
        """Pixel slices covering the anatomy box, or None when it is off the image."""
        r, c = self.to_px(np.array([x0, x1, x0, x1]), np.array([y0, y0, y1, y1]))
        rlo, rhi = max(int(r.min()) - 2, 0), min(math.ceil(r.max()) + 3, self.rows)
        clo, chi = max(int(c.min()) - 2, 0), min(math.ceil(c.max()) + 3, self.cols)
        if rlo >= rhi or clo >= chi:
            return None
        return slice(rlo, rhi), slice(clo, chi)


@dataclass(frozen=True)
class _Lung:
    """One lung in mirrored coordinates m = distance from the midline.

    The lateral and apical outline is an ellipse in (m, y); the base is the diaphragm dome, a
    parabola in m whose lateral end forms the costophrenic angle.
    """

    sign: int  # -1: patient's right (image left), +1: patient's left (image right)
    mc: float
    a: float
    yc: float
    b: float
    dome: float
    m_dome: float
    k: float

    @property
    def apex(self) -> float:
        return self.yc - self.b

    @property
    def m_lat(self) -> float:
        return self.mc + self.a

    @property
    def m_med(self) -> float:
        return self.mc - self.a

    def diaphragm(self, m: Any) -> Any:
        return self.dome + self.k * (m - self.m_dome) ** 2

    def ellipse(self, m: Any, y: Any, shrink: float = 0.0) -> Any:
        return ((m - self.mc) / (self.a - shrink)) ** 2 + ((y - self.yc) / (self.b - shrink)) ** 2

    def x_of(self, m: float) -> float:
        return 0.5 + self.sign * m

    def x_span(self, m0: float, m1: float) -> tuple[float, float]:
        xa, xb = self.x_of(m0), self.x_of(m1)
        return min(xa, xb), max(xa, xb)

    def collapsed(self, gap: float) -> _Lung:
        """The lung retracted from the lateral and apical chest wall by a pneumothorax gap."""
        return _Lung(
            self.sign,
            self.mc - gap / 2,
            self.a - gap / 2,
            self.yc + 0.75 * gap,
            self.b - 0.75 * gap,
            self.dome,
            self.m_dome,
            self.k,
        )


@dataclass(frozen=True)
class _Heart:
    x: float
    y: float
    ha: float
    hb: float
    tilt: float

    def value(self, x: Any, y: Any, grow: float = 0.0) -> Any:
        """Ellipse function: < 1 inside the heart grown by `grow`."""
        ct, st = math.cos(self.tilt), math.sin(self.tilt)
        dx, dy = x - self.x, y - self.y
        u = ct * dx + st * dy
        v = -st * dx + ct * dy
        return (u / (self.ha + grow)) ** 2 + (v / (self.hb + grow)) ** 2

    @property
    def half_width(self) -> float:
        return math.hypot(self.ha * math.cos(self.tilt), self.hb * math.sin(self.tilt))


@dataclass(frozen=True)
class _Anatomy:
    frame: _Frame
    thorax_w: float
    lungs: dict[str, _Lung]  # keyed by the patient's side
    heart: _Heart
    trachea_x: float
    carina_y: float
    trachea_r: float
    body_w: float
    neck_w: float
    rib_spacing: float
    rib_y0: float
    rib_curve: float
    ant_spacing: float
    ant_y0: float
    clavicle_y: float
    knob: tuple[float, float, float]
    bubble: tuple[float, float, float, float] | None
    gain: float
    bias: float
    contrast_curve: float
    noise: float
    tilt_gain: float


def _sample_anatomy(
    f: StudyFindings, d: FindingDetails, rng: np.random.Generator, shape: tuple[int, int]
) -> _Anatomy:
    """Draw the patient's anatomy; a fixed number of draws, whatever the findings are."""
    u = rng.random(44)

    def U(i: int, lo: float, hi: float) -> float:
        return float(lo + (hi - lo) * u[i])

    frame = _Frame(
        rows=shape[0],
        cols=shape[1],
        scale=U(0, 0.95, 1.04),
        angle=math.radians(U(1, -3.0, 3.0)),
        dx=U(2, -0.015, 0.015),
        dy=U(3, -0.012, 0.012),
    )
    w = U(4, 0.345, 0.385)
    yc = U(5, 0.56, 0.60)
    apex = U(6, 0.10, 0.135)
    dome_r = U(7, 0.655, 0.695)
    dome_l = dome_r + U(8, 0.012, 0.035)
    lungs: dict[str, _Lung] = {}
    for i, (side, sign, dome) in enumerate((("right", -1, dome_r), ("left", 1, dome_l))):
        m_med = U(9 + i, 0.045, 0.06)
        a = (w - m_med) / 2
        mc = (w + m_med) / 2
        depth = U(11 + i, 0.075, 0.10)
        m_dome = mc + U(13 + i, -0.02, 0.01)
        if f.atelectasis and f.atelectasis[0] == side and f.atelectasis[1] != "upper":
            dome -= 0.03  # volume loss: the hemidiaphragm rises
        lungs[side] = _Lung(sign, mc, a, yc, yc - apex, dome, m_dome, depth / (w - m_dome) ** 2)

    carina = U(15, 0.36, 0.40)
    trachea_x = 0.5 + U(16, -0.006, 0.006)
    if f.atelectasis and f.atelectasis[1] == "upper":
        # Upper lobe volume loss pulls the trachea towards the collapsed side.
        trachea_x += 0.014 * (1 if f.atelectasis[0] == "left" else -1)

    width = d.ctr * 2 * w
    hb = U(17, 0.12, 0.14) * (1.12 if f.cardiomegaly else 1.0)
    tilt = U(18, 0.35, 0.55)
    ha = math.sqrt(max((width / 2) ** 2 - (hb * math.sin(tilt)) ** 2, 1e-4)) / math.cos(tilt)
    right_fraction = U(19, 0.30, 0.36)
    heart = _Heart(
        x=0.5 + width * (0.5 - right_fraction),
        y=dome_r - 0.5 * hb + U(20, -0.01, 0.015),
        ha=ha,
        hb=hb,
        tilt=tilt,
    )
    bubble = None
    if u[21] < 0.7:
        ll = lungs["left"]
        bubble = (
            ll.x_of(ll.m_dome + U(22, -0.03, 0.04)),
            ll.diaphragm(ll.m_dome) + U(23, 0.035, 0.05),
            U(24, 0.035, 0.06),
            U(25, 0.02, 0.03),
        )
    return _Anatomy(
        frame=frame,
        thorax_w=w,
        lungs=lungs,
        heart=heart,
        trachea_x=trachea_x,
        carina_y=carina,
        trachea_r=U(26, 0.015, 0.019),
        body_w=w + U(27, 0.06, 0.09),
        neck_w=U(28, 0.10, 0.12),
        rib_spacing=U(29, 0.056, 0.064),
        rib_y0=U(30, 0.055, 0.085),
        rib_curve=U(31, 1.5, 2.0),
        ant_spacing=U(32, 0.068, 0.078),
        ant_y0=U(33, 0.0, 0.07),
        clavicle_y=U(34, 0.15, 0.185),
        knob=(0.5 + U(35, 0.045, 0.06), carina - U(36, 0.03, 0.05), U(37, 0.028, 0.038)),
        bubble=bubble,
        gain=U(38, 1.2, 1.5),
        bias=U(39, 0.02, 0.07),
        contrast_curve=U(40, -0.25, 0.25),
        noise=U(41, 0.008, 0.02),
        tilt_gain=U(42, -0.05, 0.05),
    )


# --------------------------------------------------------------------------------------------
# Rendering


class _Canvas:
    """The layers of one radiograph at working resolution (half size for large images).

    tissue: soft tissue and bone density. parenchyma: aerated lung that carries markings;
    pleural_air: air without markings (pneumothorax); gas: trachea, bronchi, stomach;
    opacity: 0..1, how much of the air is replaced by fluid, tissue or disease; markings: lung
    texture and vessels (multiplies the lung air); lines: thin bright lines (visceral pleura).
    """

    def __init__(self, anat: _Anatomy, work: _Frame) -> None:
        self.anat = anat
        self.frame = work
        shape = (work.rows, work.cols)
        self.shape = shape
        self.tissue = np.zeros(shape, np.float32)
        self.parenchyma = np.zeros(shape, np.float32)
        self.pleural_air = np.zeros(shape, np.float32)
        self.gas = np.zeros(shape, np.float32)
        self.opacity = np.zeros(shape, np.float32)
        self.vessels = np.zeros(shape, np.float32)
        self.lines = np.zeros(shape, np.float32)
        self.lungs = dict(anat.lungs)  # effective lungs (collapsed by a pneumothorax)
        self.x, self.y = work.grid(slice(0, shape[0]), slice(0, shape[1]))

    def sub(self, x0: float, x1: float, y0: float, y1: float) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
        reg = self.frame.region(x0, x1, y0, y1)
        if reg is None:
            return None
        return reg, self.x[reg], self.y[reg]

    def add_opacity(self, reg: tuple[slice, slice], op: np.ndarray) -> None:
        tgt = self.opacity[reg]
        np.maximum(tgt, op, out=tgt)

    def stroke(self, layer: np.ndarray, xy: Any, radius: float, value: float, **kw: Any) -> None:
        _stroke(layer, self.frame.points(np.asarray(xy)), self.frame.px(radius), value, **kw)


def _draw_body(cv: _Canvas) -> None:
    a = cv.anat
    x, y = cv.x, cv.y
    # Half-width of the body: the neck at the top, widening over the shoulders.
    s = np.clip((y + 0.02) * (1 / 0.17), 0.0, 1.0)
    hw = a.neck_w + (a.body_w - a.neck_w) * (s * s * (3 - 2 * s))
    t = np.clip(1.0 - ((x - 0.5) / hw) ** 2, 0.0, 1.0)
    cv.tissue += 0.5 * np.sqrt(t)


def _draw_lungs(cv: _Canvas, f: StudyFindings, d: FindingDetails) -> None:
    edge = 0.006
    for side, lung in cv.anat.lungs.items():
        x0, x1 = lung.x_span(lung.m_med - 0.02, lung.m_lat + 0.03)
        got = cv.sub(x0, x1, lung.apex - 0.02, lung.diaphragm(lung.m_lat) + 0.03)
        if got is None:
            continue
        reg, x, y = got
        m = lung.sign * (x - 0.5)
        below = _soft(lung.diaphragm(m) - y, 0.008)
        inside = np.clip((1.0 - lung.ellipse(m, y)) * (lung.a / (2 * edge)), 0.0, 1.0) * below
        if f.pneumothorax == side:
            gap = {"small": 0.055, "moderate": 0.075, "large": 0.1}[d.pneumothorax_size or "small"]
            eff = lung.collapsed(gap)
            cv.lungs[side] = eff
            e2 = eff.ellipse(m, y)
            kept = np.clip((1.0 - e2) * (eff.a / (2 * edge)), 0.0, 1.0) * below
            line = np.clip(1.0 - np.abs(e2 - 1.0) * (eff.a / (2 * 0.0045)), 0.0, 1.0) * inside
            np.maximum(cv.pleural_air[reg], np.clip(inside - kept, 0.0, 1.0), out=cv.pleural_air[reg])
            np.maximum(cv.lines[reg], line, out=cv.lines[reg])
            inside = 0.9 * kept  # the collapsed lung is a little denser
        np.maximum(cv.parenchyma[reg], inside, out=cv.parenchyma[reg])


def _draw_vessels(cv: _Canvas, rng: np.random.Generator) -> None:
    """Pulmonary vessels branching out of each hilum, tapering towards the periphery."""
    a = cv.anat
    for lung in a.lungs.values():
        hx = lung.x_of(lung.m_med + 0.05)
        hy = a.carina_y + 0.075
        segments: list[tuple[float, float, float, float, float]] = []
        stack = [
            (hx, hy, math.radians(ang + rng.uniform(-12, 12)), 0.10, 0.006, 0)
            for ang in (-100.0, -60.0, -20.0, 20.0, 55.0, 90.0)
        ]
        while stack:
            x0, y0, ang, length, rad, depth = stack.pop()
            # Angles are for the right lung (image left); mirrored for the left.
            x1 = x0 + lung.sign * math.cos(ang) * length
            y1 = y0 + math.sin(ang) * length
            segments.append((x0, y0, x1, y1, rad))
            if depth < 3:
                for turn in (-1, 1):
                    stack.append(
                        (
                            x1,
                            y1,
                            ang + turn * math.radians(rng.uniform(12, 30)),
                            length * rng.uniform(0.62, 0.8),
                            rad * 0.68,
                            depth + 1,
                        )
                    )
        seg = np.array(segments)
        radii = seg[:, 4] * cv.frame.px(1.0)
        _segments(
            cv.vessels,
            cv.frame.points(seg[:, 0:2]),
            cv.frame.points(seg[:, 2:4]),
            radii,
            radii * 0.8,
            1.0,
            round_profile=True,
        )
        got = cv.sub(hx - 0.06, hx + 0.06, hy - 0.08, hy + 0.08)
        if got is not None:  # hilar vessels: a soft density at each hilum
            reg, x, y = got
            e = ((x - hx) * (1 / 0.035)) ** 2 + ((y - hy) * (1 / 0.055)) ** 2
            cv.tissue[reg] += 0.07 * np.clip(1.0 - e, 0.0, 1.0)


def _draw_mediastinum(cv: _Canvas) -> None:
    a = cv.anat
    h = a.heart
    r = h.ha + h.hb
    got = cv.sub(h.x - r, h.x + r, h.y - r, h.y + r)
    if got is not None:
        reg, x, y = got
        cv.add_opacity(reg, 0.94 * np.clip((1.0 - h.value(x, y)) * 12.0, 0.0, 1.0))
    kx, ky, kr = a.knob  # aortic knob
    got = cv.sub(kx - kr, kx + kr, ky - kr, ky + kr)
    if got is not None:
        reg, x, y = got
        inside = np.clip((1.0 - ((x - kx) ** 2 + (y - ky) ** 2) / kr**2) * 8.0, 0.0, 1.0)
        cv.add_opacity(reg, 0.9 * inside)
    # Trachea and main bronchi: an air column over the mediastinum.
    tx, cy, tr = a.trachea_x, a.carina_y, a.trachea_r
    cv.stroke(cv.gas, [[tx, -0.08], [tx, cy]], tr, 1.0)
    for sign in (-1, 1):
        cv.stroke(cv.gas, [[tx, cy], [tx + sign * 0.035, cy + 0.03], [tx + sign * 0.07, cy + 0.07]], tr * 0.65, 1.0)
    if a.bubble is not None:  # gastric air under the left hemidiaphragm
        bx, by, bw, bh = a.bubble
        got = cv.sub(bx - bw, bx + bw, by - bh, by + bh)
        if got is not None:
            reg, x, y = got
            e = ((x - bx) / bw) ** 2 + ((y - by) / bh) ** 2
            bubble = 0.8 * np.clip((1.0 - e) * 6.0, 0.0, 1.0) * _soft(y - (by - 0.4 * bh), 0.004)
            np.maximum(cv.gas[reg], bubble, out=cv.gas[reg])


def _draw_bones(cv: _Canvas) -> None:
    a = cv.anat
    x, y = cv.x, cv.y
    mm = np.abs(x - 0.5)
    w = a.thorax_w
    # Posterior ribs: bands that leave the spine, arch, and sweep down laterally.
    phase = (y + 0.3 * mm - a.rib_curve * mm * mm - a.rib_y0) * (1 / a.rib_spacing)
    q = phase - np.floor(phase)
    ribs = np.clip(np.minimum(q, 0.42 - q) * (1 / 0.06), 0.0, 1.0)
    ribs *= np.clip((w + 0.05 - mm) * 50.0, 0.0, 1.0) * np.clip((mm - 0.03) * 50.0, 0.0, 1.0)
    ribs *= (phase > 0.0) & (phase < 10.5)
    cv.tissue += 0.085 * ribs
    # Anterior ribs: fainter, running down towards the sternum.
    got = cv.sub(0.5 - w, 0.5 + w, 0.16, 0.72)
    if got is not None:
        reg, xs, ys = got
        ms = np.abs(xs - 0.5)
        q2 = (ys + 0.42 * ms - a.ant_y0) * (1 / a.ant_spacing)
        q2 -= np.floor(q2)
        ant = np.clip(np.minimum(q2, 0.35 - q2) * (1 / 0.07), 0.0, 1.0)
        ant *= np.clip((w - 0.01 - ms) * 33.0, 0.0, 1.0) * np.clip((ms - 0.07) * 33.0, 0.0, 1.0)
        cv.tissue[reg] += 0.035 * ant
    # Spine: vertebral bodies stacked along the midline.
    got = cv.sub(0.44, 0.56, -0.05, 1.05)
    if got is not None:
        reg, xs, ys = got
        band = np.clip((0.033 - np.abs(xs - 0.5)) * (1 / 0.006), 0.0, 1.0)
        mod = 0.75 + 0.25 * np.cos((ys - a.rib_y0) * (2 * math.pi / 0.05))
        cv.tissue[reg] += 0.09 * band * mod
    # Clavicles.
    got = cv.sub(0.5 - 0.34, 0.5 + 0.34, 0.0, 0.3)
    if got is not None:
        reg, xs, ys = got
        m = np.abs(xs - 0.5)
        yc = a.clavicle_y - 0.16 * (m - 0.04) + 0.55 * (m - 0.2) ** 2
        band = np.clip((0.013 - np.abs(ys - yc)) * (1 / 0.004), 0.0, 1.0)
        band *= np.clip((m - 0.03) * 100.0, 0.0, 1.0) * np.clip((0.31 - m) * 50.0, 0.0, 1.0)
        cv.tissue[reg] += 0.12 * band


def _draw_effusion(cv: _Canvas, side: str, size: str, rng: np.random.Generator) -> None:
    """Dependent pleural fluid: homogeneous basal opacity with a meniscus rising laterally; it
    fills the costophrenic angle and hides the hemidiaphragm."""
    lung = cv.anat.lungs[side]
    u = rng.random(3)
    level = lung.dome - (0.05 + 0.03 * u[0] if size == "small" else 0.12 + 0.04 * u[0])
    rise = 0.05 + 0.03 * u[1]
    x0, x1 = lung.x_span(lung.m_med - 0.03, lung.m_lat + 0.04)
    got = cv.sub(x0, x1, level - rise - 0.04, lung.diaphragm(lung.m_lat) + 0.05)
    if got is None:
        return
    reg, x, y = got
    m = lung.sign * (x - 0.5)
    frac = np.clip((m - lung.m_med) * (1 / (lung.m_lat - lung.m_med)), 0.0, 1.0)
    surface = level - rise * frac * frac
    fluid = np.clip((y - surface) * (1 / 0.02), 0.0, 1.0) * _soft(m - (lung.m_med - 0.02), 0.01)
    cv.add_opacity(reg, fluid)
    thorax = _soft(lung.m_lat + 0.01 - m, 0.01) * _soft(lung.diaphragm(m) + 0.01 - y, 0.01)
    cv.tissue[reg] += 0.05 * fluid * thorax


def _lobe_box(lung: _Lung, side: str, lobe: str) -> tuple[float, float, float, float]:
    """(m centre, y centre, m radius, y radius) of a lobe's opacity on a PA view."""
    top, h = lung.apex, lung.dome - lung.apex
    if lobe == "upper":
        ry = h * (0.24 if side == "right" else 0.28)
        return lung.mc + 0.01, top + (0.27 if side == "right" else 0.32) * h, lung.a * 0.9, ry
    if lobe == "middle":
        return lung.m_med + 0.09, top + 0.72 * h, 0.1, 0.16 * h
    return lung.mc + 0.03, top + 0.84 * h, lung.a * 0.88, 0.2 * h


def _draw_consolidation(cv: _Canvas, side: str, lobe: str, rng: np.random.Generator) -> None:
    """Airspace consolidation: a fluffy, patchy opacity filling the lobe's zone, with ill-defined
    margins (except against a fissure) and faint air bronchograms."""
    lung = cv.lungs[side]
    mc, yc, rm, ry = _lobe_box(lung, side, lobe)
    xc = lung.x_of(mc)
    got = cv.sub(xc - rm - 0.03, xc + rm + 0.03, yc - ry - 0.03, yc + ry + 0.05)
    if got is None:
        return
    reg, x, y = got
    shape = x.shape
    wobble = _smooth_field(rng, shape, (7, 7))
    e = ((x - xc) / rm) ** 2 + ((y - yc) / ry) ** 2
    e += 0.4 * wobble * np.minimum(e, 1.0)  # irregular margins, no holes in the middle
    envelope = np.clip((1.0 - e) * 2.5, 0.0, 1.0)
    fluff = _smooth_field(rng, shape, (13, 13)) + 0.5 * _smooth_field(rng, shape, (23, 23))
    op = np.clip(envelope * (1.0 + 0.25 * fluff), 0.0, 1.0)
    h = lung.dome - lung.apex
    if side == "right" and lobe == "upper":  # horizontal fissure: sharp lower border
        op *= _soft(lung.apex + 0.47 * h - y, 0.006)
    if side == "right" and lobe == "middle":
        op *= _soft(y - (lung.apex + 0.55 * h), 0.006)
    bronch = np.zeros(shape, np.float32)
    origin = np.array([[reg[0].start, reg[1].start]])
    for _ in range(3):
        x0 = xc - lung.sign * rm * 0.5 * rng.random()
        y0 = yc + ry * rng.uniform(-0.4, 0.4)
        ang = rng.uniform(-0.6, 0.6) + (0.0 if lung.sign > 0 else math.pi)
        pts = [(x0, y0)]
        for _ in range(2):
            ang += rng.uniform(-0.4, 0.4)
            x0, y0 = x0 + math.cos(ang) * rm * 0.3, y0 + math.sin(ang) * rm * 0.3
            pts.append((x0, y0))
        _stroke(bronch, cv.frame.points(np.array(pts)) - origin, cv.frame.px(0.003), 1.0)
    op *= 1.0 - 0.3 * bronch
    cv.add_opacity(reg, 0.95 * op)
    cv.tissue[reg] += 0.03 * op


def _fits(lung: _Lung, heart: _Heart, m: np.ndarray, y: float, r: float) -> np.ndarray:
    """Which lateral positions m put a disc of radius r at height y inside lung, off the heart."""
    inside = lung.ellipse(m, y, shrink=r + 0.015) < 1.0
    above = y < lung.diaphragm(m) - r - 0.02
    clear = heart.value(0.5 + lung.sign * m, y, grow=r + 0.015) > 1.0
    return inside & above & clear


_ZONE_FRACTION = {"upper": 0.22, "mid": 0.5, "lower": 0.76}


def _draw_nodule(cv: _Canvas, nodule: tuple[str, str, int, str], rng: np.random.Generator) -> None:
    """A round, sharply marginated opacity; masses are larger and lobulated."""
    side, zone, size_mm, kind = nodule
    lung = cv.lungs[side]
    r = size_mm / 2 / PHANTOM_FIELD_MM
    u = rng.random(6)
    y = lung.apex + (_ZONE_FRACTION[zone] + 0.06 * (u[0] - 0.5)) * (lung.dome - lung.apex)
    m_all = np.linspace(lung.m_med, lung.m_lat, 64)
    ok = m_all[_fits(lung, cv.anat.heart, m_all, y, r)]
    m = float(ok[int(u[1] * ok.size)]) if ok.size else lung.mc + 0.2 * lung.a
    xc = lung.x_of(m)
    got = cv.sub(xc - 1.3 * r, xc + 1.3 * r, y - 1.3 * r, y + 1.3 * r)
    if got is None:
        return
    reg, x, yy = got
    dx, dy = x - xc, yy - y
    dist = np.sqrt(dx * dx + dy * dy)
    radius: Any = r
    if kind == "mass":
        theta = np.arctan2(dy, dx)
        radius = r * (1.0 + 0.08 * np.sin(3 * theta + 6.28 * u[2]) + 0.05 * np.sin(5 * theta + 6.28 * u[3]))
    edge = max(0.003, 0.8 / cv.frame.px(1.0))
    cv.add_opacity(reg, 0.97 * np.clip((radius - dist) / edge + 0.5, 0.0, 1.0))
    cv.tissue[reg] += 0.10 * np.sqrt(np.clip(1.0 - (dist / r) ** 2, 0.0, 1.0))


def _draw_atelectasis(cv: _Canvas, side: str, zone: str, rng: np.random.Generator) -> None:
    """Plate-like atelectasis: a dense, thin, slightly wavy band across the lung (the volume
    loss itself, a raised hemidiaphragm or shifted trachea, is part of the anatomy)."""
    lung = cv.lungs[side]
    u = rng.random(8)
    if zone == "lower":
        y = lung.dome - 0.075 - 0.02 * u[0]
    else:
        y = lung.apex + (_ZONE_FRACTION[zone] + 0.06 * (u[0] - 0.5)) * (lung.dome - lung.apex)
    m_all = np.linspace(lung.m_med, lung.m_lat, 80)
    ok = m_all[_fits(lung, cv.anat.heart, m_all, y, 0.0)]
    if ok.size < 2:
        return
    m0 = float(ok[0]) + 0.01 + 0.03 * u[1]
    m1 = float(ok[-1]) + 0.012
    slope = 0.01 + 0.03 * u[2]  # plates usually run slightly downwards laterally
    thick = 0.011 + 0.004 * u[3]
    ms = np.linspace(m0, m1, 6)
    ys = y + slope * (ms - m0) / (m1 - m0) + rng.uniform(-0.004, 0.004, size=6)
    pts = _chaikin(np.stack([0.5 + lung.sign * ms, ys], axis=1), 2)
    radii = thick * (0.75 + 0.5 * np.sin(np.linspace(0, math.pi, len(pts))))  # tapered ends
    x0, x1 = lung.x_span(m0 - 0.03, m1 + 0.03)
    got = cv.sub(x0, x1, y - 0.04, y + slope + 0.08)
    if got is None:
        return
    reg = got[0]
    band = np.zeros(cv.opacity[reg].shape, np.float32)
    origin = np.array([[reg[0].start, reg[1].start]])
    _stroke(band, cv.frame.points(pts) - origin, radii * cv.frame.px(1.0), 1.0)
    if u[4] < 0.4:  # a second, thinner plate below the first
        _stroke(band, cv.frame.points(pts[: len(pts) // 2] + [0.0, 0.035]) - origin, 0.6 * thick * cv.frame.px(1.0), 0.85)
    band *= cv.parenchyma[reg]
    cv.add_opacity(reg, band)
    cv.tissue[reg] += 0.05 * band


def _line_path(a: _Anatomy, d: FindingDetails, rng: np.random.Generator) -> np.ndarray:
    tx, cy = a.trachea_x, a.carina_y
    sx = tx - 0.035  # superior vena cava, right of the midline
    tip = {"svc": cy + 0.015, "cavoatrial_junction": cy + 0.085, "right_atrium": cy + 0.13}[
        d.line_tip or "svc"
    ]
    paths = {
        "right_ij_cvc": [(tx - 0.10, -0.06), (tx - 0.085, 0.08), (tx - 0.06, 0.19), (sx, cy - 0.08)],
        "left_ij_cvc": [
            (tx + 0.10, -0.06),
            (tx + 0.085, 0.08),
            (tx + 0.065, 0.20),
            (tx + 0.01, cy - 0.09),
            (sx, cy - 0.05),
        ],
        "right_subclavian_cvc": [(tx - 0.27, 0.165), (tx - 0.17, 0.185), (tx - 0.09, 0.215), (sx, cy - 0.08)],
        "right_picc": [(-0.06, 0.25), (0.08, 0.205), (tx - 0.24, 0.17), (tx - 0.12, 0.195), (sx - 0.01, cy - 0.1)],
        "left_picc": [
            (1.06, 0.25),
            (0.92, 0.205),
            (tx + 0.24, 0.17),
            (tx + 0.12, 0.2),
            (tx + 0.03, cy - 0.09),
            (sx, cy - 0.04),
        ],
    }
    pts = np.array(paths[d.line_kind or "right_ij_cvc"] + [(sx + 0.002, tip)], dtype=np.float64)
    pts[1:-1] += rng.uniform(-0.008, 0.008, size=(len(pts) - 2, 2))
    return _chaikin(pts, 3)


def _draw_line(metal: np.ndarray, frame: _Frame, a: _Anatomy, d: FindingDetails, rng: np.random.Generator) -> None:
    """Central venous catheter or PICC: a thin radiopaque line ending at the stated tip."""
    _stroke(metal, frame.points(_line_path(a, d, rng)), frame.px(0.0045), 0.8, round_profile=True)


def _draw_tube(metal: np.ndarray, frame: _Frame, a: _Anatomy, d: FindingDetails, rng: np.random.Generator) -> None:
    """Endotracheal tube in the trachea, tip tube_cm above the carina, radiopaque stripe."""
    tip = a.carina_y - (d.tube_cm or 4) * 10.0 / PHANTOM_FIELD_MM
    tx = a.trachea_x + rng.uniform(-0.003, 0.003)
    pts = _chaikin(np.array([[tx + 0.015, -0.08], [tx + 0.004, tip * 0.5], [tx, tip]]), 2)
    _stroke(metal, frame.points(pts), frame.px(0.011), 0.22)  # the plastic tube
    _stroke(metal, frame.points(pts + [0.006, 0.0]), frame.px(0.0032), 0.85)  # radiopaque stripe
    _stroke(metal, frame.points(np.array([[tx - 0.008, tip], [tx + 0.008, tip]])), frame.px(0.003), 0.7)


def _draw_pacemaker(metal: np.ndarray, frame: _Frame, a: _Anatomy, d: FindingDetails, rng: np.random.Generator) -> None:
    """Pulse generator in the upper chest wall with leads through the SVC into the heart."""
    sign = 1 if d.pacemaker_side == "left" else -1
    u = rng.random(8)
    gx = 0.5 + sign * (0.22 + 0.06 * u[0])
    gy = 0.13 + 0.05 * u[1]
    ga, gb = 0.055 + 0.012 * u[2], 0.042 + 0.008 * u[3]
    rot = math.radians(-15 + 30 * u[4])
    reg = frame.region(gx - 0.1, gx + 0.1, gy - 0.1, gy + 0.1)
    if reg is not None:
        x, y = frame.grid(*reg)
        cr, sr = math.cos(rot), math.sin(rot)
        p = (x - gx) * cr + (y - gy) * sr
        q = -(x - gx) * sr + (y - gy) * cr
        body = np.clip((1.0 - (p / ga) ** 4 - (q / gb) ** 4) * 6.0, 0.0, 1.0)
        header = np.clip((1.0 - (p / (ga * 0.55)) ** 4 - ((q + gb + 0.012) / 0.014) ** 4) * 6.0, 0.0, 1.0)
        battery = np.clip((1.0 - (p / (ga * 0.7)) ** 4 - ((q - gb * 0.2) / (gb * 0.55)) ** 4) * 6.0, 0.0, 1.0)
        dev = np.maximum(body * (1.25 - 0.15 * battery), 0.55 * header)
        np.maximum(metal[reg], dev, out=metal[reg])
    h = a.heart
    sx = a.trachea_x - 0.035
    common = [
        (gx - sign * 0.01, gy - gb - 0.01),
        (gx - sign * 0.05, gy - gb - 0.03),  # slack loop over the generator
        (gx - sign * 0.09, gy + 0.01),
        (0.5 + sign * 0.12, 0.2 + 0.01 * u[5]),
        (sx + (0.015 if sign > 0 else -0.005), a.carina_y - 0.06),
        (sx, a.carina_y + 0.06),
    ]
    ra = (h.x - 0.75 * h.half_width, h.y - 0.45 * h.hb)
    rv = (h.x + 0.45 * h.half_width, h.y + 0.55 * h.hb)
    cs = (h.x + 0.8 * h.half_width, h.y - 0.05 * h.hb)
    leads = [common + [(sx + 0.01, a.carina_y + 0.14), (rv[0] - 0.08, rv[1] - 0.04), rv]]
    if (d.pacemaker_leads or 1) >= 2:
        leads.append(common + [(ra[0] - 0.01, ra[1] + 0.05), (ra[0] + 0.02, ra[1] - 0.01)])
    if (d.pacemaker_leads or 1) >= 3:
        leads.append(common + [(sx + 0.03, a.carina_y + 0.12), (h.x, h.y - 0.6 * h.hb), cs])
    for i, lead in enumerate(leads):
        pts = np.array(lead, dtype=np.float64)
        pts[1:] += rng.uniform(-0.006, 0.006, size=(len(pts) - 1, 2)) + 0.004 * i
        _stroke(metal, frame.points(_chaikin(pts, 2)), frame.px(0.0028), 0.8, round_profile=True)


def render_radiograph(
    f: StudyFindings,
    rng: np.random.Generator,
    shape: tuple[int, int] = (512, 512),
    *,
    details: FindingDetails | None = None,
) -> np.ndarray:
    """Draw a PA chest radiograph of f: float32 (rows, cols) in [0, 1], 1 = dense.

    One draw of rng seeds independent streams for the anatomy, the textures, each finding and
    the noise, so the same rng state with different findings shows the same patient with
    different findings. details (sizes, device positions) default to sample_details(f, ...).
    Anatomy is drawn at half resolution for images of 320+ pixels and resampled; devices and
    noise are drawn at full resolution.
    """
    rows, cols = int(shape[0]), int(shape[1])
    if rows < 32 or cols < 32:
        raise PhantomError(f"image too small: {rows}x{cols}")
    children = np.random.SeedSequence(int(rng.integers(0, 2**63 - 1))).spawn(12)
    streams = [np.random.Generator(np.random.PCG64(c)) for c in children]
    if details is None:
        details = sample_details(f, streams[0])
    anat = _sample_anatomy(f, details, streams[1], (rows, cols))
    factor = 2 if min(rows, cols) >= 320 else 1
    work = anat.frame.resized(-(-rows // factor), -(-cols // factor))
    cv = _Canvas(anat, work)

    _draw_body(cv)
    _draw_lungs(cv, f, details)
    _draw_vessels(cv, streams[2])
    _draw_mediastinum(cv)
    _draw_bones(cv)
    if f.effusion:
        for side in ("left", "right") if f.effusion == "both" else (f.effusion,):
            _draw_effusion(cv, side, details.effusion_size or "small", streams[4])
    if f.consolidation:
        _draw_consolidation(cv, *f.consolidation, streams[5])
    if f.nodule:
        _draw_nodule(cv, f.nodule, streams[6])
    if f.atelectasis:
        _draw_atelectasis(cv, *f.atelectasis, streams[7])

    texture = _smooth_field(streams[3], cv.shape, (44, 44))
    markings = (0.86 + 0.05 * texture) * (1.0 - 0.4 * cv.vessels)
    air = cv.parenchyma * markings + 1.25 * cv.pleural_air
    air *= (1.0 - 0.5 * cv.lines) * (1.0 - cv.opacity)
    air += 0.55 * cv.gas
    density = cv.tissue - 0.36 * air
    if factor != 1:
        density = _resample(density, (rows, cols))

    frame = anat.frame
    metal = np.zeros((rows, cols), np.float32)
    if "line" in f.devices:
        _draw_line(metal, frame, anat, details, streams[8])
    if "tube" in f.devices:
        _draw_tube(metal, frame, anat, details, streams[9])
    if "pacemaker" in f.devices:
        _draw_pacemaker(metal, frame, anat, details, streams[10])
    density += metal

    ramp = np.linspace(anat.bias - anat.tilt_gain, anat.bias + anat.tilt_gain, rows, dtype=np.float32)
    img = np.clip(anat.gain * density + ramp[:, None], 0.0, 1.0)
    img += anat.contrast_curve * img * (1.0 - img)  # exposure curve: a cheap gamma
    img += streams[11].standard_normal((rows, cols), dtype=np.float32) * np.float32(anat.noise)
    np.clip(img, 0.0, 1.0, out=img)
    return img


# --------------------------------------------------------------------------------------------
# DICOM


_FAMILY = (
    "SMITH", "JOHNSON", "GARCIA", "MILLER", "DAVIS", "MARTINEZ", "LOPEZ", "WILSON", "ANDERSON",
    "THOMAS", "MOORE", "JACKSON", "MARTIN", "LEE", "THOMPSON", "WHITE", "HARRIS", "CLARK",
    "LEWIS", "WALKER", "HALL", "YOUNG", "KING", "WRIGHT", "SCOTT", "GREEN", "BAKER", "ADAMS",
    "NELSON", "HILL", "CAMPBELL", "MITCHELL", "ROBERTS", "CARTER", "PHILLIPS", "EVANS",
)  # fmt: skip
_GIVEN = {
    "F": ("MARY", "LINDA", "SUSAN", "KAREN", "NANCY", "LISA", "ANNA", "EMMA", "OLIVIA", "SOFIA",
          "GRACE", "CHLOE", "HANNAH", "JUDITH", "RUTH", "ELENA"),
    "M": ("JAMES", "JOHN", "ROBERT", "MICHAEL", "DAVID", "WILLIAM", "RICHARD", "JOSEPH", "DANIEL",
          "PAUL", "MARK", "GEORGE", "LUCAS", "HENRY", "SAMUEL", "PETER"),
}  # fmt: skip
_INSTITUTIONS = (
    "Riverside General Hospital",
    "St. Aldric Medical Center",
    "Northfield University Hospital",
    "Lakeshore Community Hospital",
)
_PHYSICIANS = ("HOUSE^GREGORY", "GREY^MEREDITH", "ROSS^DOUGLAS", "QUINN^MICHAELA", "KILDARE^JAMES")
# Fictional vendors: the files must not pass for a real manufacturer's output.
_EQUIPMENT = {
    "CR": (("Phantom Imaging Systems", "PhantomCR 35"), ("Nordlicht Medical", "NL-CR Reader 2")),
    "DX": (("Phantom Imaging Systems", "PhantomDR 4343"), ("Meridian Radiography", "MR-DX Flat 43")),
}


@dataclass(frozen=True)
class Phantom:
    """One synthetic study: its ground truth, its report and its DICOM dataset."""

    seed: int
    findings: StudyFindings
    details: FindingDetails
    report: Report
    dataset: FileDataset

    def to_bytes(self) -> bytes:
        """The DICOM Part 10 file, exactly as write_phantom_set writes it."""
        buf = DicomBytesIO()
        self.dataset.save_as(buf, enforce_file_format=True)
        return buf.getvalue()


def _uid(kind: str, seed: int) -> UID:
    return generate_uid(entropy_srcs=[f"securemed-phantom|{kind}|{seed}"])


def _streams(seed: int, n: int) -> list[np.random.Generator]:
    if not isinstance(seed, (int, np.integer)) or isinstance(seed, bool) or seed < 0:
        raise PhantomError(f"seed must be a non-negative int, got {seed!r}")
    children = np.random.SeedSequence([_NAMESPACE, int(seed)]).spawn(n)
    return [np.random.Generator(np.random.PCG64(c)) for c in children]


def _stored_pixels(img: np.ndarray, bits: int, photometric: str) -> np.ndarray:
    top = (1 << bits) - 1
    values = np.rint(img * top).astype(np.uint16)
    if photometric == "MONOCHROME1":
        values = np.uint16(top) - values  # high stored value = dark
    return values


def _window(img: np.ndarray, bits: int, photometric: str) -> tuple[float, float]:
    """Window centre and width (stored values) spanning the body, from the darkest lung to
    bone, ignoring the air around the patient."""
    sample = img[::4, ::4]
    body = sample[sample > 0.12]
    if body.size < 16:
        body = sample.ravel()
    lo, hi = np.percentile(body, [1.0, 99.5])
    top = (1 << bits) - 1
    center = (lo + hi) / 2.0 * top
    if photometric == "MONOCHROME1":
        center = top - center
    return float(center), max(float(hi - lo) * 1.05 * top, 2.0)


def _ds_value(v: float) -> str:
    return f"{v:.6g}"


def make_phantom(
    seed: int,
    *,
    modality: str | None = None,
    photometric: str | None = None,
    bits_stored: int | None = None,
    rows: int | None = None,
    cols: int | None = None,
) -> Phantom:
    """Build the phantom of `seed` (a non-negative int).

    Unset options are drawn from the seed: CR or DX, MONOCHROME1 or MONOCHROME2, 12..16 bits
    stored and, when neither rows nor cols is given, one of SIZES (one given: a square image).
    The findings, report and picture depend only on the seed and the size, so phantoms that
    differ only in encoding show the same picture. Raises PhantomError on invalid options.
    """
    s_find, s_det, s_rep, s_img, s_hdr = _streams(seed, 5)
    f = sample_findings(s_find)
    details = sample_details(f, s_det)
    report = write_report(f, s_rep, details=details)

    h = s_hdr.random(24)

    def pick(options: tuple[Any, ...], i: int) -> Any:
        return options[int(h[i] * len(options))]

    modality = modality or pick(MODALITIES, 0)
    photometric = photometric or pick(PHOTOMETRICS, 1)
    bits = bits_stored if bits_stored is not None else pick(BITS_STORED, 2)
    size = pick(SIZES, 3)
    if rows is None and cols is None:
        rows, cols = size
    elif rows is None or cols is None:  # one given: a square image
        rows = cols = rows if rows is not None else cols
    assert rows is not None and cols is not None
    rows, cols = int(rows), int(cols)
    if modality not in MODALITIES:
        raise PhantomError(f"modality must be one of {MODALITIES}")
    if photometric not in PHOTOMETRICS:
        raise PhantomError(f"photometric must be one of {PHOTOMETRICS}")
    if not 12 <= int(bits) <= 16:
        raise PhantomError("bits_stored must be in 12..16")
    bits = int(bits)

    img = render_radiograph(f, s_img, (rows, cols), details=details)
    pixels = _stored_pixels(img, bits, photometric)

    sop_class = CR_IMAGE_STORAGE if modality == "CR" else DX_IMAGE_STORAGE_FOR_PRESENTATION
    sop_uid = _uid("sop", seed)
    meta = FileMetaDataset()
    meta.FileMetaInformationVersion = b"\x00\x01"
    meta.MediaStorageSOPClassUID = sop_class
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = _uid("implementation", 0)
    meta.ImplementationVersionName = "SECUREMED_PH1"

    ds = FileDataset("", pydicom.Dataset(), file_meta=meta, preamble=b"\x00" * 128)
    sex = pick(("F", "M"), 4)
    age = 18 + int(h[5] * 73)
    study_day = np.datetime64("2023-01-01") + int(h[6] * 1000)
    birth = study_day - np.timedelta64(int(age * 365.25 + h[7] * 360), "D")
    hour, minute, second = 7 + int(h[8] * 14), int(h[9] * 60), int(h[10] * 60)
    study_date = str(study_day).replace("-", "")
    study_time = f"{hour:02d}{minute:02d}{second:02d}"
    acq_time = f"{hour:02d}{min(minute + 2, 59):02d}{second:02d}"
    accession = f"A{int(_uid('accession', seed).rsplit('.', 1)[1]) % 10**12:012d}"
    patient_id = f"PH{int(_uid('patient', seed).rsplit('.', 1)[1]) % 10**10:010d}"
    spacing = PHANTOM_FIELD_MM / min(rows, cols)
    manufacturer, model = pick(_EQUIPMENT[modality], 11)
    icu = bool(f.devices & {"tube", "line"})
    view = "AP" if (icu and h[12] < 0.7) or h[12] < 0.08 else "PA"

    ds.SpecificCharacterSet = "ISO_IR 100"
    ds.ImageType = ["ORIGINAL", "PRIMARY"]
    ds.InstanceCreationDate = study_date
    ds.InstanceCreationTime = acq_time
    ds.SOPClassUID = sop_class
    ds.SOPInstanceUID = sop_uid
    ds.StudyDate = ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = study_date
    ds.StudyTime = study_time
    ds.SeriesTime = ds.AcquisitionTime = ds.ContentTime = acq_time
    ds.AccessionNumber = accession
    ds.Modality = modality
    if modality == "DX":
        ds.PresentationIntentType = "FOR PRESENTATION"
    ds.Manufacturer = manufacturer
    ds.InstitutionName = pick(_INSTITUTIONS, 13)
    ds.ReferringPhysicianName = pick(_PHYSICIANS, 14)
    ds.StationName = f"XR{1 + int(h[15] * 6):02d}"
    ds.StudyDescription = f"XR CHEST 1 VIEW {view}"
    ds.SeriesDescription = f"CHEST {view}"
    ds.ManufacturerModelName = model
    ds.PatientName = f"{pick(_FAMILY, 16)}^{pick(_GIVEN[sex], 17)}"
    ds.PatientID = patient_id
    ds.PatientBirthDate = str(birth).replace("-", "")
    ds.PatientSex = sex
    ds.PatientAge = f"{age:03d}Y"
    ds.BodyPartExamined = "CHEST"
    ds.KVP = _ds_value(110 + int(h[18] * 16)) if view == "PA" else _ds_value(90 + int(h[18] * 10))
    ds.DistanceSourceToDetector = "1800" if view == "PA" else "1000"
    ds.ExposureTime = str(4 + int(h[19] * 12))
    ds.Exposure = str(2 + int(h[20] * 4))
    ds.SoftwareVersions = "1.4.2"
    ds.ViewPosition = view
    ds.StudyInstanceUID = _uid("study", seed)
    ds.SeriesInstanceUID = _uid("series", seed)
    ds.StudyID = accession[-8:]
    ds.SeriesNumber = 1
    ds.InstanceNumber = 1
    ds.PatientOrientation = ["L", "F"]  # rows run to the patient's left, columns to the feet
    ds.ImageComments = "SYNTHETIC PHANTOM - NOT A PATIENT"
    if modality == "DX":
        ds.ImageLaterality = "U"
        code = _code_item("51185008", "SCT", "Chest")
        ds.AnatomicRegionSequence = Sequence([code])
        ds.DetectorType = "SCINTILLATOR"
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = photometric
    ds.Rows = rows
    ds.Columns = cols
    ds.BitsAllocated = 16
    ds.BitsStored = bits
    ds.HighBit = bits - 1
    ds.PixelRepresentation = 0
    ds.ImagerPixelSpacing = [_ds_value(spacing), _ds_value(spacing)]
    ds.BurnedInAnnotation = "NO"
    ds.LossyImageCompression = "00"
    if modality == "DX":
        # Higher stored value = less beam intensity (denser) on MONOCHROME2, and the reverse.
        ds.PixelIntensityRelationship = "LOG"
        ds.PixelIntensityRelationshipSign = -1 if photometric == "MONOCHROME2" else 1
        ds.PresentationLUTShape = "IDENTITY" if photometric == "MONOCHROME2" else "INVERSE"
    center, width = _window(img, bits, photometric)
    ds.WindowCenter = _ds_value(center)
    ds.WindowWidth = _ds_value(width)
    ds.VOILUTFunction = "LINEAR"
    ds.RescaleIntercept = "0"
    ds.RescaleSlope = "1"
    ds.RescaleType = "US"
    ds.PixelData = pixels.tobytes()
    ds["PixelData"].VR = "OW"
    return Phantom(seed=seed, findings=f, details=details, report=report, dataset=ds)


def _code_item(value: str, scheme: str, meaning: str) -> pydicom.Dataset:
    item = pydicom.Dataset()
    item.CodeValue = value
    item.CodingSchemeDesignator = scheme
    item.CodeMeaning = meaning
    return item


# --------------------------------------------------------------------------------------------
# Sets and manifests


def phantom_seed(set_seed: int, index: int) -> int:
    """Seed of phantom `index` of the set `set_seed`; distinct sets do not share phantoms."""
    state = np.random.SeedSequence([_NAMESPACE, int(set_seed), int(index)]).generate_state(2, np.uint32)
    return (int(state[0]) << 31) ^ int(state[1])


def manifest_entry(phantom: Phantom, item_id: str, file: str) -> dict[str, Any]:
    """The manifest line of one phantom (keys: MANIFEST_KEYS plus seed and details)."""
    ds = phantom.dataset
    return {
        "id": item_id,
        "file": file,
        "findings": phantom.findings.to_dict(),
        "labels": [int(v) for v in phantom.findings.labels()],
        "report": phantom.report.text,
        "findings_text": phantom.report.findings,
        "impression_text": phantom.report.impression,
        "accession": str(ds.AccessionNumber),
        "study_uid": str(ds.StudyInstanceUID),
        "seed": phantom.seed,
        "details": phantom.details.to_dict(),
    }


def iter_phantoms(n: int, seed: int, **kwargs: Any) -> Iterator[Phantom]:
    """The n phantoms of the set `seed`, in index order (see write_phantom_set)."""
    for i in range(n):
        yield make_phantom(phantom_seed(seed, i), **kwargs)


def write_phantom_set(out_dir: Path | str, n: int, seed: int, **kwargs: Any) -> Path:
    """Write n phantoms as out_dir/<index>.dcm plus out_dir/manifest.jsonl; returns out_dir.

    kwargs go to make_phantom (e.g. rows=256, cols=256); unset options vary per phantom, giving a
    mix of CR/DX, MONOCHROME1/2, 12..16 bits and a few sizes. The manifest has one JSON object
    per line with MANIFEST_KEYS, "labels" aligned with FINDINGS; it is written last, atomically,
    so a manifest present means a complete set.
    """
    if n < 0:
        raise PhantomError("n must be >= 0")
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    width = max(5, len(str(max(n - 1, 0))))
    lines = []
    for i, phantom in enumerate(iter_phantoms(n, seed, **kwargs)):
        item_id = f"{i:0{width}d}"
        name = f"{item_id}.dcm"
        phantom.dataset.save_as(out / name, enforce_file_format=True)
        lines.append(json.dumps(manifest_entry(phantom, item_id, name), separators=(",", ":")))
    fd, tmp = tempfile.mkstemp(dir=out, prefix=".manifest-", suffix=".tmp")
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write("".join(line + "\n" for line in lines))
    os.replace(tmp, out / MANIFEST_NAME)
    return out


def load_phantom_manifest(directory: Path | str) -> list[dict[str, Any]]:
    """Read directory/manifest.jsonl; raises ManifestError when missing or malformed."""
    path = Path(directory) / MANIFEST_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ManifestError(f"cannot read {path}: {exc.strerror}") from exc
    entries = []
    for number, line in enumerate(text.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            entry = json.loads(line)
        except json.JSONDecodeError as exc:
            raise ManifestError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        if not isinstance(entry, dict):
            raise ManifestError(f"{path}:{number}: not a JSON object")
        missing = [k for k in MANIFEST_KEYS if k not in entry]
        if missing:
            raise ManifestError(f"{path}:{number}: missing keys {missing}")
        if len(entry["labels"]) != len(FINDINGS):
            raise ManifestError(f"{path}:{number}: labels must have {len(FINDINGS)} values")
        entries.append(entry)
    return entries
