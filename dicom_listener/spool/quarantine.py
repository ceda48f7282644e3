"""quarantine/: refused payloads kept durably, each with a reason file that holds no patient data.

    quarantine/<stamp>Z-<random>.dcm           the bytes exactly as received
    quarantine/<stamp>Z-<random>.reason.json   QuarantineRecord.to_json()

The name is the receive time plus randomness, never derived from the payload (which may be
arbitrary text). Both files are written and fsynced as temp files first, then renamed, then the
folder is fsynced, so a reason file never names a payload that is not there.
"""

from __future__ import annotations

import contextlib
import os
import uuid
from collections.abc import Iterable
from datetime import datetime, timezone
from pathlib import Path

from dicom_listener.errors import SpoolWriteError
from dicom_listener.spool.files import SUFFIX, fsync_dir, write_temp
from dicom_listener.spool.records import QuarantineRecord

REASON_SUFFIX = ".reason.json"


def write_quarantine(directory: Path, scratch: Path, payload: Iterable[bytes], record: QuarantineRecord) -> Path:
    """Durably keep `payload` in `directory` with its reason beside it; returns the payload's path.

    `scratch` is the writer's temp folder (same file system). Raises SpoolWriteError.
    """
    stamp = datetime.fromtimestamp(record.received_at, tz=timezone.utc).strftime("%Y%m%dT%H%M%S")
    name = f"{stamp}Z-{uuid.uuid4().hex[:12]}"
    data_path = directory / f"{name}{SUFFIX}"
    reason_path = directory / f"{name}{REASON_SUFFIX}"
    data_tmp = write_temp(scratch, payload)
    reason_tmp = data_tmp
    try:
        reason_tmp = write_temp(scratch, (record.to_json().encode(),))
        os.replace(data_tmp, data_path)
        os.replace(reason_tmp, reason_path)
        fsync_dir(directory)
    except OSError as exc:
        raise SpoolWriteError(f"cannot write quarantine: {exc.strerror or exc}") from exc
    finally:
        for leftover in (data_tmp, reason_tmp):
            with contextlib.suppress(OSError):
                leftover.unlink()
    return data_path
