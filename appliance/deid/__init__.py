"""DICOM header de-identification to PS3.15 Annex E (Table E.1-1, edition 2024b) with its options.

Stands on its own (no other appliance module is imported) and is what the anonymize stage calls:

    from appliance.deid import DeidOptions, Deidentifier
    result = Deidentifier(DeidOptions(retain_long_modified_dates=True), secret).deidentify(ds)
    result.dataset   # de-identified copy; result.record: re-identification mapping (PHI)
    result.pending   # pixel work a later stage must finish ("clean_pixel_data", ...)

Pixel cleaning (burned-in text) and free-text redaction are later stages: they plug in through
`text_cleaner=` and `DeidResult.pending` / `mark_option_applied`.
"""

from appliance.deid.errors import (
    DeidConfigError,
    DeidError,
    KeyFileError,
    MappingStoreError,
    RecordDecryptionError,
    UnsafeToDeidentify,
)
from appliance.deid.header import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    METHOD_CODES,
    PENDING_CLEAN_PIXEL_DATA,
    PENDING_CLEAN_VISUAL_FEATURES,
    PENDING_EMBEDDED_OVERLAY,
    ActionRecord,
    Deidentifier,
    DeidResult,
    mark_option_applied,
)
from appliance.deid.iod import DEFAULT_IOD_TYPES, GENERIC_IMAGE, IodTypes
from appliance.deid.keys import Keyring
from appliance.deid.mapping import (
    MappingStore,
    ReidentificationRecord,
    create_key_file,
    load_key,
)
from appliance.deid.options import (
    DEFAULT_SAFE_PRIVATE,
    DeidOptions,
    Options,
    SafePrivateTag,
)
from appliance.deid.table import EDITION, ProfileRow, ProfileTable, load_table

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
