"""How logs name a DICOM UID without writing it: ``uid#`` and the first 12 hex digits of its
SHA-256. The same UID always gives the same reference, so log lines about one study or instance
can be followed and matched against `securemed doctor` output, while the UID itself (which may
embed a date, a device serial or an accession-derived suffix) never reaches a log file."""

from __future__ import annotations

import hashlib


def uid_ref(uid: str | None) -> str:
    """``uid#<12 hex digits>`` for a UID; ``uid#none`` when empty or missing."""
    if not uid:
        return "uid#none"
    return "uid#" + hashlib.sha256(str(uid).encode("utf-8")).hexdigest()[:12]


__all__ = ["uid_ref"]
