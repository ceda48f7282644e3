"""Sealed report envelopes: ECIES encryption to one clinician + Ed25519 signature by the appliance.

Contract
--------
`seal` encrypts a `ReportPayload` to one recipient's secp256k1 public key and
signs the result with the appliance's Ed25519 key; `open_envelope` verifies,
checks the addressee, decrypts and checks that the plaintext agrees with the
signed outer fields. Anything else raises an `EnvelopeError` subclass.

Envelope format version 1 (`FORMAT_VERSION`)
    * Plaintext: `payload_to_json` of the `ReportPayload` (UTF-8 JSON, sorted
      keys, no insignificant whitespace).
    * Ciphertext: eciespy with the configuration pinned in `_ECIES_CONFIG` and
      always passed explicitly (eciespy's mutable global ``ECIES_CONFIG`` is
      never read or written): curve secp256k1; a fresh ephemeral key per
      envelope, serialised uncompressed (65 bytes); HKDF-SHA256 over the
      uncompressed ephemeral public key || uncompressed shared point, empty
      salt, 32-byte key; AES-256-GCM with a random 12-byte nonce (the GCM
      standard length; eciespy's default is 16) and a 16-byte tag.
      Layout: ``ephemeral_pk(65) || nonce(12) || tag(16) || ciphertext``.
      Both ends import `_ECIES_CONFIG` from here, so the choice lives in one place.
    * Signature: Ed25519 over `signed_message(envelope)`: the ASCII domain tag
      ``securemed-edge/envelope/v1`` + NUL, then format_version as a 4-byte
      big-endian integer, then report_id, recipient_id, study_pseudonym,
      bundle_id, created_at, key_id (UTF-8) and the ciphertext, each as a
      4-byte big-endian length followed by the bytes. Length prefixes make the
      encoding injective, so no field can be shifted into another; because the
      ciphertext is inside, moving it to another envelope or recipient breaks
      the signature.

The in-clear fields (ids, pseudonym, bundle, time, key id) are metadata the
delivery server needs for routing; they never contain report text or direct
patient identifiers. The original accession number and the study date only
travel inside the ciphertext.

`Envelope` here is a plain frozen dataclass with no wire format of its own;
`appliance.delivery` carries it as the ``securemed.v1.Envelope`` protobuf
message (field-for-field the same). The signature does not depend on that
encoding.

Key files
---------
* ECIES (secp256k1) private key: 64 lowercase hex characters + newline, mode 0600.
* ECIES public key: 130 hex characters (uncompressed point) + newline.
* Ed25519 signing key: PKCS#8 PEM, mode 0600; verify key: SubjectPublicKeyInfo PEM.
Loading a private key file that is readable by group or others raises
`KeyFileError` (like ssh) unless ``allow_insecure_permissions=True``.
"""

from __future__ import annotations

from common.errors import ExitCode, KeyFileError, SecureMedError

import dataclasses
import datetime as _dt
import hashlib
import json
import os
import re
import struct
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping

import ecies
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from ecies.config import Config as _EciesConfig
from ecies.keys import PrivateKey as _EciesPrivateKey
from ecies.keys import PublicKey as _EciesPublicKey

FORMAT_VERSION = 1

# The one place the ECIES parameters are fixed (see module docstring). Never
# mutated; passed explicitly to every ecies.encrypt/decrypt call.
_ECIES_CONFIG = _EciesConfig(
    elliptic_curve="secp256k1",
    is_ephemeral_key_compressed=False,
    is_hkdf_key_compressed=False,
    symmetric_algorithm="aes-256-gcm",
    symmetric_nonce_length=12,
)
ECIES_EPHEMERAL_KEY_SIZE = 65
ECIES_NONCE_SIZE = 12
ECIES_TAG_SIZE = 16
ECIES_OVERHEAD = ECIES_EPHEMERAL_KEY_SIZE + ECIES_NONCE_SIZE + ECIES_TAG_SIZE

