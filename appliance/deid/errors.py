"""Typed errors of appliance/deid. Messages never contain patient data: tags, option names, UIDs
of the de-identified output at most."""

from __future__ import annotations


class DeidError(Exception):
    """Base class of every error raised by appliance/deid/."""


class DeidConfigError(DeidError, ValueError):
    """An option, secret or table is malformed.

    `key` names the offending setting exactly as it is spelled in the configuration (for
    list entries with an index and a field, e.g. ``safe_private_allow_list[2].group``).
    """

    def __init__(self, key: str, message: str) -> None:
        super().__init__(f"{key}: {message}")
        self.key = key


class UnsafeToDeidentify(DeidError):
    """The instance cannot be de-identified safely with the configured options.

    Examples: Burned In Annotation is YES (or a Secondary Capture does not say NO) and the Clean
    Pixel Data option is off; an unknown SOP Class while strict_iod is on. The instance must not
    leave the appliance; `reason` is a short, patient-data-free text.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MappingStoreError(DeidError):
    """The encrypted re-identification store cannot be opened, read or written."""


class KeyFileError(MappingStoreError):
    """The mapping store's key file is missing, malformed or readable by group/other."""


class RecordDecryptionError(MappingStoreError):
    """A stored record does not authenticate under the key (wrong key or tampered row)."""
