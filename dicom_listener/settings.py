"""Frozen listener settings: who may call, where instances go, how long a study stays open."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from dicom_listener.errors import SettingsError

AE_TITLE_MAX_LEN = 16


def normalize_ae_title(value: str, what: str = "AE title") -> str:
    """Return `value` without the non-significant leading/trailing spaces, or raise SettingsError.

    PS3.5 AE: 1-16 characters of the default repertoire, no backslash, no control characters,
    not only spaces.
    """
    if not isinstance(value, str):
        raise SettingsError(f"{what} must be a str, not {type(value).__name__}")
    stripped = value.strip(" ")
    if not stripped:
        raise SettingsError(f"{what} must not be empty or only spaces")
    if len(value) > AE_TITLE_MAX_LEN:
        raise SettingsError(f"{what} {value!r} is longer than {AE_TITLE_MAX_LEN} characters")
    if any(not (0x20 <= ord(ch) < 0x7F) or ch == "\\" for ch in stripped):
        raise SettingsError(
            f"{what} {value!r} contains a control, non-ASCII or backslash character"
        )
    return stripped


@dataclass(frozen=True)
class TLSSettings:
    """DICOM TLS (PS3.15 B.1 style, mutual by default).

    cert_file/key_file: the server's PEM certificate (chain) and key; ca_file: the CA bundle that
    client certificates must chain to. With require_client_cert=False a client may connect without a
    certificate, but a certificate it does present must still verify against ca_file.
    """

    cert_file: Path
    key_file: Path
    ca_file: Path
    require_client_cert: bool = True

    def __post_init__(self) -> None:
        for name in ("cert_file", "key_file", "ca_file"):
            object.__setattr__(self, name, Path(getattr(self, name)))


@dataclass(frozen=True)
class ListenerSettings:
    """Everything create_server needs.

    ae_title: the called AE title we answer to; associations addressed to another title are
        rejected (A-ASSOCIATE-RJ permanent, service-user, called-AE-title-not-recognised).
    allowed_calling_aets: calling AE titles accepted; any other is rejected (calling-AE-title-not-
        recognised). Empty means nobody may connect (closed by default, never open by default).
    spool_dir: root of incoming/, claimed/, quarantine/, tmp/ and the SQLite index.
    quiet_period_s: a study is ready when none of its instances arrived for this long.
    max_pdu: maximum PDU length we announce for receiving (0 = unlimited).
    acse_timeout_s / dimse_timeout_s / network_timeout_s: pynetdicom's association timeouts;
        network_timeout_s also bounds the TLS handshake.
    max_associations: concurrent associations; more are rejected (transient, local limit).
    tls: DICOM TLS settings, or None for plain TCP.
    """

    ae_title: str
    allowed_calling_aets: frozenset[str]
    spool_dir: Path
    quiet_period_s: float = 10.0
    max_pdu: int = 131072
    acse_timeout_s: float = 30.0
    dimse_timeout_s: float = 60.0
    network_timeout_s: float = 60.0
    max_associations: int = 10
    tls: TLSSettings | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ae_title", normalize_ae_title(self.ae_title, "ae_title"))
        aets = self.allowed_calling_aets
        if isinstance(aets, str) or not isinstance(aets, Iterable):
            raise SettingsError("allowed_calling_aets must be a collection of AE titles")
        object.__setattr__(
            self,
            "allowed_calling_aets",
            frozenset(normalize_ae_title(a, "allowed calling AE title") for a in aets),
        )
        object.__setattr__(self, "spool_dir", Path(self.spool_dir))
        for name in ("quiet_period_s", "acse_timeout_s", "dimse_timeout_s", "network_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise SettingsError(f"{name} must be a finite number >= 0, got {value!r}")
        for name in ("acse_timeout_s", "dimse_timeout_s", "network_timeout_s"):
            if getattr(self, name) == 0:
                raise SettingsError(f"{name} must be > 0")
        if not isinstance(self.max_pdu, int) or (self.max_pdu != 0 and self.max_pdu < 4096):
            raise SettingsError(f"max_pdu must be 0 (unlimited) or >= 4096, got {self.max_pdu!r}")
        if not isinstance(self.max_associations, int) or self.max_associations < 1:
            raise SettingsError(f"max_associations must be >= 1, got {self.max_associations!r}")
        if self.tls is not None and not isinstance(self.tls, TLSSettings):
            raise SettingsError("tls must be a TLSSettings or None")
