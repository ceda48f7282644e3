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
    max_associations: concurrent established associations; more are rejected at A-ASSOCIATE
        (transient, service-provider, local-limit-exceeded).
    max_connections: open TCP connections (associated or not yet); a connection beyond it is closed
        at once, before any thread or AE check. 0: automatic, max(2 x max_associations,
        max_associations + 8), leaving room to answer the over-limit ones with a proper rejection.
        A connection that sends no A-ASSOCIATE-RQ is dropped after acse_timeout_s (ARTIM), one that
        trickles a PDU after network_timeout_s (every PDU must arrive whole within it), and a DIMSE
        message must arrive whole within dimse_timeout_s of its first fragment.
    max_dataset_bytes: largest C-STORE data set accepted; a larger one is discarded as it arrives
        (never buffered whole) and answered 0xA700.
    max_inflated_bytes: largest inflated size of a Deflated Explicit VR LE data set (0xC004 above).
    max_pixel_bytes: largest Rows x Columns x frames x samples x bytes per sample (0xC004 above).
    min_free_bytes: free space the spool volume must keep; below it new associations are rejected
        (transient, temporary congestion) and C-STORE answers 0xA700; 0 disables the check.
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
    max_connections: int = 0
    max_dataset_bytes: int = 512 * 1024 * 1024
    max_inflated_bytes: int = 512 * 1024 * 1024
    max_pixel_bytes: int = 1024 * 1024 * 1024
    min_free_bytes: int = 256 * 1024 * 1024
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
        if not isinstance(self.max_connections, int) or (0 < self.max_connections < self.max_associations):
            raise ListenerConfigError(
                "max_connections",
                f"must be 0 (automatic) or >= max_associations, got {self.max_connections!r}",
            )
        for name in ("max_dataset_bytes", "max_inflated_bytes", "max_pixel_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1024:
                raise ListenerConfigError(name, f"must be an integer >= 1024, got {value!r}")
        if not isinstance(self.min_free_bytes, int) or isinstance(self.min_free_bytes, bool) or self.min_free_bytes < 0:
            raise ListenerConfigError("min_free_bytes", f"must be an integer >= 0, got {self.min_free_bytes!r}")
        if self.tls is not None and not isinstance(self.tls, TLSFiles):
            raise ListenerConfigError("tls", "must be a common.tls.TLSFiles or None")

    @property
    def connection_limit(self) -> int:
        """max_connections, or its automatic value when 0."""
        if self.max_connections:
            return self.max_connections
        return max(2 * self.max_associations, self.max_associations + 8)
