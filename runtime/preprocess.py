"""DICOM pixel data -> model input, the same function for training and inference.

Steps: decode pixels; the grayscale pipeline of `runtime.grayscale` with the `MODEL_INPUT` fallbacks
(Modality LUT or rescale slope/intercept; VOI: window centre/width with LINEAR, LINEAR_EXACT or SIGMOID
per PS3.3 C.11.2.1.2, else the VOI LUT Sequence, else a robust percentile window; MONOCHROME1 inverted so
that 1.0 is always displayed white); BiomedCLIP's resize of the shortest side (bicubic) and centre crop;
grey replicated to 3 channels; CLIP mean/std.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.uid import ExplicitVRBigEndian

from runtime.bundle import Preprocessing
from runtime.errors import PreprocessError, UnsupportedImage
from runtime.grayscale import Fallbacks, first_item, invert_monochrome1, modality_lut, voi

_RESAMPLE = {"bicubic": Image.Resampling.BICUBIC, "bilinear": Image.Resampling.BILINEAR}

#: The grayscale fallbacks the model was trained with; they are pydicom's `apply_modality_lut` and
#: `apply_voi_lut` as this module used them, and changing one changes what the model sees. Strict:
#: an image whose window or LUT cannot be applied is refused (PreprocessError) rather than shown to the
#: model in a guessed contrast. Rescale only with both Rescale Slope and Intercept present. A window
#: wins over the VOI LUT Sequence, whose output is scaled by its nominal depth (2**bits - 1). Without
#: either, the 0.5 / 99.5 percentiles, so that a few saturated pixels (collimator edges, burned-in
#: text) do not compress the anatomy. `display_image` also feeds the VOI LUT with the stored values
#: rather than the modality output (PS3.4 N.2.1 chains them); the two differ only for an image with
#: both a VOI LUT Sequence and a Modality LUT or non-identity rescale. Not kept from pydicom: its untyped
#: exceptions on malformed items (now PreprocessError), its index wrap-around for 8-bit VOI LUTs applied
#: to values above 255 and its int16 overflow for signed pixels with a negative first Modality LUT input.
MODEL_INPUT = Fallbacks(
    strict=True, lone_rescale=False, window_first=True, lut_full_scale=True, auto_percentiles=(0.5, 99.5)
)


def read_dicom(source: Path | str | Dataset) -> Dataset:
    if isinstance(source, Dataset):
        return source
    try:
        return pydicom.dcmread(str(source))
    except Exception as exc:  # pydicom raises many types for bad files
        raise PreprocessError(f"not a readable DICOM file: {type(exc).__name__}") from exc


def _big_endian(ds: Dataset) -> bool:
    """Byte order of LUT Data given as bytes: that of the transfer syntax (as pydicom reads it)."""
    meta = getattr(ds, "file_meta", None)
    return meta is not None and meta.get("TransferSyntaxUID") == ExplicitVRBigEndian


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
        raise PreprocessError(
            f"cannot decode pixel data ({ds.file_meta.get('TransferSyntaxUID', '?')}): {exc}"
        ) from exc
    if stored.ndim != 2:
        raise UnsupportedImage(f"expected a 2-D image, got shape {stored.shape}")

    big_endian = _big_endian(ds)
    values = modality_lut(stored, first_item(ds, "ModalityLUTSequence"), ds, MODEL_INPUT, big_endian=big_endian)
    image = voi(values, ds, first_item(ds, "VOILUTSequence"), MODEL_INPUT, lut_values=stored, big_endian=big_endian)
    return invert_monochrome1(image, photometric).astype(np.float32)


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
    arr = np.clip(arr[top : top + size, left : left + size], 0.0, 1.0)
    mean = np.asarray(cfg.mean, dtype=np.float32)[:, None, None]
    std = np.asarray(cfg.std, dtype=np.float32)[:, None, None]
    return ((np.broadcast_to(arr, (3, size, size)) - mean) / std).astype(np.float32)


def preprocess(source: Path | str | Dataset, cfg: Preprocessing) -> np.ndarray:
    return to_model_input(display_image(read_dicom(source)), cfg)
