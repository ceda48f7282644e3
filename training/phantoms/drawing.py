"""Drawing primitives: resampling, smooth random fields, anti-aliased strokes."""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np


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
