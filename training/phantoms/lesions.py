"""Findings drawn into the picture: pleural effusion, consolidation, nodule or mass, atelectasis."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from training.phantoms.anatomy import _Heart, _Lung
from training.phantoms.base import PHANTOM_FIELD_MM
from training.phantoms.canvas import _Canvas
from training.phantoms.drawing import _chaikin, _smooth_field, _soft, _stroke


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
        _stroke(
            band, cv.frame.points(pts[: len(pts) // 2] + [0.0, 0.035]) - origin, 0.6 * thick * cv.frame.px(1.0), 0.85
        )
    band *= cv.parenchyma[reg]
    cv.add_opacity(reg, band)
    cv.tissue[reg] += 0.05 * band
