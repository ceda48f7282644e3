"""Envelope format version 1: the data types, their canonical encodings and the structural checks.

Contract
--------
No cryptography happens here (see `appliance.envelope.crypto` for seal/open and
`appliance.envelope.keys` for key material); this module fixes *what* is encrypted and signed.

Envelope format version 1 (`FORMAT_VERSION`)
    * Plaintext: `payload_to_json` of the `ReportPayload` (UTF-8 JSON, sorted
      keys, no insignificant whitespace). Its `kind` is "report" (a draft
      report) or "withheld-notice" (the validator withheld the draft: the
      notice carries the reason codes and no report text). `indication` says
      whether the study's clinical indication reached the model ("used"),
      was kept from it ("withheld", with `indication_codes`) or there was
      none ("absent"). A plaintext from before these fields (exactly the
      nine string fields) still parses: a report, indication absent, no codes.
    * Ciphertext layout (produced by `appliance.envelope.crypto`):
      ``ephemeral_pk(65) || nonce(12) || tag(16) || ciphertext``, hence
      `ECIES_OVERHEAD` bytes more than the plaintext.
    * Signature: Ed25519 over `signed_message(envelope)`: the ASCII domain tag
      ``securemed-edge/envelope/v1`` + NUL, then format_version as a 4-byte
      big-endian integer, then report_id, recipient_id, study_pseudonym,
      bundle_id, created_at, key_id (UTF-8) and the ciphertext, each as a
      4-byte big-endian length followed by the bytes. Length prefixes make the
      encoding injective, so no field can be shifted into another; because the
      ciphertext is inside, moving it to another envelope or recipient breaks
      the signature; every payload field (kind and codes included) is in the
      ciphertext, so the signature covers them too.

The in-clear fields (ids, pseudonym, bundle, time, key id) are metadata the
delivery server needs for routing; they never contain report text or direct
patient identifiers. The original accession number and the study date only
travel inside the ciphertext.

`Envelope` here is a plain frozen dataclass with no wire format of its own;
`appliance.delivery` carries it as the ``securemed.v1.Envelope`` protobuf
message (field-for-field the same). The signature does not depend on that
encoding.

Errors: every rejection is an `EnvelopeError` subclass (exit 65); `check_structure` and
`payload_from_json` raise `MalformedEnvelope`.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import re
import struct
from dataclasses import dataclass
from typing import Any, Final

from common.errors import ExitCode, SecureMedError

FORMAT_VERSION = 1

# Ciphertext layout; `appliance.envelope.crypto._ECIES_CONFIG` is built from these sizes.
ECIES_EPHEMERAL_KEY_SIZE = 65
ECIES_NONCE_SIZE: Final = 12  # Final: eciespy types it as Literal[12, 16]
ECIES_TAG_SIZE = 16
ECIES_OVERHEAD = ECIES_EPHEMERAL_KEY_SIZE + ECIES_NONCE_SIZE + ECIES_TAG_SIZE

_SIGNATURE_DOMAIN = b"securemed-edge/envelope/v1\x00"
SIGNATURE_SIZE = 64

# Outer (clear-text) identifiers: printable ASCII without spaces, so they are
# safe in logs, file names and gRPC metadata.
_ID = re.compile(r"^[\x21-\x7e]{1,256}$")
_RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
MAX_CIPHERTEXT_SIZE = 1024 * 1024  # a draft report is a few KiB

KINDS = ("report", "withheld-notice")
INDICATION_USES = ("used", "withheld", "absent")
_CODE = re.compile(r"^[a-z0-9][a-z0-9-]{0,63}$")  # stable reason codes: lower-case, hyphenated
MAX_CODES = 64


class EnvelopeError(SecureMedError):
    """Base class: the envelope must not be trusted or shown (exit 65)."""

    exit_code = ExitCode.DATAERR


class MalformedEnvelope(EnvelopeError):
    """Structurally invalid envelope or plaintext, or an unsupported format version."""


class InconsistentPayload(MalformedEnvelope):
    """The decrypted payload disagrees with the signed outer fields."""


class BadSignature(EnvelopeError):
    """The signature does not verify, or the signing key id is not trusted."""


class WrongRecipient(EnvelopeError):
    """The envelope (validly signed) is addressed to someone else."""


class DecryptionFailed(EnvelopeError):
    """The ciphertext does not decrypt with the given private key."""


@dataclass(frozen=True)
class ReportPayload:
    """The confidential content of one envelope (the JSON plaintext).

    `created_at` is RFC 3339 UTC (see `utc_now`); `study_date` is as found in
    the study (DICOM DA, ``YYYYMMDD``) and may be empty. `kind`, `reason_codes`,
    `indication`, `indication_codes`: see the module docstring. A withheld
    notice has empty findings and impression and at least one reason code;
    anything else raises `MalformedEnvelope`, also when constructed.
    """

    report_id: str
    recipient_id: str
    study_pseudonym: str
    accession_number: str
    study_date: str
    findings: str
    impression: str
    bundle_id: str
    created_at: str
    kind: str = "report"
    reason_codes: tuple[str, ...] = ()
    indication: str = "absent"
    indication_codes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise MalformedEnvelope(f"payload kind must be one of {', '.join(KINDS)}")
        if self.indication not in INDICATION_USES:
            raise MalformedEnvelope(f"payload indication must be one of {', '.join(INDICATION_USES)}")
        for name in ("reason_codes", "indication_codes"):
            codes = getattr(self, name)
            if not isinstance(codes, tuple) or len(codes) > MAX_CODES:
                raise MalformedEnvelope(f"payload {name} must be a list of at most {MAX_CODES} codes")
            if not all(isinstance(c, str) and _CODE.match(c) for c in codes):
                raise MalformedEnvelope(f"payload {name} must be lower-case hyphenated codes")
        if self.kind == "withheld-notice" and (self.findings or self.impression or not self.reason_codes):
            raise MalformedEnvelope("a withheld notice carries reason codes and no report text")
        if self.indication == "withheld" and not self.indication_codes:
            raise MalformedEnvelope("a withheld indication carries its codes")

    @property
    def is_notice(self) -> bool:
        return self.kind == "withheld-notice"

    def __repr__(self) -> str:
        # Keep report text and the accession number out of logs and tracebacks.
        return (
            f"ReportPayload(report_id={self.report_id!r}, recipient_id={self.recipient_id!r}, "
            f"study_pseudonym={self.study_pseudonym!r}, bundle_id={self.bundle_id!r}, "
            f"created_at={self.created_at!r})"
        )


@dataclass(frozen=True)
class Envelope:
    """A sealed report. All fields but `signature` are signed (see `signed_message`)."""

    format_version: int
    report_id: str
    recipient_id: str
    study_pseudonym: str
    bundle_id: str
    created_at: str
    key_id: str
    ciphertext: bytes
    signature: bytes


_PAYLOAD_FIELDS = tuple(f.name for f in dataclasses.fields(ReportPayload))
_TEXT_FIELDS = tuple(f.name for f in dataclasses.fields(ReportPayload) if f.default is dataclasses.MISSING)
_CODE_FIELDS = ("reason_codes", "indication_codes")


def utc_now() -> str:
    """The current time as RFC 3339 UTC with microseconds, e.g. ``2025-01-31T12:00:00.000001Z``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


