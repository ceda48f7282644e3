"""The OCR engine: the Debian ``tesseract`` binary, run through `subprocess`, and its TSV output.

Contract:

* `Tesseract.run(image, psm)` pipes an 8-bit greyscale image to tesseract on stdin (binary PGM) and
  reads the TSV from stdout: no temporary file holding patient pixels is ever written to disk
  (pytesseract writes both image and result to the temp folder), the environment and the timeout are
  under our control, and there is no extra dependency. Tesseract runs single-threaded per process
  (OMP_THREAD_LIMIT=1), so results are deterministic and parallelism is the caller's (one process per
  image). A missing binary, a non-zero exit or a timeout raises `OcrError`; the recognised text is
  never logged nor put in a message.
* Optional fast path: where `tesserocr` (libtesseract in process) is installed, the settings name
  the default ``tesseract`` and ``ocr_engine = "auto"``, the same TSV comes from a pool of loaded
  engines (deid.pixels.fastocr) instead of a new process per call; ``ocr_engine = "subprocess"``
  always runs the binary. The default install (Debian tesseract-ocr alone) runs the binary.
* Tesseract processes are bounded process-wide: `Tesseract.run` waits on `OCR_GATE` until fewer
  than its settings' ``ocr_workers`` processes run in this process (all cleaners share the gate),
  so concurrent studies queue for OCR instead of starting one process per rendering each.
* `tsv_words` keeps the word rows (level 5) with text and a confidence of at least 0, boxes divided
  by the upscale factor and rounded outwards, so a box always covers the word in frame pixels.
"""

from __future__ import annotations

import io
import os
import shutil
import subprocess
import threading
from dataclasses import dataclass

import numpy as np
from PIL import Image

from deid.pixels.errors import OcrError
from deid.pixels.fastocr import FAST_ENGINES
from deid.pixels.settings import PixelCleanSettings


@dataclass(frozen=True)
class Word:
    """One word read by tesseract."""

    text: str  # kept in memory only, never logged
    confidence: float
    box: tuple[int, int, int, int]  # y0, x0, y1, x1 in frame pixels (strip pixels for glyphs)
    line: tuple[str, ...] = ()  # tesseract's (block, paragraph, line) numbers

    @property
    def height(self) -> int:
        return self.box[2] - self.box[0]

    @property
    def alnum(self) -> int:
        return sum(ch.isalnum() for ch in self.text)


def tsv_words(tsv: str, scale: int) -> list[Word]:
    """Word rows (level 5) of tesseract's TSV, boxes divided by `scale` (rounded outwards)."""
    words = []
    for line in tsv.splitlines()[1:]:
        parts = line.split("\t", 11)
        if len(parts) != 12 or parts[0] != "5":
            continue
        text = parts[11].strip()
        try:
            left, top, width, height = (int(p) for p in parts[6:10])
            conf = float(parts[10])
        except ValueError:
            continue
        if not text or conf < 0:
            continue
        box = (top // scale, left // scale, -(-(top + height) // scale), -(-(left + width) // scale))
        words.append(Word(text, conf, box, tuple(parts[2:5])))
    return words


class OcrGate:
    """Counts the tesseract processes running in this process; `slot(limit)` waits until fewer
    than `limit` run. `peak` is the most that ever ran at once (for tests and benchmarks)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.active = 0
        self.peak = 0

    def acquire(self, limit: int) -> None:
        with self._cond:
            while self.active >= limit:
                self._cond.wait()
            self.active += 1
            self.peak = max(self.peak, self.active)

    def release(self) -> None:
        with self._cond:
            self.active -= 1
            self._cond.notify_all()

    def reset_peak(self) -> None:
        with self._cond:
            self.peak = self.active


#: The process-wide bound on concurrent tesseract processes.
OCR_GATE = OcrGate()


class Tesseract:
    """The tesseract binary named by the settings (path or name on PATH), language and timeout."""

    def __init__(self, settings: PixelCleanSettings) -> None:
        self._settings = settings
        self._env = dict(os.environ, OMP_THREAD_LIMIT="1")

    def executable(self) -> str:
        exe = shutil.which(self._settings.tesseract)
        if exe is None:
            raise OcrError(f"tesseract not found ({self._settings.tesseract})")
        return exe

    def fast(self) -> bool:
        """Whether the in-process fast path (deid.pixels.fastocr) serves this engine."""
        s = self._settings
        return s.ocr_engine == "auto" and s.tesseract == "tesseract" and FAST_ENGINES.available()

    def run(self, image: np.ndarray, psm: int) -> str:
        """TSV of tesseract on an 8-bit greyscale image, passed on stdin (never written to disk),
        or to libtesseract in process where the fast path applies."""
        if self.fast():
            OCR_GATE.acquire(self._settings.ocr_workers)
            try:
                return FAST_ENGINES.run(image, psm, self._settings.language)
            finally:
                OCR_GATE.release()
        buffer = io.BytesIO()
        Image.fromarray(image).save(buffer, format="PPM")  # binary PGM for mode L
        cmd = [
            self.executable(),
            "stdin",
            "stdout",
            "-l",
            self._settings.language,
            "--oem",
            "1",
            "--psm",
            str(psm),
            "tsv",
        ]
        OCR_GATE.acquire(self._settings.ocr_workers)
        try:
            done = subprocess.run(
                cmd,
                input=buffer.getvalue(),
                capture_output=True,
                env=self._env,
                timeout=self._settings.timeout_s,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise OcrError(f"tesseract timed out after {self._settings.timeout_s} s") from None
        except OSError as exc:
            raise OcrError(f"tesseract could not be started ({type(exc).__name__})") from None
        finally:
            OCR_GATE.release()
        if done.returncode != 0:
            raise OcrError(f"tesseract exited with status {done.returncode}")
        return done.stdout.decode("utf-8", errors="replace")


def upscale(image: np.ndarray, scale: int) -> np.ndarray:
    """`image` enlarged by an integer factor (Lanczos); itself when `scale` is 1."""
    if scale == 1:
        return image
    height, width = image.shape
    return np.asarray(Image.fromarray(image).resize((width * scale, height * scale), Image.Resampling.LANCZOS))


__all__ = ["OCR_GATE", "OcrGate", "Tesseract", "Word", "tsv_words", "upscale"]
