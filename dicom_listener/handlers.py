"""pynetdicom event handlers: plain functions from an event to a DIMSE status.

This is the boundary where the package's typed exceptions become C-STORE statuses:

    0x0000  Success: the instance is durably stored and indexed, or was already (duplicate).
    0xA700  Refused, Out of Resources: it could not be written or indexed (disk full, permission,
            I/O error, spool closed during shutdown), the spool volume is below min_free_bytes,
            the admission hook refuses work for now, or the data set exceeds max_dataset_bytes
            (discarded as it arrived). Nothing was kept; the sender retries later.
    0xA701  Refused, Out of Resources: an unexpected internal error. Also retryable; logged.
    0xA900  Error, Data Set Does Not Match SOP Class: the data set's SOP Class UID differs from
            the request's Affected SOP Class UID. Quarantined.
    0xC000  Error, Cannot Understand: the bytes are not a well-formed data set. Quarantined.
    0xC001  Cannot Understand: SOP Class/SOP Instance/Study Instance UID missing. Quarantined.
    0xC002  Cannot Understand: one of those UIDs is not a valid UID. Quarantined.
    0xC003  Cannot Understand: the data set's SOP Instance UID differs from the request's
            Affected SOP Instance UID. Quarantined.
    0xC004  Cannot Understand: a decompression bomb: the deflated data set inflates beyond
            max_inflated_bytes, or the image beyond max_pixel_bytes. Quarantined.
    0xC005  Cannot Understand: the first frame's codestream header is missing, garbled or
            disagrees with Rows/Columns/Samples per Pixel/Bits Stored. Quarantined.
    (0xC001 also answers, at once, a request whose Affected UIDs are empty: see guard.py.)

The data set is usually already in a spool temp file, written as it arrived (guard.py,
take_received): it is parsed in place (mapped, Pixel Data skipped) and published by
Spool.store_received; a write failure while it arrived answers 0xA700 (write_failed). Otherwise
(a request whose Affected UIDs are not valid UIDs) pynetdicom assembled it in memory and
Spool.store writes it; the stored file is the same either way.

Failures are returned as a status Dataset with an Error Comment (a fixed text, no data values).
Every C-STORE gets one of these; nothing is dropped silently. The handler never decodes pixel
data, never runs the pipeline, and logs UIDs and AE titles only.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataset import Dataset

from common.logref import uid_ref
from dicom_listener.errors import (
    CodestreamMismatch,
    IdentifierMismatch,
    InvalidIdentifier,
    LimitExceeded,
    MalformedDataset,
    MissingIdentifier,
    SOPClassMismatch,
    SpoolError,
    UnparseableInstance,
)
from dicom_listener.guard import is_oversized, take_received
from dicom_listener.identity import MAX_INFLATED_BYTES, InstanceIdentity, is_valid_uid, parse_instance
from dicom_listener.image_limits import check_image
from dicom_listener.limits import Admission, Counters, ask, disk_problem
from dicom_listener.spool import QuarantineRecord, ReceivingFile, Spool, StoreOutcome, encode_file_meta

LOGGER = logging.getLogger("securemed.dicom_listener")

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
INTERNAL_ERROR = 0xA701
SOP_CLASS_MISMATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
MISSING_IDENTIFIER = 0xC001
INVALID_IDENTIFIER = 0xC002
IDENTIFIER_MISMATCH = 0xC003
LIMIT_EXCEEDED = 0xC004
CODESTREAM_MISMATCH = 0xC005

# Order matters: most specific class first.
_REFUSAL_STATUS: tuple[tuple[type[UnparseableInstance], int], ...] = (
    (SOPClassMismatch, SOP_CLASS_MISMATCH),
    (IdentifierMismatch, IDENTIFIER_MISMATCH),
    (InvalidIdentifier, INVALID_IDENTIFIER),
    (LimitExceeded, LIMIT_EXCEEDED),
    (CodestreamMismatch, CODESTREAM_MISMATCH),
    (MissingIdentifier, MISSING_IDENTIFIER),
    (MalformedDataset, CANNOT_UNDERSTAND),
    (UnparseableInstance, CANNOT_UNDERSTAND),
)


@dataclass(frozen=True)
class StorePolicy:
    """The limits handle_store applies besides validation (see ListenerSettings for each)."""

    max_inflated_bytes: int = MAX_INFLATED_BYTES
    max_pixel_bytes: int = 1024 * 1024 * 1024
    min_free_bytes: int = 0
    admission: Admission | None = None
    counters: Counters = field(default_factory=Counters)


def refusal_status(error: UnparseableInstance) -> int:
    """The C-STORE failure status for a refused instance."""
    for kind, status in _REFUSAL_STATUS:
        if isinstance(error, kind):
            return status
    return CANNOT_UNDERSTAND  # pragma: no cover - UnparseableInstance is the last row


def _failure(status: int, comment: str) -> Dataset:
    rsp = Dataset()
    rsp.Status = status
    rsp.ErrorComment = comment[:64]  # LO
    return rsp


def _requestor(event: Any) -> tuple[str, str, int]:
    requestor = event.assoc.requestor
    return str(requestor.ae_title).strip(), str(requestor.address), int(requestor.port)


def handle_echo(event: Any) -> int:
    """EVT_C_ECHO: always Success (association policy already vetted the peer)."""
    aet, host, _ = _requestor(event)
    LOGGER.debug("C-ECHO from %s at %s", aet, host)
    return SUCCESS


def check_identity(identity: InstanceIdentity, affected_sop_class: str, affected_sop_instance: str) -> None:
    """Raise if the data set's UIDs contradict the C-STORE request's Affected UIDs."""
    if identity.sop_instance_uid != affected_sop_instance:
        raise IdentifierMismatch("SOP Instance UID differs from Affected SOP Instance UID")
    if identity.sop_class_uid != affected_sop_class:
        raise SOPClassMismatch("SOP Class UID differs from Affected SOP Class UID")


def _validate(
    dataset: bytes | memoryview, transfer_syntax: str, affected_class: str, affected_instance: str, policy: StorePolicy
) -> InstanceIdentity:
    """Parse and check one data set; raises UnparseableInstance (quarantine) or returns its identity."""
    parsed = parse_instance(dataset, transfer_syntax, max_inflated_bytes=policy.max_inflated_bytes)
    check_identity(parsed.identity, affected_class, affected_instance)
    check_image(parsed.image, transfer_syntax, policy.max_pixel_bytes)
    return parsed.identity


def handle_store(event: Any, spool: Spool, policy: StorePolicy | None = None) -> int | Dataset:
    """EVT_C_STORE: validate, then store durably (Success) or quarantine (failure). Never raises.

    Bind with evt_handlers=[(evt.EVT_C_STORE, handle_store, [spool, policy])].
    """
    received_at = time.time()
    policy = policy if policy is not None else StorePolicy()
    try:
        aet, host, port = _requestor(event)
        request = event.request
        store = _Request(
            aet=aet,
            host=host,
            port=port,
            message_id=request.MessageID,
            affected_class=str(request.AffectedSOPClassUID or ""),
            affected_instance=str(request.AffectedSOPInstanceUID or ""),
            transfer_syntax=str(event.context.transfer_syntax),
            received_at=received_at,
        )
        received = take_received(event.assoc, request.MessageID)
        dataset = b"" if received is not None else event.encoded_dataset(include_meta=False)
    except Exception as exc:
        LOGGER.error("C-STORE: cannot read the request (%s)", exc.__class__.__name__)
        return _failure(INTERNAL_ERROR, "internal error reading the request")
    try:
        return _store(event, spool, policy, store, received, dataset)
    finally:
        if received is not None:
            received.discard()  # a no-op once published


@dataclass(frozen=True)
class _Request:
    """What handle_store read from the C-STORE request and its association."""

    aet: str
    host: str
    port: int
    message_id: int | None
    affected_class: str
    affected_instance: str
    transfer_syntax: str
    received_at: float


def _store(
    event: Any,
    spool: Spool,
    policy: StorePolicy,
    store: _Request,
    received: ReceivingFile | None,
    dataset: bytes,
) -> int | Dataset:
    """handle_store once the data set is known: in `received` (written as it arrived) or `dataset`."""
    counters = policy.counters
    aet, host, port = store.aet, store.host, store.port
    affected_class, affected_instance = store.affected_class, store.affected_instance
    transfer_syntax, received_at = store.transfer_syntax, store.received_at
    log_uid = uid_ref(affected_instance) if is_valid_uid(affected_instance) else "<invalid UID>"

    if is_oversized(event.assoc, store.message_id):
        LOGGER.warning("C-STORE refused 0xA700 for %s from %s: data set over max_dataset_bytes", log_uid, aet)
        return _failure(OUT_OF_RESOURCES, "data set exceeds the size limit")
    busy = ask(policy.admission, counters)
    if busy is not None:
        LOGGER.warning("C-STORE refused 0xA700 for %s from %s: not admitted (%s)", log_uid, aet, busy)
        return _failure(OUT_OF_RESOURCES, f"not accepting now: {busy}")
    # A received file is on the volume already: its bytes are part of what statvfs reports used.
    low = disk_problem(spool.root, policy.min_free_bytes, 0 if received is not None else len(dataset))
    if low is not None:
        counters.add("disk_low")
        LOGGER.warning("C-STORE refused 0xA700 for %s from %s: %s", log_uid, aet, low)
        return _failure(OUT_OF_RESOURCES, low)

    try:
        if received is None:
            identity = _validate(dataset, transfer_syntax, affected_class, affected_instance, policy)
        else:
            with received.dataset_view() as view:
                identity = _validate(view, transfer_syntax, affected_class, affected_instance, policy)
    except SpoolError as exc:  # the file written while it arrived failed (disk full, I/O error)
        counters.add("write_failed")
        LOGGER.error("C-STORE %s from %s not stored: %s", log_uid, aet, received.failed if received else exc)
        return _failure(OUT_OF_RESOURCES, "instance could not be stored")
    except UnparseableInstance as error:
        status = refusal_status(error)
        counters.add(f"refused:{error.__class__.__name__}")
        record = QuarantineRecord(
            reason=error.reason,
            error=error.__class__.__name__,
            calling_aet=aet,
            peer_host=host,
            peer_port=port,
            received_at=received_at,
            dimse_status=status,
            transfer_syntax_uid=transfer_syntax if is_valid_uid(transfer_syntax) else None,
            affected_sop_class_uid=affected_class if is_valid_uid(affected_class) else None,
            affected_sop_instance_uid=affected_instance if is_valid_uid(affected_instance) else None,
        )
        try:
            header = encode_file_meta(event.file_meta)
        except Exception:
            header = b""
        try:
            payload = received.read_dataset() if received is not None else dataset
            where = spool.quarantine((header, payload), record)
            LOGGER.warning(
                "C-STORE refused 0x%04X (%s) for %s from %s; quarantined as %s",
                status,
                error.reason,
                log_uid,
                aet,
                where.name,
            )
        except Exception as exc:
            LOGGER.error(
                "C-STORE refused 0x%04X (%s) for %s from %s; quarantine failed: %s",
                status,
                error.reason,
                log_uid,
                aet,
                exc if isinstance(exc, SpoolError) else exc.__class__.__name__,
            )
        return _failure(status, error.reason)

    try:
        if received is not None:
            result = spool.store_received(received, identity, aet, received_at=received_at)
        else:
            result = spool.store(dataset, event.file_meta, identity, aet, received_at=received_at)
    except SpoolError as exc:
        counters.add("write_failed")
        LOGGER.error("C-STORE %s from %s not stored: %s", log_uid, aet, exc)
        return _failure(OUT_OF_RESOURCES, "instance could not be stored")
    except Exception as exc:
        LOGGER.error(
            "C-STORE %s from %s failed unexpectedly: %s",
            log_uid,
            aet,
            exc.__class__.__name__,
        )
        return _failure(INTERNAL_ERROR, "internal error")

    if result.outcome is StoreOutcome.DUPLICATE:
        LOGGER.info("C-STORE %s from %s: duplicate, already stored", log_uid, aet)
    else:
        LOGGER.info(
            "C-STORE %s (study %s) from %s stored",
            log_uid,
            uid_ref(identity.study_instance_uid),
            aet,
        )
    return SUCCESS