_LATER_DEFAULTS = {f.name: f.default for f in dataclasses.fields(ReportPayload) if f.default is not dataclasses.MISSING}


def payload_to_json(payload: ReportPayload) -> bytes:
    """Canonical UTF-8 JSON of `payload` (sorted keys, compact separators). The later fields are
    left out at their defaults, so a plain report with no indication is byte-identical to the first
    version (and readable by clients from before them)."""
    obj = {
        name: value
        for name, value in dataclasses.asdict(payload).items()
        if name not in _LATER_DEFAULTS or value != _LATER_DEFAULTS[name]
    }
    return json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def payload_from_json(data: bytes) -> ReportPayload:
    """Parse `payload_to_json` output, else `MalformedEnvelope`: every string field of the first
    version; the later fields (kind, codes, indication) optional with their defaults; nothing else."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEnvelope("payload is not UTF-8 JSON") from exc
    if not isinstance(obj, dict) or not set(_TEXT_FIELDS) <= set(obj) <= set(_PAYLOAD_FIELDS):
        raise MalformedEnvelope("payload does not have exactly the ReportPayload fields")
    for name, value in obj.items():
        if name in _CODE_FIELDS:
            if not isinstance(value, list):
                raise MalformedEnvelope(f"payload {name} must be a list")
            obj[name] = tuple(value)
        elif not isinstance(value, str):
            raise MalformedEnvelope("payload fields must be strings")
    return ReportPayload(**obj)


def signed_message(envelope: Envelope) -> bytes:
    """The canonical byte string the appliance signs (see module docstring)."""
    parts = [_SIGNATURE_DOMAIN, struct.pack(">I", envelope.format_version)]
    for value in (
        envelope.report_id,
        envelope.recipient_id,
        envelope.study_pseudonym,
        envelope.bundle_id,
        envelope.created_at,
        envelope.key_id,
    ):
        raw = value.encode("utf-8")
        parts.append(struct.pack(">I", len(raw)))
        parts.append(raw)
    parts.append(struct.pack(">I", len(envelope.ciphertext)))
    parts.append(envelope.ciphertext)
    return b"".join(parts)


def _check_id(name: str, value: Any) -> None:
    if not isinstance(value, str) or not _ID.match(value):
        raise MalformedEnvelope(f"{name} must be 1-256 printable ASCII characters without spaces")


def check_structure(envelope: Envelope, *, require_signature: bool = True) -> None:
    """Field types, sizes, id syntax and format version; `MalformedEnvelope` if wrong. No crypto."""
    if not isinstance(envelope, Envelope):
        raise MalformedEnvelope("not an Envelope")
    if not isinstance(envelope.format_version, int) or isinstance(envelope.format_version, bool):
        raise MalformedEnvelope("format_version must be an integer")
    if envelope.format_version != FORMAT_VERSION:
        raise MalformedEnvelope(f"unsupported envelope format version {envelope.format_version}")
    for name in ("report_id", "recipient_id", "study_pseudonym", "bundle_id", "key_id"):
        _check_id(name, getattr(envelope, name))
    if not isinstance(envelope.created_at, str) or not _RFC3339_UTC.match(envelope.created_at):
        raise MalformedEnvelope("created_at must be RFC 3339 UTC")
    if not isinstance(envelope.ciphertext, bytes) or not (
        ECIES_OVERHEAD < len(envelope.ciphertext) <= MAX_CIPHERTEXT_SIZE
    ):
        raise MalformedEnvelope("ciphertext has an impossible size")
    if require_signature and (not isinstance(envelope.signature, bytes) or len(envelope.signature) != SIGNATURE_SIZE):
        raise MalformedEnvelope("signature must be 64 bytes")