_SIGNATURE_DOMAIN = b"securemed-edge/envelope/v1\x00"
SIGNATURE_SIZE = 64

# Outer (clear-text) identifiers: printable ASCII without spaces, so they are
# safe in logs, file names and gRPC metadata.
_ID = re.compile(r"^[\x21-\x7e]{1,256}$")
_RFC3339_UTC = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d{1,6})?Z$")
MAX_CIPHERTEXT_SIZE = 1024 * 1024  # a draft report is a few KiB


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
    the study (DICOM DA, ``YYYYMMDD``) and may be empty.
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

    def __repr__(self) -> str:
        # Keep report text and the accession number out of logs and tracebacks.
        return (f"ReportPayload(report_id={self.report_id!r}, recipient_id={self.recipient_id!r}, "
                f"study_pseudonym={self.study_pseudonym!r}, bundle_id={self.bundle_id!r}, "
                f"created_at={self.created_at!r})")


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


def utc_now() -> str:
    """The current time as RFC 3339 UTC with microseconds, e.g. ``2025-01-31T12:00:00.000001Z``."""
    return _dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def payload_to_json(payload: ReportPayload) -> bytes:
    """Canonical UTF-8 JSON of `payload` (sorted keys, compact separators)."""
    return json.dumps(dataclasses.asdict(payload), sort_keys=True, separators=(",", ":"),
                      ensure_ascii=False).encode("utf-8")


def payload_from_json(data: bytes) -> ReportPayload:
    """Parse `payload_to_json` output; exactly the known string fields, else `MalformedEnvelope`."""
    try:
        obj = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise MalformedEnvelope("payload is not UTF-8 JSON") from exc
    if not isinstance(obj, dict) or set(obj) != set(_PAYLOAD_FIELDS):
        raise MalformedEnvelope("payload does not have exactly the ReportPayload fields")
    if not all(isinstance(obj[name], str) for name in _PAYLOAD_FIELDS):
        raise MalformedEnvelope("payload fields must be strings")
    return ReportPayload(**obj)


def signed_message(envelope: Envelope) -> bytes:
    """The canonical byte string the appliance signs (see module docstring)."""
    parts = [_SIGNATURE_DOMAIN, struct.pack(">I", envelope.format_version)]
    for value in (envelope.report_id, envelope.recipient_id, envelope.study_pseudonym,
                  envelope.bundle_id, envelope.created_at, envelope.key_id):
        raw = value.encode("utf-8")
        parts.append(struct.pack(">I", len(raw)))
        parts.append(raw)
    parts.append(struct.pack(">I", len(envelope.ciphertext)))
    parts.append(envelope.ciphertext)
    return b"".join(parts)


def sign_envelope(envelope: Envelope, signing_key: Ed25519PrivateKey) -> Envelope:
    """`envelope` with its signature (re)computed. For `seal` and for tests building odd envelopes."""
    check_structure(envelope, require_signature=False)
    return dataclasses.replace(envelope, signature=signing_key.sign(signed_message(envelope)))


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
            ECIES_OVERHEAD < len(envelope.ciphertext) <= MAX_CIPHERTEXT_SIZE):
        raise MalformedEnvelope("ciphertext has an impossible size")
    if require_signature and (not isinstance(envelope.signature, bytes)
                              or len(envelope.signature) != SIGNATURE_SIZE):
        raise MalformedEnvelope("signature must be 64 bytes")


