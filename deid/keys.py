"""Keyed (HMAC-SHA256) replacements: UIDs, the patient pseudonym, the date shift, AE titles.

Every replacement is a keyed function of the original value and the site secret, so the same
original gives the same replacement in every instance, study and run with the same secret, and
nothing can be recomputed or reversed without the secret (never a bare hash). Each kind of value
uses its own sub-key (domain separation), so e.g. a UID and a Patient ID that happen to be equal
strings do not produce related outputs.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from pathlib import Path

from common.errors import KeyFileError
from common.keyfiles import read_private
from deid.errors import DeidConfigError

MIN_SECRET_BYTES = 16
UID_ROOT = "2.25."
PSEUDONYM_PREFIX = "ANON"
_AE_PREFIX = "DEID"


class Keyring:
    """Derives all keyed replacements from one site secret (at least 16 bytes, 32 recommended)."""

    def __init__(self, secret: bytes) -> None:
        if not isinstance(secret, (bytes, bytearray)):
            raise DeidConfigError("secret", "must be bytes")
        if len(secret) < MIN_SECRET_BYTES:
            raise DeidConfigError("secret", f"must be at least {MIN_SECRET_BYTES} bytes")
        root = bytes(secret)
        self._uid = _subkey(root, b"uid")
        self._patient = _subkey(root, b"patient")
        self._date = _subkey(root, b"date-shift")
        self._ae = _subkey(root, b"ae-title")

    def uid(self, original: str) -> str:
        """A UID under 2.25 (ISO/IEC 9834-8 UUID arc) keyed on `original`.

        The 128-bit integer is the first 16 bytes of the HMAC with the version/variant bits of an
        RFC 9562 version 8 ("custom") UUID set, so the result is a well-formed 2.25 UID of at most
        44 characters. Leading/trailing spaces and NULs of `original` (padding) are ignored.
        """
        digest = bytearray(_mac(self._uid, normalize_uid(original))[:16])
        digest[6] = (digest[6] & 0x0F) | 0x80  # version 8
        digest[8] = (digest[8] & 0x3F) | 0x80  # RFC 4122/9562 variant
        return UID_ROOT + str(int.from_bytes(bytes(digest), "big"))

    def pseudonym(self, patient_key: str) -> str:
        """The pseudonymous Patient ID (also used as Patient's Name): "ANON" + 16 base32 chars
        (80 bits) of the HMAC of the original patient key."""
        digest = _mac(self._patient, patient_key)[:10]
        return PSEUDONYM_PREFIX + base64.b32encode(digest).decode("ascii")

    def date_shift(self, patient_key: str, min_days: int, max_days: int) -> int:
        """Days to add to every date of this patient: keyed, uniform in [min_days, max_days]."""
        if min_days > max_days:
            raise DeidConfigError("date_shift_min_days", "greater than date_shift_max_days")
        span = max_days - min_days + 1
        # 64 bits modulo a span below 2**17: the bias is below 1e-14.
        return min_days + int.from_bytes(_mac(self._date, patient_key)[:8], "big") % span

    def ae_title(self, original: str) -> str:
        """A pseudonymous AE title (16 characters) for the Clean action of Retain Device Identity."""
        return _AE_PREFIX + _mac(self._ae, original.strip()).hex().upper()[:12]


def load_secret(path: str | os.PathLike[str]) -> bytes:
    """The site secret from `path`: hex text (64+ hex digits) or raw bytes, at least 16 bytes.

    It is read with `common.keyfiles.read_private`, so it must be a readable regular file without
    group/other access (symlinks are followed); any refusal is re-raised as DeidConfigError with
    key "secret_file" and the reader's message. The secret never appears in an error message.
    """
    p = Path(path)
    try:
        data = read_private(p)
    except KeyFileError as exc:
        raise DeidConfigError("secret_file", str(exc)) from None
    text = data.strip()
    try:
        if len(text) >= 64 and len(text) % 2 == 0:
            data = bytes.fromhex(text.decode("ascii"))
    except (ValueError, UnicodeDecodeError):
        pass  # not hex: the raw bytes are the secret
    if len(data) < MIN_SECRET_BYTES:
        raise DeidConfigError("secret_file", f"{p} holds fewer than {MIN_SECRET_BYTES} bytes")
    return data


def normalize_uid(value: str) -> str:
    """The UID without the padding (trailing NUL, surrounding spaces) a sender may have left."""
    return str(value).strip(" \x00")


def _subkey(root: bytes, label: bytes) -> bytes:
    return hmac.new(root, b"securemed-edge/deid/v1/" + label, hashlib.sha256).digest()


def _mac(key: bytes, text: str) -> bytes:
    return hmac.new(key, text.encode("utf-8"), hashlib.sha256).digest()
