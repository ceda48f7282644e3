"""Key material for envelopes: clinicians' ECIES (secp256k1) keys, the appliance's Ed25519 keys,
key ids, and their files.

Contract
--------
Key files (all I/O goes through `common.keyfiles`: atomic writes, ssh-like permission checks):

* ECIES (secp256k1) private key: 64 lowercase hex characters + newline, mode 0600.
* ECIES public key: 130 hex characters (uncompressed point) + newline, mode 0644
  (33-byte compressed points in hex are accepted on loading).
* Ed25519 signing key: unencrypted PKCS#8 PEM, mode 0600; verify key: SubjectPublicKeyInfo PEM, 0644.

Loading a private key file that is readable by group or others raises `KeyFileError` (like ssh)
unless ``allow_insecure_permissions=True``; a missing, unreadable, non-regular or malformed file,
or a key of the wrong type or size, raises `KeyFileError` too (exit 78). Messages name the file,
never the key. Saving overwrites an existing file atomically.

`key_id_for` names an appliance verify key: ``ed25519:`` + the first 16 hex digits of SHA-256 of
the raw 32-byte key; envelopes carry it in ``key_id`` and clients look the verify key up by it.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from ecies.keys import PrivateKey as _EciesPrivateKey
from ecies.keys import PublicKey as _EciesPublicKey

from common.errors import KeyFileError
from common.keyfiles import read_private, read_public, write_private, write_public


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


def save_ecies_private_key(path: str | os.PathLike[str], private_key: bytes) -> None:
    """Write a 32-byte secp256k1 secret as hex, mode 0600."""
    ecies_public_key(private_key)  # validates
    write_private(path, bytes(private_key).hex().encode("ascii") + b"\n")


def load_ecies_private_key(path: str | os.PathLike[str], *, allow_insecure_permissions: bool = False) -> bytes:
    """Read a key written by `save_ecies_private_key`; `KeyFileError` if unusable."""
    data = read_private(path, allow_insecure_permissions=allow_insecure_permissions)
    raw = _parse_hex(data, (32,), Path(path))
    try:
        ecies_public_key(raw)
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a valid secp256k1 secret") from exc
    return raw


def save_ecies_public_key(path: str | os.PathLike[str], public_key: bytes) -> None:
    """Write a secp256k1 public key as uncompressed hex, mode 0644."""
    point = _EciesPublicKey("secp256k1", bytes(public_key)).to_bytes(compressed=False)
    write_public(path, point.hex().encode("ascii") + b"\n")


def load_ecies_public_key(path: str | os.PathLike[str]) -> bytes:
    """Read a secp256k1 public key (33 or 65 bytes as hex); returns it uncompressed."""
    raw = _parse_hex(read_public(path), (33, 65), Path(path))
    try:
        return _EciesPublicKey("secp256k1", raw).to_bytes(compressed=False)
    except Exception as exc:
        raise KeyFileError(f"{path} is not a valid secp256k1 public key") from exc


def generate_signing_key() -> Ed25519PrivateKey:
    """A fresh Ed25519 appliance signing key."""
    return Ed25519PrivateKey.generate()


def save_signing_key(path: str | os.PathLike[str], key: Ed25519PrivateKey) -> None:
    """Write `key` as unencrypted PKCS#8 PEM, mode 0600."""
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    write_private(path, pem)


def load_signing_key(path: str | os.PathLike[str], *, allow_insecure_permissions: bool = False) -> Ed25519PrivateKey:
    """Read an Ed25519 PKCS#8 PEM private key; `KeyFileError` if unusable or not Ed25519."""
    data = read_private(path, allow_insecure_permissions=allow_insecure_permissions)
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as exc:
        raise KeyFileError(f"{path} is not an unencrypted PEM private key") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise KeyFileError(f"{path} is not an Ed25519 key")
    return key


def save_verify_key(path: str | os.PathLike[str], key: Ed25519PublicKey) -> None:
    """Write an Ed25519 public key as SubjectPublicKeyInfo PEM, mode 0644."""
    write_public(path, key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo))


def load_verify_key(path: str | os.PathLike[str]) -> Ed25519PublicKey:
    """Read an Ed25519 SubjectPublicKeyInfo PEM public key; `KeyFileError` if unusable or not Ed25519."""
    data = read_public(path)
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError as exc:
        raise KeyFileError(f"{path} is not a PEM public key") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise KeyFileError(f"{path} is not an Ed25519 key")
    return key
