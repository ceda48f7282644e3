"""Load limits shared by the server, the connection guards and the C-STORE handler.

Counters: every refusal the listener makes for a limit (and every refused instance) is counted by
reason, so that overload and hostile input are visible (the metrics export reads
ListenerServer.counters). Reasons are fixed identifiers, never data values:

    connection_limit        TCP connection closed at once: max_connections open already
    association_limit       A-ASSOCIATE-RJ transient, local limit exceeded (max_associations)
    disk_low                A-ASSOCIATE-RJ transient or C-STORE 0xA700: spool volume below min_free_bytes
    admission:<reason>      A-ASSOCIATE-RJ transient or C-STORE 0xA700: the admission hook said <reason>
    pdu_timeout             a PDU did not arrive whole within network_timeout_s (slow or stalled peer)
    pdu_too_large           a PDU longer than announced (max_pdu) or than any control PDU may be
    message_timeout         a DIMSE message did not arrive whole within dimse_timeout_s
    dataset_too_large       C-STORE 0xA700: data set beyond max_dataset_bytes, discarded unbuffered
    invalid_request         C-STORE request without a valid Message ID / Affected UIDs: answered at once
    write_failed            C-STORE 0xA700: the spool could not write it (disk full, I/O error)
    refused:<ErrorClass>    C-STORE failure for an instance refused and quarantined (e.g. LimitExceeded)

An admission hook is a callable taking no argument and returning None (accept) or a short fixed
reason (refuse for now); it runs on every A-ASSOCIATE-RQ and every C-STORE, so it must be cheap
and must not block. It may raise: that counts as "admission:error" and refuses.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from pathlib import Path

Admission = Callable[[], "str | None"]
"""None to accept, or a short reason (no data values) to refuse transiently."""


class Counters:
    """Thread-safe reason -> count."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._counts: dict[str, int] = {}

    def add(self, reason: str, n: int = 1) -> None:
        with self._lock:
            self._counts[reason] = self._counts.get(reason, 0) + n

    def snapshot(self) -> dict[str, int]:
        """A copy of the counts, sorted by reason."""
        with self._lock:
            return dict(sorted(self._counts.items()))


def free_bytes(path: Path) -> int | None:
    """Bytes available to an unprivileged writer on path's file system, None if unknown."""
    try:
        stat = os.statvfs(path)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def disk_problem(path: Path, min_free_bytes: int, incoming_bytes: int = 0) -> str | None:
    """A reason when writing `incoming_bytes` more would leave less than min_free_bytes free."""
    if min_free_bytes <= 0:
        return None
    free = free_bytes(path)
    if free is None or free - incoming_bytes >= min_free_bytes:
        return None
    return "spool volume is low on free space"


def ask(admission: Admission | None, counters: Counters) -> str | None:
    """Run the admission hook; a refusal (or a failing hook) is counted and returned as a reason."""
    if admission is None:
        return None
    try:
        reason = admission()
    except Exception:
        reason = "error"
    if reason is None:
        return None
    reason = str(reason)[:48] or "refused"
    counters.add(f"admission:{reason}")
    return reason
