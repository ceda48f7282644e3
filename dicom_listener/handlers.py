"""pynetdicom event handlers: plain functions from an event to a DIMSE status.

This is the boundary where the package's typed exceptions become C-STORE statuses:

    0x0000  Success: the instance is durably stored and indexed, or was already (duplicate).
    0xA700  Refused, Out of Resources: it could not be written or indexed (disk full, permission,
            I/O error, spool closed during shutdown). Nothing was kept; the sender retries later.
    0xA701  Refused, Out of Resources: an unexpected internal error. Also retryable; logged.
    0xA900  Error, Data Set Does Not Match SOP Class: the data set's SOP Class UID differs from
            the request's Affected SOP Class UID. Quarantined.
    0xC000  Error, Cannot Understand: the bytes are not a well-formed data set. Quarantined.
    0xC001  Cannot Understand: SOP Class/SOP Instance/Study Instance UID missing. Quarantined.
    0xC002  Cannot Understand: one of those UIDs is not a valid UID. Quarantined.
    0xC003  Cannot Understand: the data set's SOP Instance UID differs from the request's
            Affected SOP Instance UID. Quarantined.

Failures are returned as a status Dataset with an Error Comment (a fixed text, no data values).
Every C-STORE gets one of these; nothing is dropped silently. The handler never decodes pixel
data, never runs the pipeline, and logs UIDs and AE titles only.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from pydicom.dataset import Dataset

from dicom_listener.errors import (
    IdentifierMismatch,
    InvalidIdentifier,
    MalformedDataset,
    MissingIdentifier,
    SOPClassMismatch,
    SpoolError,
    UnparseableInstance,
)
from dicom_listener.identity import InstanceIdentity, is_valid_uid, parse_identity
from dicom_listener.spool import QuarantineRecord, Spool, StoreOutcome, encode_file_meta

LOGGER = logging.getLogger("securemed.dicom_listener")

SUCCESS = 0x0000
OUT_OF_RESOURCES = 0xA700
INTERNAL_ERROR = 0xA701
SOP_CLASS_MISMATCH = 0xA900
CANNOT_UNDERSTAND = 0xC000
MISSING_IDENTIFIER = 0xC001
INVALID_IDENTIFIER = 0xC002
IDENTIFIER_MISMATCH = 0xC003

# Order matters: most specific class first.
_REFUSAL_STATUS: tuple[tuple[type[UnparseableInstance], int], ...] = (
    (SOPClassMismatch, SOP_CLASS_MISMATCH),
    (IdentifierMismatch, IDENTIFIER_MISMATCH),
    (InvalidIdentifier, INVALID_IDENTIFIER),
    (MissingIdentifier, MISSING_IDENTIFIER),
    (MalformedDataset, CANNOT_UNDERSTAND),
    (UnparseableInstance, CANNOT_UNDERSTAND),
)


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


def handle_store(event: Any, spool: Spool) -> int | Dataset:
    """EVT_C_STORE: validate, then store durably (Success) or quarantine (failure). Never raises.

    Bind with evt_handlers=[(evt.EVT_C_STORE, handle_store, [spool])].
    """
    received_at = time.time()
    try:
        aet, host, port = _requestor(event)
        request = event.request
        affected_class = str(request.AffectedSOPClassUID or "")
        affected_instance = str(request.AffectedSOPInstanceUID or "")
        transfer_syntax = str(event.context.transfer_syntax)
        dataset = event.encoded_dataset(include_meta=False)
    except Exception as exc:
        LOGGER.error("C-STORE: cannot read the request (%s)", exc.__class__.__name__)
        return _failure(INTERNAL_ERROR, "internal error reading the request")
    log_uid = affected_instance if is_valid_uid(affected_instance) else "<invalid UID>"

    try:
        identity = parse_identity(dataset, transfer_syntax)
        check_identity(identity, affected_class, affected_instance)
    except UnparseableInstance as error:
        status = refusal_status(error)
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
            where = spool.quarantine((header, dataset), record)
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
        result = spool.store(dataset, event.file_meta, identity, aet, received_at=received_at)
    except SpoolError as exc:
        LOGGER.error("C-STORE %s from %s not stored: %s", identity.sop_instance_uid, aet, exc)
        return _failure(OUT_OF_RESOURCES, "instance could not be stored")
    except Exception as exc:
        LOGGER.error(
            "C-STORE %s from %s failed unexpectedly: %s",
            identity.sop_instance_uid,
            aet,
            exc.__class__.__name__,
        )
        return _failure(INTERNAL_ERROR, "internal error")

    if result.outcome is StoreOutcome.DUPLICATE:
        LOGGER.info("C-STORE %s from %s: duplicate, already stored", identity.sop_instance_uid, aet)
    else:
        LOGGER.info(
            "C-STORE %s (study %s) from %s stored",
            identity.sop_instance_uid,
            identity.study_instance_uid,
            aet,
        )
    return SUCCESS
