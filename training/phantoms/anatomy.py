"""Geometry and anatomy: the image frame, lungs, heart, and the patient's sampled anatomy."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from training.findings import FindingDetails, StudyFindings


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


def _sample_anatomy(f: StudyFindings, d: FindingDetails, rng: np.random.Generator, shape: tuple[int, int]) -> _Anatomy:
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
