"""render_radiograph: anatomy, findings, devices, exposure and noise composed into one image."""

from __future__ import annotations

import numpy as np

from training.findings import FindingDetails, StudyFindings, sample_details
from training.phantoms.anatomy import _sample_anatomy
from training.phantoms.base import PhantomError
from training.phantoms.canvas import _Canvas, _draw_body, _draw_bones, _draw_lungs, _draw_mediastinum, _draw_vessels
from training.phantoms.devices import _draw_line, _draw_pacemaker, _draw_tube
from training.phantoms.drawing import _resample, _smooth_field
from training.phantoms.lesions import _draw_atelectasis, _draw_consolidation, _draw_effusion, _draw_nodule


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
