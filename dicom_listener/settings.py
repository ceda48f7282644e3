"""Frozen listener settings: who may call, where instances go, how long a study stays open."""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from common.aetitle import ae_title_problem
from common.tls import TLSFiles
from dicom_listener.errors import ListenerConfigError


def normalize_ae_title(value: str, what: str = "ae_title") -> str:
    """`value` without its non-significant spaces, or ListenerConfigError naming `what`."""
    problem = ae_title_problem(value)
    if problem is not None:
        raise ListenerConfigError(what, problem)
    return value.strip(" ")


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
    tls: TLSFiles | None = field(default=None)

    def __post_init__(self) -> None:
        object.__setattr__(self, "ae_title", normalize_ae_title(self.ae_title, "ae_title"))
        aets = self.allowed_calling_aets
        if isinstance(aets, str) or not isinstance(aets, Iterable):
            raise ListenerConfigError("allowed_calling_aets", "must be a collection of AE titles")
        object.__setattr__(
            self,
            "allowed_calling_aets",
            frozenset(normalize_ae_title(a, "allowed_calling_aets") for a in aets),
        )
        object.__setattr__(self, "spool_dir", Path(self.spool_dir))
        for name in ("quiet_period_s", "acse_timeout_s", "dimse_timeout_s", "network_timeout_s"):
            value = getattr(self, name)
            if not isinstance(value, (int, float)) or not math.isfinite(value) or value < 0:
                raise ListenerConfigError(name, f"must be a finite number >= 0, got {value!r}")
        for name in ("acse_timeout_s", "dimse_timeout_s", "network_timeout_s"):
            if getattr(self, name) == 0:
                raise ListenerConfigError(name, "must be > 0")
        if not isinstance(self.max_pdu, int) or (self.max_pdu != 0 and self.max_pdu < 4096):
            raise ListenerConfigError("max_pdu", f"must be 0 (unlimited) or >= 4096, got {self.max_pdu!r}")
        if not isinstance(self.max_associations, int) or self.max_associations < 1:
            raise ListenerConfigError("max_associations", f"must be >= 1, got {self.max_associations!r}")
        if self.tls is not None and not isinstance(self.tls, TLSFiles):
            raise ListenerConfigError("tls", "must be a common.tls.TLSFiles or None")
