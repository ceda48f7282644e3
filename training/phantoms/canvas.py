"""The working layers of one radiograph, and the normal anatomy drawn into them
(body, lungs, vessels, mediastinum, bones)."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from training.findings import FindingDetails, StudyFindings
from training.phantoms.anatomy import _Anatomy, _Frame
from training.phantoms.drawing import _segments, _soft, _stroke


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

    def sub(
        self, x0: float, x1: float, y0: float, y1: float
    ) -> tuple[tuple[slice, slice], np.ndarray, np.ndarray] | None:
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
