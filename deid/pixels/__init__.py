"""Clean Pixel Data: burned-in text found by OCR and blacked out in the stored pixels.

`PixelCleaner.clean(ds)` is the entry point; its contract is in `deid.pixels.cleaner`. Modules, one
concept each: `settings` (PixelCleanSettings, BannerZone), `errors`, `layout` (Image Pixel module and
stored words), `render` (8-bit renderings for OCR, through `runtime.grayscale`), `ocr` (tesseract and
the process-wide bound on its processes), `candidates` (text candidates without OCR), `verify` (OCR of
the candidates' crops), `detect` and `legacy` (the former whole-frame OCR passes, the benchmark
baseline), `boxes` (box geometry), `cleaner`.
"""

from deid.pixels.boxes import Box, boxes_mask, merge_boxes
from deid.pixels.cleaner import PixelCleaner, PixelResult
from deid.pixels.errors import OcrError, PixelCleanError, UnsafeToClean
from deid.pixels.settings import BannerZone, PixelCleanSettings, parse_banner_zones

__all__ = [
    "BannerZone",
    "Box",
    "OcrError",
    "PixelCleanError",
    "PixelCleanSettings",
    "PixelCleaner",
    "PixelResult",
    "UnsafeToClean",
    "boxes_mask",
    "merge_boxes",
    "parse_banner_zones",
]
