"""Constants shared by the phantom modules, and the phantom errors."""

from __future__ import annotations

from pydicom.uid import UID

PHANTOM_FIELD_MM = 350.0
CR_IMAGE_STORAGE = UID("1.2.840.10008.5.1.4.1.1.1")
DX_IMAGE_STORAGE_FOR_PRESENTATION = UID("1.2.840.10008.5.1.4.1.1.1.1")
MODALITIES = ("CR", "DX")
PHOTOMETRICS = ("MONOCHROME2", "MONOCHROME1")
BITS_STORED = (12, 13, 14, 15, 16)
# (rows, cols) used when make_phantom is not told a size.
SIZES: tuple[tuple[int, int], ...] = ((512, 512), (512, 512), (576, 512), (512, 480), (640, 560))
MANIFEST_NAME = "manifest.jsonl"
MANIFEST_KEYS = (
    "id",
    "file",
    "findings",
    "labels",
    "report",
    "findings_text",
    "impression_text",
    "accession",
    "study_uid",
)
# Namespace mixed into every seed so that phantom streams never coincide with other uses of the
# same integer seed.
_NAMESPACE = 0x5EC0_3ED6


class PhantomError(Exception):
    """Base class for phantom generation and manifest errors."""


class ManifestError(PhantomError):
    """A phantom manifest is missing or malformed."""
