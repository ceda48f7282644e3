"""What the spool hands out: the outcome of a store, ready and claimed studies, quarantine reasons.

Plain frozen values: no I/O here. Paths point into the spool root (see dicom_listener.spool).
"""

from __future__ import annotations

import enum
import json
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path


class StoreOutcome(enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class StoreResult:
    """What store() did. path is where the instance now lies (None for a duplicate)."""

    outcome: StoreOutcome
    sop_instance_uid: str
    path: Path | None


@dataclass(frozen=True)
class ReadyStudy:
    """A study in incoming/ whose last instance arrived more than the quiet period ago.

    Times are time.time() values. calling_aet is the AE title that sent the first instance.
    """

    study_uid: str
    paths: tuple[Path, ...]
    first_received: float
    last_received: float
    calling_aet: str


@dataclass(frozen=True)
class ClaimedStudy:
    """A study moved to claimed/<study_uid>/; the pipeline owns it until complete/release."""

    study_uid: str
    directory: Path
    paths: tuple[Path, ...]
    first_received: float
    last_received: float
    calling_aet: str


@dataclass(frozen=True)
class QuarantineRecord:
    """Why a payload was refused. Only UIDs, AE titles, addresses and codes: never patient data.

    The UID fields are None unless they were valid UIDs (an invalid one may be arbitrary text).
    """

    reason: str
    error: str
    calling_aet: str
    peer_host: str
    peer_port: int
    received_at: float
    dimse_status: int | None = None
    transfer_syntax_uid: str | None = None
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["received_at_utc"] = (
            datetime.fromtimestamp(self.received_at, tz=timezone.utc).isoformat().replace("+00:00", "Z")
        )
        if self.dimse_status is not None:
            data["dimse_status"] = f"0x{self.dimse_status:04X}"
        return json.dumps(data, indent=2, sort_keys=True) + "\n"
