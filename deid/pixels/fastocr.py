"""Optional fast path of the OCR engine: libtesseract in process through `tesserocr` (PyPI, a
manylinux wheel that bundles libtesseract), used only when it is installed, the settings name the
default ``tesseract`` and ``ocr_engine`` is ``"auto"``; otherwise `deid.pixels.ocr.Tesseract` runs
the Debian binary as before.

Contract of `FastEngines.run(image, psm, language)`: the same TSV as ``tesseract ... tsv`` (header
row included), read from an engine taken from a process-wide pool of initialised engines (loading
the model costs ~0.25 s, a call on a candidate mosaic ~30 ms; a new process costs the load every
time). The caller holds `OCR_GATE`, so at most ``ocr_workers`` engines exist and run at once. The
image stays in memory (no temporary file). Unlike the subprocess there is no per-call timeout:
the mosaics it reads are bounded in size. `available()` is False when tesserocr is missing or no
engine can be initialised; errors raise OcrError without recognised text.
"""

from __future__ import annotations

import os
import threading
from typing import Any

import numpy as np
from PIL import Image

from deid.pixels.errors import OcrError

TSV_HEADER = "level\tpage_num\tblock_num\tpar_num\tline_num\tword_num\tleft\ttop\twidth\theight\tconf\ttext"
_TESSDATA = ("/usr/share/tesseract-ocr/5/tessdata", "/usr/share/tesseract-ocr/4.00/tessdata")


def _tessdata() -> str | None:
    for path in (os.environ.get("TESSDATA_PREFIX"), *_TESSDATA):
        if path and os.path.isdir(path):
            return path
    return None


class FastEngines:
    """A pool of initialised tesserocr engines per language (see the module docstring)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._free: dict[str, list[Any]] = {}
        self._module: Any = None
        self._checked = False

    def available(self) -> bool:
        with self._lock:
            if not self._checked:
                self._checked = True
                os.environ.setdefault("OMP_THREAD_LIMIT", "1")  # deterministic, as the binary
                try:
                    import tesserocr  # type: ignore[import-untyped]

                    self._module = tesserocr if _tessdata() else None
                except ImportError:
                    self._module = None
            return self._module is not None

    def run(self, image: np.ndarray, psm: int, language: str) -> str:
        with self._lock:
            free = self._free.setdefault(language, [])
            api = free.pop() if free else None
        if api is None:
            try:
                api = self._module.PyTessBaseAPI(path=_tessdata(), lang=language, oem=self._module.OEM.LSTM_ONLY)
            except RuntimeError:
                raise OcrError(f"libtesseract could not load language {language!r}") from None
        try:
            api.SetPageSegMode(psm)
            api.SetImage(Image.fromarray(image))
            tsv = api.GetTSVText(0)
        finally:
            with self._lock:
                self._free[language].append(api)
        return f"{TSV_HEADER}\n{tsv}"


#: The process-wide engine pool.
FAST_ENGINES = FastEngines()

__all__ = ["FAST_ENGINES", "TSV_HEADER", "FastEngines"]
