"""De-identification of DICOM instances: PS3.15 Annex E header (Table E.1-1, edition 2024b) with its
options, free text (Presidio) and burned-in pixels (OCR). A ground-floor package: it imports only
`common` and `runtime`'s image pipeline, never torch or the appliance.

The one entry point:

    from deid import DeidOptions, DeidTool
    tool = DeidTool(DeidOptions(clean_pixel_data=True), secret, mapping=store)
    result = tool.deidentify(ds)   # DeidResult: result.dataset is safe to release
    result.record                  # re-identification mapping (PHI), already stored encrypted

Sub-packages: `deid.header` (the Table E.1-1 engine), `deid.pixels` (Clean Pixel Data),
`deid.text` (free-text redaction); `deid.values` (header values a report must not repeat);
`deid.testing` (synthetic instances with planted PHI, for tests, tools and benchmarks).
"""

from deid.errors import (
    DeidConfigError,
    DeidError,
    KeyFileError,
    MappingStoreError,
    RecordDecryptionError,
    UnsafeToDeidentify,
)
from deid.header.engine import Deidentifier
from deid.header.iod import DEFAULT_IOD_TYPES, GENERIC_IMAGE, IodTypes
from deid.header.method import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    METHOD_CODES,
    PENDING_CLEAN_PIXEL_DATA,
    PENDING_CLEAN_VISUAL_FEATURES,
    PENDING_EMBEDDED_OVERLAY,
    ActionRecord,
    DeidResult,
    mark_option_applied,
)
from deid.header.table import EDITION, ProfileRow, ProfileTable, load_table
from deid.keys import Keyring
from deid.mapping import (
    MappingStore,
    ReidentificationRecord,
    create_key_file,
    load_key,
)
from deid.options import (
    DEFAULT_SAFE_PRIVATE,
    DeidOptions,
    Options,
    SafePrivateTag,
)
from deid.tool import DeidTool

__all__ = [
    "DEFAULT_IOD_TYPES",
    "DEFAULT_SAFE_PRIVATE",
    "EDITION",
    "GENERIC_IMAGE",
    "IMPLEMENTATION_CLASS_UID",
    "IMPLEMENTATION_VERSION_NAME",
    "METHOD_CODES",
    "PENDING_CLEAN_PIXEL_DATA",
    "PENDING_CLEAN_VISUAL_FEATURES",
    "PENDING_EMBEDDED_OVERLAY",
    "ActionRecord",
    "DeidConfigError",
    "DeidError",
    "DeidOptions",
    "DeidResult",
    "DeidTool",
    "Deidentifier",
    "IodTypes",
    "KeyFileError",
    "Keyring",
    "MappingStore",
    "MappingStoreError",
    "Options",
    "ProfileRow",
    "ProfileTable",
    "RecordDecryptionError",
    "ReidentificationRecord",
    "SafePrivateTag",
    "UnsafeToDeidentify",
    "create_key_file",
    "load_key",
    "load_table",
    "mark_option_applied",
]
