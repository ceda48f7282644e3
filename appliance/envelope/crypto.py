"""Sealing and opening envelopes: ECIES encryption to one clinician + Ed25519 signature by the appliance.

Contract
--------
`seal` encrypts a `ReportPayload` to one recipient's secp256k1 public key and
signs the result with the appliance's Ed25519 key; `open_envelope` verifies,
checks the addressee, decrypts and checks that the plaintext agrees with the
signed outer fields. Anything else raises an `EnvelopeError` subclass. The
format (plaintext encoding, signed message, structural checks) is
`appliance.envelope.format`; key files are `appliance.envelope.keys`.

ECIES parameters (format version 1): eciespy with the configuration pinned in
`_ECIES_CONFIG` and always passed explicitly (eciespy's mutable global
``ECIES_CONFIG`` is never read or written): curve secp256k1; a fresh ephemeral
key per envelope, serialised uncompressed (65 bytes); HKDF-SHA256 over the
uncompressed ephemeral public key || uncompressed shared point, empty salt,
32-byte key; AES-256-GCM with a random 12-byte nonce (the GCM standard length;
eciespy's default is 16) and a 16-byte tag. Layout:
``ephemeral_pk(65) || nonce(12) || tag(16) || ciphertext``. `seal` and
`open_envelope` both use `_ECIES_CONFIG` from here, so the choice lives in one place.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping

import ecies
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from ecies.config import Config as _EciesConfig
from ecies.keys import PublicKey as _EciesPublicKey

from .format import (
    ECIES_NONCE_SIZE,
    FORMAT_VERSION,
    BadSignature,
    DecryptionFailed,
    Envelope,
    InconsistentPayload,
    MalformedEnvelope,
    ReportPayload,
    WrongRecipient,
    check_structure,
    payload_from_json,
    payload_to_json,
    signed_message,
)

# The one place the ECIES parameters are fixed (see module docstring). Never
# mutated; passed explicitly to every ecies.encrypt/decrypt call.
_ECIES_CONFIG = _EciesConfig(
    elliptic_curve="secp256k1",
    is_ephemeral_key_compressed=False,
    is_hkdf_key_compressed=False,
    symmetric_algorithm="aes-256-gcm",
    symmetric_nonce_length=ECIES_NONCE_SIZE,
)


def sign_envelope(envelope: Envelope, signing_key: Ed25519PrivateKey) -> Envelope:
    """`envelope` with its signature (re)computed. For `seal` and for tests building odd envelopes."""
    check_structure(envelope, require_signature=False)
    return dataclasses.replace(envelope, signature=signing_key.sign(signed_message(envelope)))


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
        ciphertext=ecies.encrypt(bytes(recipient_public_key), payload_to_json(payload), config=_ECIES_CONFIG),
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
        plaintext = ecies.decrypt(bytes(recipient_private_key), envelope.ciphertext, config=_ECIES_CONFIG)
    except Exception as exc:  # pycryptodome/coincurve raise ValueError and others
        raise DecryptionFailed("ciphertext does not decrypt with this key") from exc
    payload = payload_from_json(plaintext)
    if payload.recipient_id != expected_recipient:
        raise WrongRecipient("payload is addressed to another recipient")
    for name in ("report_id", "recipient_id", "study_pseudonym", "bundle_id", "created_at"):
        if getattr(payload, name) != getattr(envelope, name):
            raise InconsistentPayload(f"payload {name} differs from the signed envelope")
    return payload