def seal(
    payload: ReportPayload,
    recipient_id: str,
    recipient_public_key: bytes,
    signing_key: Ed25519PrivateKey,
    key_id: str,
) -> Envelope:
    """Encrypt `payload` to `recipient_public_key` and sign the envelope with `signing_key`.

    The outer fields are taken from `payload`; `recipient_id` must equal
    ``payload.recipient_id`` (ValueError otherwise: a programming error, not a
    property of untrusted input). `recipient_public_key` is a secp256k1 public
    key (33 or 65 bytes).
    """
    if payload.recipient_id != recipient_id:
        raise ValueError("payload.recipient_id does not match recipient_id")
    try:
        _EciesPublicKey("secp256k1", bytes(recipient_public_key))
    except Exception as exc:  # coincurve raises several types for bad points
        raise ValueError("recipient_public_key is not a secp256k1 public key") from exc
    unsigned = Envelope(
        format_version=FORMAT_VERSION,
        report_id=payload.report_id,
        recipient_id=recipient_id,
        study_pseudonym=payload.study_pseudonym,
        bundle_id=payload.bundle_id,
        created_at=payload.created_at,
        key_id=key_id,
        ciphertext=ecies.encrypt(bytes(recipient_public_key), payload_to_json(payload),
                                 config=_ECIES_CONFIG),
        signature=b"",
    )
    try:
        return sign_envelope(unsigned, signing_key)
    except MalformedEnvelope as exc:
        raise ValueError(f"payload cannot be sealed: {exc}") from exc


def verify_envelope(
    envelope: Envelope,
    trusted_appliance_keys: Mapping[str, Ed25519PublicKey],
    expected_recipient: str,
) -> None:
    """Check structure, signature and addressee without decrypting. Raises `EnvelopeError`."""
    check_structure(envelope)
    public_key = trusted_appliance_keys.get(envelope.key_id)
    if public_key is None:
        raise BadSignature("envelope signed with an untrusted key id")
    try:
        public_key.verify(envelope.signature, signed_message(envelope))
    except InvalidSignature as exc:
        raise BadSignature("envelope signature does not verify") from exc
    # Only after the signature: unsigned fields must not drive decisions.
    if envelope.recipient_id != expected_recipient:
        raise WrongRecipient("envelope is addressed to another recipient")


def open_envelope(
    envelope: Envelope,
    recipient_private_key: bytes,
    trusted_appliance_keys: Mapping[str, Ed25519PublicKey],
    expected_recipient: str,
) -> ReportPayload:
    """Verify, decrypt and cross-check `envelope`; return the payload or raise `EnvelopeError`."""
    verify_envelope(envelope, trusted_appliance_keys, expected_recipient)
    try:
        plaintext = ecies.decrypt(bytes(recipient_private_key), envelope.ciphertext,
                                  config=_ECIES_CONFIG)
    except Exception as exc:  # pycryptodome/coincurve raise ValueError and others
        raise DecryptionFailed("ciphertext does not decrypt with this key") from exc
    payload = payload_from_json(plaintext)
    if payload.recipient_id != expected_recipient:
        raise WrongRecipient("payload is addressed to another recipient")
    for name in ("report_id", "recipient_id", "study_pseudonym", "bundle_id", "created_at"):
        if getattr(payload, name) != getattr(envelope, name):
            raise InconsistentPayload(f"payload {name} differs from the signed envelope")
    return payload


# --- keys -------------------------------------------------------------------

@dataclass(frozen=True)
class EciesKeyPair:
    """A clinician's secp256k1 key pair: 32-byte secret, 65-byte uncompressed public key."""

    private_key: bytes
    public_key: bytes

    def __repr__(self) -> str:
        return f"EciesKeyPair(public_key={self.public_key.hex()!r})"


def generate_ecies_keypair() -> EciesKeyPair:
    """A fresh secp256k1 key pair from the OS CSPRNG."""
    secret = _EciesPrivateKey("secp256k1")
    return EciesKeyPair(secret.secret, secret.public_key.to_bytes(compressed=False))


def ecies_public_key(private_key: bytes) -> bytes:
    """The uncompressed public key of a 32-byte secp256k1 secret (ValueError if invalid)."""
    # eciespy silently generates a *random* key for an empty secret; refuse it.
    if not isinstance(private_key, (bytes, bytearray)) or len(private_key) != 32:
        raise ValueError("a secp256k1 secret is 32 bytes")
    return _EciesPrivateKey("secp256k1", bytes(private_key)).public_key.to_bytes(compressed=False)


