"""Sealed report envelopes: ECIES encryption to one clinician + Ed25519 signature by the appliance.

Contract
--------
`seal` encrypts a `ReportPayload` to one recipient's secp256k1 public key and signs the result
with the appliance's Ed25519 key; `open_envelope` verifies, checks the addressee, decrypts and
checks that the plaintext agrees with the signed outer fields. Anything else raises an
`EnvelopeError` subclass (exit 65); unusable key files raise `KeyFileError` (exit 78).

The package is split by concern; every public name is re-exported here, so callers import from
`appliance.envelope` only:

* `appliance.envelope.format`: envelope format version 1: `ReportPayload`, `Envelope`, the
  canonical plaintext JSON, the signed message, structural checks and the `EnvelopeError` family.
  No cryptography.
* `appliance.envelope.crypto`: the pinned ECIES parameters, `seal`, `sign_envelope`,
  `verify_envelope`, `open_envelope`.
* `appliance.envelope.keys`: ECIES and Ed25519 keys, key ids and key files (on top of
  `common.keyfiles`).
"""

from __future__ import annotations

from common.errors import KeyFileError

from .crypto import open_envelope, seal, sign_envelope, verify_envelope
from .format import (
    ECIES_EPHEMERAL_KEY_SIZE,
    ECIES_NONCE_SIZE,
    ECIES_OVERHEAD,
    ECIES_TAG_SIZE,
    FORMAT_VERSION,
    INDICATION_USES,
    KINDS,
    MAX_CIPHERTEXT_SIZE,
    SIGNATURE_SIZE,
    BadSignature,
    DecryptionFailed,
    Envelope,
    EnvelopeError,
    InconsistentPayload,
    MalformedEnvelope,
    ReportPayload,
    WrongRecipient,
    check_structure,
    payload_from_json,
    payload_to_json,
    signed_message,
    utc_now,
)
from .keys import (
    EciesKeyPair,
    ecies_public_key,
    generate_ecies_keypair,
    generate_signing_key,
    key_id_for,
    load_ecies_private_key,
    load_ecies_public_key,
    load_signing_key,
    load_verify_key,
    save_ecies_private_key,
    save_ecies_public_key,
    save_signing_key,
    save_verify_key,
)

__all__ = [
    "ECIES_EPHEMERAL_KEY_SIZE",
    "ECIES_NONCE_SIZE",
    "ECIES_OVERHEAD",
    "ECIES_TAG_SIZE",
    "FORMAT_VERSION",
    "INDICATION_USES",
    "KINDS",
    "MAX_CIPHERTEXT_SIZE",
    "SIGNATURE_SIZE",
    "BadSignature",
    "DecryptionFailed",
    "EciesKeyPair",
    "Envelope",
    "EnvelopeError",
    "InconsistentPayload",
    "KeyFileError",
    "MalformedEnvelope",
    "ReportPayload",
    "WrongRecipient",
    "check_structure",
    "ecies_public_key",
    "generate_ecies_keypair",
    "generate_signing_key",
    "key_id_for",
    "load_ecies_private_key",
    "load_ecies_public_key",
    "load_signing_key",
    "load_verify_key",
    "open_envelope",
    "payload_from_json",
    "payload_to_json",
    "save_ecies_private_key",
    "save_ecies_public_key",
    "save_signing_key",
    "save_verify_key",
    "seal",
    "sign_envelope",
    "signed_message",
    "utc_now",
    "verify_envelope",
]
