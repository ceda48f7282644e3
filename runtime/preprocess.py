"""DICOM pixel data -> model input, the same function for training and inference.

Steps: decode pixels; Modality LUT (rescale slope/intercept or LUT); VOI LUT (window centre/width with
LINEAR, LINEAR_EXACT or SIGMOID per PS3.3 C.11.2.1.2, else the VOI LUT Sequence, else a robust
percentile window); MONOCHROME1 inverted so that 1.0 is always displayed white; BiomedCLIP's resize of
the shortest side (bicubic) and centre crop; grey replicated to 3 channels; CLIP mean/std.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.pixels import apply_modality_lut, apply_voi_lut

from runtime.bundle import Preprocessing
from runtime.errors import PreprocessError, UnsupportedImage

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}


def read_dicom(source: Path | str | Dataset) -> Dataset:
    if isinstance(source, Dataset):
        return source
    try:
        return pydicom.dcmread(str(source))
    except Exception as exc:  # pydicom raises many types for bad files
        raise PreprocessError(f"not a readable DICOM file: {type(exc).__name__}") from exc


def _first(value: object) -> float:
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        value = value[0]
    return float(value)  # type: ignore[arg-type]


def display_image(ds: Dataset) -> np.ndarray:
    """Grey-level image as displayed, float32 in [0, 1], 1.0 = white. Single frame, monochrome only."""
    photometric = str(ds.get("PhotometricInterpretation", ""))
    if photometric not in ("MONOCHROME1", "MONOCHROME2"):
        raise UnsupportedImage(f"photometric interpretation {photometric or 'missing'} is not monochrome")
    if int(ds.get("NumberOfFrames", 1) or 1) != 1:
        raise UnsupportedImage("multi-frame images are not supported")
    if "PixelData" not in ds:
        raise UnsupportedImage("no pixel data")
    try:
        stored = ds.pixel_array
    except Exception as exc:
        raise PreprocessError(f"cannot decode pixel data ({ds.file_meta.get('TransferSyntaxUID', '?')}): {exc}") from exc
    if stored.ndim != 2:
        raise UnsupportedImage(f"expected a 2-D image, got shape {stored.shape}")

    values = np.asarray(apply_modality_lut(stored, ds), dtype=np.float64)
    if "WindowCenter" in ds and "WindowWidth" in ds:
        image = _window(values, _first(ds.WindowCenter), _first(ds.WindowWidth),
                        str(ds.get("VOILUTFunction", "LINEAR")).upper())
    elif "VOILUTSequence" in ds:
        lut = ds.VOILUTSequence[0]
        bits = int(lut.LUTDescriptor[2])
        image = np.asarray(apply_voi_lut(stored, ds), dtype=np.float64) / float(2**bits - 1)
    else:
        lo, hi = np.percentile(values, (0.5, 99.5))
        image = (values - lo) / max(hi - lo, 1e-6)
    image = np.clip(image, 0.0, 1.0)
    if photometric == "MONOCHROME1":
        image = 1.0 - image
    return image.astype(np.float32)


def _window(x: np.ndarray, center: float, width: float, function: str) -> np.ndarray:
    if width <= 0 or (function == "LINEAR" and width < 1):
        raise PreprocessError(f"invalid window width {width}")
    if function == "SIGMOID":
        # 1 / (1 + exp(-4 (x - c) / w)), written with tanh so that it cannot overflow
        return 0.5 * (1.0 + np.tanh(2.0 * (x - center) / width))
    if function == "LINEAR_EXACT":
        return (x - center) / width + 0.5
    if width == 1:
        # PS3.3 C.11.2.1.2.1 with w = 1 is a threshold at c - 0.5
        return (x > center - 0.5).astype(np.float64)
    return (x - (center - 0.5)) / (width - 1.0) + 0.5


def to_model_input(image: np.ndarray, cfg: Preprocessing) -> np.ndarray:
    """[H, W] display image in [0, 1] -> [3, S, S] float32 normalised like BiomedCLIP."""
    if cfg.resize != "shortest_side" or cfg.crop != "center":
        raise PreprocessError(f"unsupported preprocessing {cfg.resize}/{cfg.crop}")
    size = cfg.image_size
    h, w = image.shape
    scale = size / min(h, w)
    new_h, new_w = max(size, int(h * scale)), max(size, int(w * scale))
    resized = Image.fromarray(np.ascontiguousarray(image, dtype=np.float32)).resize(
        (new_w, new_h), resample=_RESAMPLE[cfg.interpolation]
    )
    arr = np.asarray(resized, dtype=np.float32)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    arr = np.clip(arr[top: top + size, left: left + size], 0.0, 1.0)
    mean = np.asarray(cfg.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(cfg.std, dtype=np.float32)[:, None, None]
    return ((np.broadcast_to(arr, (3, size, size)) - mean) / std).astype(np.float32)


def preprocess(source: Path | str | Dataset, cfg: Preprocessing) -> np.ndarray:
    return to_model_input(display_image(read_dicom(source)), cfg)