def key_id_for(public_key: Ed25519PublicKey) -> str:
    """A stable id for an appliance verify key: ``ed25519:`` + first 16 hex of SHA-256(raw key)."""
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def _write_file(path: Path, data: bytes, mode: int) -> None:
    """Atomic write; the temporary file is created with `mode`, never wider."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def _read_private(path: Path, allow_insecure_permissions: bool) -> bytes:
    path = Path(path)
    try:
        st = path.stat()
        data = path.read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from exc
    if os.name == "posix" and st.st_mode & 0o077 and not allow_insecure_permissions:
        raise KeyFileError(f"key file {path} is accessible by group/others (mode {st.st_mode & 0o777:o}); "
                           "chmod 600 it")
    return data


def _parse_hex(text: bytes, sizes: tuple[int, ...], path: Path) -> bytes:
    value = text.decode("ascii", errors="replace").strip()
    if value.startswith("0x"):
        value = value[2:]
    try:
        raw = bytes.fromhex(value)
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a hex key file") from exc
    if len(raw) not in sizes:
        raise KeyFileError(f"{path} has a key of the wrong size")
    return raw


def save_ecies_private_key(path: Path, private_key: bytes) -> None:
    """Write a 32-byte secp256k1 secret as hex, mode 0600."""
    ecies_public_key(private_key)  # validates
    _write_file(path, bytes(private_key).hex().encode("ascii") + b"\n", 0o600)


def load_ecies_private_key(path: Path, *, allow_insecure_permissions: bool = False) -> bytes:
    """Read a key written by `save_ecies_private_key`; `KeyFileError` if unusable."""
    raw = _parse_hex(_read_private(path, allow_insecure_permissions), (32,), Path(path))
    try:
        ecies_public_key(raw)
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a valid secp256k1 secret") from exc
    return raw


def save_ecies_public_key(path: Path, public_key: bytes) -> None:
    """Write a secp256k1 public key as uncompressed hex, mode 0644."""
    point = _EciesPublicKey("secp256k1", bytes(public_key)).to_bytes(compressed=False)
    _write_file(path, point.hex().encode("ascii") + b"\n", 0o644)


def load_ecies_public_key(path: Path) -> bytes:
    """Read a secp256k1 public key (33 or 65 bytes as hex); returns it uncompressed."""
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from exc
    raw = _parse_hex(text, (33, 65), Path(path))
    try:
        return _EciesPublicKey("secp256k1", raw).to_bytes(compressed=False)
    except Exception as exc:
        raise KeyFileError(f"{path} is not a valid secp256k1 public key") from exc


def generate_signing_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 appliance signing key."""
    return Ed25519PrivateKey.generate()


def save_signing_key(path: Path, key: Ed25519PrivateKey) -> None:
    """Write `key` as unencrypted PKCS#8 PEM, mode 0600."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    _write_file(path, pem, 0o600)


def load_signing_key(path: Path, *, allow_insecure_permissions: bool = False) -> Ed25519PrivateKey:
    """Read an Ed25519 PKCS#8 PEM private key; `KeyFileError` if unusable or not Ed25519."""
    data = _read_private(path, allow_insecure_permissions)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 key")
    return key


def save_verify_key(path: Path, key: Ed25519PublicKey) -> None:
    """Write an Ed25519 public key as SubjectPublicKeyInfo PEM, mode 0644."""
    pem = key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    _write_file(path, pem, 0o644)


def load_verify_key(path: Path) -> Ed25519PublicKey:
    """Read an Ed25519 SubjectPublicKeyInfo PEM public key."""
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except OSError as exc:
        raise KeyFileError(f"cannot read key file {path}: {exc.strerror}") from exc
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 key")
    return key
