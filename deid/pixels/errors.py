"""Errors of Clean Pixel Data. Messages never contain recognised text or pixel values.

`UnsafeToClean` is an `UnsafeToDeidentify`: the instance goes down the caller's existing quarantine
path. `OcrError` is an environment fault (tesseract missing, failing, too slow), not the instance's.
"""

from __future__ import annotations

from deid.errors import DeidError, UnsafeToDeidentify


class PixelCleanError(DeidError):
    """Base class of the pixel stage's errors. Messages never contain recognised text."""


class UnsafeToClean(PixelCleanError, UnsafeToDeidentify):
    """This instance's pixels cannot be cleaned safely (undecodable transfer syntax, unsupported
    pixel layout, too many frames, float pixel data). The caller must quarantine it."""


class OcrError(PixelCleanError):
    """Tesseract is missing, failed or timed out: an environment fault, not the instance's."""


__all__ = ["OcrError", "PixelCleanError", "UnsafeToClean"]
