"""Typed errors of deid. Messages never contain patient data: tags, option names, UIDs
of the de-identified output at most."""

from __future__ import annotations

from common.errors import ConfigError, ExitCode, KeyFileError, SecureMedError

__all__ = [
    "DeidConfigError",
    "DeidError",
    "KeyFileError",
    "MappingStoreError",
    "RecordDecryptionError",
    "UnsafeToDeidentify",
]


class DeidError(SecureMedError):
    """Base class of every error raised by deid/ (an input that cannot be de-identified: exit 65)."""

    exit_code = ExitCode.DATAERR


class DeidConfigError(DeidError, ConfigError, ValueError):
    """An option, secret or table is malformed.

    `key` names the offending setting exactly as it is spelled in its table (for list entries with
    an index and a field, e.g. ``safe_private_allow_list[2].group``); the appliance config prefixes
    it with the table's dotted key (``deid.options.``).
    """

    exit_code = ExitCode.CONFIG

    def __init__(self, key: str, message: str) -> None:
        ConfigError.__init__(self, [f"{key}: {message}"])
        self.key = key
        self.message = message


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

    exit_code = ExitCode.UNAVAILABLE


class RecordDecryptionError(MappingStoreError):
    """A stored record does not authenticate under the key (wrong key or tampered row)."""

    exit_code = ExitCode.DATAERR
