"""Support devices drawn at full resolution: central lines and PICCs, endotracheal tubes, pacemakers."""

from __future__ import annotations

import math

import numpy as np

from training.findings import FindingDetails
from training.phantoms.anatomy import _Anatomy, _Frame
from training.phantoms.base import PHANTOM_FIELD_MM
from training.phantoms.drawing import _chaikin, _stroke


def _line_path(a: _Anatomy, d: FindingDetails, rng: np.random.Generator) -> np.ndarray:
    tx, cy = a.trachea_x, a.carina_y
    sx = tx - 0.035  # superior vena cava, right of the midline
    tip = {"svc": cy + 0.015, "cavoatrial_junction": cy + 0.085, "right_atrium": cy + 0.13}[d.line_tip or "svc"]
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
