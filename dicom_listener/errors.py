"""Typed errors of the DICOM listener; the C-STORE handler translates them into DIMSE statuses."""

from __future__ import annotations

from common.errors import ConfigError, ExitCode, SecureMedError


class ListenerError(SecureMedError):
    """Base class of every error raised by dicom_listener/."""


class ListenerConfigError(ListenerError, ConfigError, ValueError):
    """A listener setting is out of range or malformed (bad AE title, negative period, unusable
    TLS files); `key` names the setting as ListenerSettings spells it."""

    exit_code = ExitCode.CONFIG

    def __init__(self, key: str, message: str) -> None:
        ConfigError.__init__(self, [f"{key}: {message}"])
        self.key = key


class SpoolError(ListenerError):
    """Base class of errors of the on-disk spool."""


class SpoolWriteError(SpoolError):
    """Persisting an instance (or its quarantine copy) failed: disk full, permission, I/O error.

    The instance is not acknowledged; the sender keeps it and retries.
    """


class StudyNotFound(SpoolError):
    """No study with that Study Instance UID is waiting in incoming/ (or claimed/)."""


class StudyAlreadyClaimed(SpoolError):
    """The study already has a claimed/ folder; complete or release it before claiming again."""


class UnparseableInstance(ListenerError):
    """The received data set cannot be accepted: base class; it goes to quarantine.

    `reason` is a short, patient-data-free text (it is logged and written to the reason file).
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class MalformedDataset(UnparseableInstance):
    """The bytes are not a well-formed data set in its transfer syntax (truncated, bad VR...)."""


class MissingIdentifier(UnparseableInstance):
    """SOP Class, SOP Instance or Study Instance UID is absent or empty."""


class InvalidIdentifier(UnparseableInstance):
    """A required UID is present but is not a valid DICOM UID (PS3.5 9.1)."""


class IdentifierMismatch(UnparseableInstance):
    """The data set's SOP Instance UID differs from the request's Affected SOP Instance UID."""


class SOPClassMismatch(UnparseableInstance):
    """The data set's SOP Class UID differs from the C-STORE request's Affected SOP Class UID."""


class LimitExceeded(UnparseableInstance):
    """The data set would decode to more than a configured limit: a deflated data set inflating
    beyond max_inflated_bytes, or pixel data beyond max_pixel_bytes (a decompression bomb)."""


class CodestreamMismatch(UnparseableInstance):
    """The first frame's codestream header is missing, garbled, or disagrees with Rows, Columns,
    Samples per Pixel or Bits Stored (see common.codestream)."""
