"""Presentation contexts the listener accepts.

Abstract syntaxes: Verification plus every storage SOP class pynetdicom knows
(AllStoragePresentationContexts, 170 in pynetdicom 3.0), not just StoragePresentationContexts (120).
The 128-context limit of PS3.8 applies to what one A-ASSOCIATE-RQ may *propose* (context IDs
are the odd numbers 1-255); an acceptor may support any number and pynetdicom only enforces the
limit on requested contexts. Accepting every storage class matters for a PACS feed: a chest
X-ray study routinely travels with presentation states, key object selections or dose SRs, and
a PACS whose context for one of them is rejected fails the whole send job. Objects the pipeline
does not read are stored and skipped later, which is cheaper than a stuck PACS queue.

Transfer syntaxes: the data set is stored as received and decoded later, so only syntaxes the
appliance can decode are offered; a PACS then transcodes anything else (or fails visibly) rather
than the listener acknowledging something nobody can read. Explicit VR Big Endian (retired) and
HTJ2K/JPIP/MPEG/HEVC are left out on purpose.

Decoders the pipeline needs for the encapsulated syntaxes (with pydicom 3):
    RLE Lossless                      pydicom natively (numpy); pylibjpeg-rle is faster
    JPEG Baseline / Extended / Lossless (Process 14, SV1), JPEG-LS
                                      pylibjpeg + pylibjpeg-libjpeg
    JPEG 2000 (lossless and lossy)    pylibjpeg + pylibjpeg-openjpeg
    Deflated Explicit VR LE           pydicom natively (zlib)
"""

from __future__ import annotations

from pynetdicom import AllStoragePresentationContexts, build_context
from pynetdicom.presentation import PresentationContext
from pynetdicom.sop_class import Verification  # type: ignore[attr-defined]

UNCOMPRESSED_TRANSFER_SYNTAXES: tuple[str, ...] = (
    "1.2.840.10008.1.2",  # Implicit VR Little Endian (the default every peer must support)
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
)

COMPRESSED_TRANSFER_SYNTAXES: tuple[str, ...] = (
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline (Process 1)
    "1.2.840.10008.1.2.4.51",  # JPEG Extended (Process 2 & 4)
    "1.2.840.10008.1.2.4.57",  # JPEG Lossless, Non-Hierarchical (Process 14)
    "1.2.840.10008.1.2.4.70",  # JPEG Lossless, Process 14, First-Order Prediction (SV1)
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.81",  # JPEG-LS Near-Lossless
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Image Compression (Lossless Only)
    "1.2.840.10008.1.2.4.91",  # JPEG 2000 Image Compression
    "1.2.840.10008.1.2.5",  # RLE Lossless
)

STORAGE_TRANSFER_SYNTAXES: tuple[str, ...] = UNCOMPRESSED_TRANSFER_SYNTAXES + COMPRESSED_TRANSFER_SYNTAXES


def supported_contexts() -> list[PresentationContext]:
    """Verification and all storage SOP classes, each with STORAGE_TRANSFER_SYNTAXES."""
    contexts = [build_context(Verification, list(UNCOMPRESSED_TRANSFER_SYNTAXES[:2]))]
    contexts.extend(
        build_context(str(cx.abstract_syntax), list(STORAGE_TRANSFER_SYNTAXES)) for cx in AllStoragePresentationContexts
    )
    return contexts
