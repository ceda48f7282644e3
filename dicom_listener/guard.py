"""Per-connection guards installed on every accepted association, below pynetdicom's state machine.

pynetdicom reads a PDU by calling recv() until the length its header announces has arrived, with
no overall deadline and no upper bound, and it buffers a whole DIMSE data set in memory before
any handler runs. A peer trickling one byte per second therefore holds its thread (and an
association slot) forever, a 4 GB PDU length is honoured, and a 4 GB C-STORE is buffered. It also
silently ignores a C-STORE request whose Message ID or Affected UIDs are empty, so the peer waits
for a reply until its own timeout. The guards:

    GuardedSocket.recv      every PDU must arrive whole within pdu_timeout_s (network_timeout_s;
                            at most twice that: the deadline is checked after each chunk);
                            P-DATA longer than max_pdu (+ slack) or any other PDU over 1 MiB ends
                            the connection (counted pdu_timeout / pdu_too_large).
    BoundedDIMSE            a DIMSE message must arrive whole within message_timeout_s
                            (dimse_timeout_s) of its first PDU, else the association is aborted
                            (message_timeout). Data set bytes beyond max_dataset_bytes are dropped
                            as they arrive, so memory stays bounded, and the message is marked for
                            the C-STORE handler to answer 0xA700 (is_oversized). A C-STORE request
                            that pynetdicom would ignore is answered at once with 0xC001 (or the
                            association aborted when it has no Message ID) (invalid_request).

They are installed by swapping the classes of the AssociationSocket and DIMSEServiceProvider that
pynetdicom creates (both plain Python classes with the same layout), which keeps the rest of
pynetdicom's connection set-up unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import time
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.transport import AssociationSocket

from dicom_listener.limits import Counters

LOGGER = logging.getLogger("securemed.dicom_listener")

MAX_CONTROL_PDU = 1024 * 1024
"""Largest non-P-DATA PDU accepted (an A-ASSOCIATE-RQ with 128 contexts is tens of KB)."""
PDATA_SLACK = 64
"""Tolerance over the announced maximum PDU length, for peers that count the header in."""
_P_DATA_TF = 0x04
_MISSING_IDENTIFIER = 0xC001


@dataclass(frozen=True)
class GuardLimits:
    """What the guards enforce; built by the server from ListenerSettings."""

    pdu_timeout_s: float
    message_timeout_s: float
    max_pdu: int
    max_dataset_bytes: int


@dataclass
class GuardState:
    """Per-association state shared by the socket guard, the DIMSE guard and the handler."""

    limits: GuardLimits
    counters: Counters
    oversized: set[int] = field(default_factory=set)
    next_pdu: tuple[int, int] | None = None
    message_started: float | None = None
    dataset_bytes: int = 0
    dropping: bool = False


class GuardedSocket(AssociationSocket):
    """AssociationSocket whose recv() has a deadline and a PDU length bound."""

    guard: GuardState

    def recv(self, nr_bytes: int) -> bytearray:
        guard = self.guard
        sock = self.socket
        if sock is None:
            return bytearray()
        expected = guard.next_pdu
        guard.next_pdu = None
        if expected is not None and nr_bytes == expected[1]:
            pdu_type, length = expected
            limit = guard.limits.max_pdu + PDATA_SLACK if pdu_type == _P_DATA_TF else MAX_CONTROL_PDU
            if guard.limits.max_pdu == 0 and pdu_type == _P_DATA_TF:
                limit = guard.limits.max_dataset_bytes + PDATA_SLACK
            if length > limit:
                guard.counters.add("pdu_too_large")
                LOGGER.warning("connection dropped: PDU of %d bytes announced (type 0x%02X)", length, pdu_type)
                raise OSError("PDU longer than allowed")
        timeout = guard.limits.pdu_timeout_s
        deadline = time.monotonic() + timeout
        previous = sock.gettimeout()
        data = bytearray()
        try:
            # One settimeout per PDU: each recv() blocks at most `timeout`, and the deadline is
            # checked after every chunk, so a PDU gets between 1x and 2x the timeout to arrive.
            sock.settimeout(timeout)
            while len(data) < nr_bytes:
                try:
                    chunk = sock.recv(min(262144, nr_bytes - len(data)))
                except TimeoutError:
                    chunk = None
                if chunk == b"":
                    return data
                if chunk:
                    data.extend(chunk)
                if len(data) < nr_bytes and time.monotonic() > deadline:
                    guard.counters.add("pdu_timeout")
                    LOGGER.warning("connection dropped: a PDU did not arrive within %.1f s", timeout)
                    raise TimeoutError("PDU not received in time")
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(previous)
        if nr_bytes == 6 and len(data) == 6:
            # A PDU header: the DUL's next recv() asks for the rest of this PDU.
            guard.next_pdu = (data[0], int.from_bytes(data[2:6], "big"))
        return data


class BoundedDIMSE(DIMSEServiceProvider):
    """DIMSEServiceProvider with a message deadline, a data set bound and prompt invalid replies."""

    guard: GuardState

    def receive_primitive(self, primitive: Any) -> None:
        # One PDV at a time, so that a message's command set is decoded (its Message ID known)
        # before any of its data set fragments is counted, even when one P-DATA carries both.
        items = list(primitive.presentation_data_value_list)
        if len(items) > 1:
            for item in items:
                single = P_DATA()
                single.presentation_data_value_list = [list(item)]  # type: ignore[list-item]  # runtime wants lists
                if not self._receive_one(single):
                    return
            return
        self._receive_one(primitive)

    def _receive_one(self, primitive: Any) -> bool:
        """Pass one single-PDV P-DATA on; False when the association is being aborted."""
        guard = self.guard
        now = time.monotonic()
        if self.message is None:
            guard.message_started = now
            guard.dataset_bytes = 0
            guard.dropping = False
        elif guard.message_started is not None and now - guard.message_started > guard.limits.message_timeout_s:
            guard.counters.add("message_timeout")
            LOGGER.warning(
                "association aborted: a DIMSE message took over %.1f s to arrive", guard.limits.message_timeout_s
            )
            self.message = None
            self.assoc.abort(block=False)
            return False
        for context_id, data in primitive.presentation_data_value_list:
            if data and not data[0] & 1:  # a data set fragment (bit 0 clear)
                guard.dataset_bytes += len(data) - 1
                if guard.dataset_bytes > guard.limits.max_dataset_bytes:
                    self._start_dropping()
                if guard.dropping:
                    # Keep the control header: its "last fragment" bit still ends the message.
                    primitive.presentation_data_value_list = [[context_id, data[:1]]]
        super().receive_primitive(primitive)
        return True

    def _start_dropping(self) -> None:
        guard = self.guard
        if guard.dropping:
            return
        guard.dropping = True
        message = self.message
        command = getattr(message, "command_set", None)
        message_id = getattr(command, "MessageID", None)
        if message is None or message_id is None:
            return
        guard.oversized.add(int(message_id))
        guard.counters.add("dataset_too_large")
        message.data_set = BytesIO()  # release what was buffered so far

    def answer_if_invalid(self, item: Any) -> bool:
        """Answer an invalid C-STORE request now instead of letting pynetdicom drop it silently.

        True when `item` (a (context ID, primitive) pair headed for msg_queue) was dealt with.
        """
        try:
            context_id, request = item
        except (TypeError, ValueError):
            return False
        # A C-STORE with a Status is a response (we never send requests, but a peer may).
        if not isinstance(request, C_STORE) or request.Status is not None or request.is_valid_request:
            return False
        self.guard.counters.add("invalid_request")
        if request.MessageID is None:
            LOGGER.warning("association aborted: C-STORE request without a Message ID")
            self.assoc.abort(block=False)
            return True
        missing = [
            name
            for name in ("AffectedSOPClassUID", "AffectedSOPInstanceUID", "Priority")
            if getattr(request, name) is None
        ]
        LOGGER.warning("C-STORE refused 0x%04X: request without a valid %s", _MISSING_IDENTIFIER, ", ".join(missing))
        response = C_STORE()
        response.MessageIDBeingRespondedTo = request.MessageID
        if request.AffectedSOPClassUID is not None:
            response.AffectedSOPClassUID = request.AffectedSOPClassUID
        response.Status = _MISSING_IDENTIFIER
        # pynetdicom annotates ErrorComment as always None; it is an LO string.
        setattr(response, "ErrorComment", f"request has no valid {missing[0] if missing else 'data set'}"[:64])  # noqa: B010
        self.send_msg(response, context_id)
        return True


class _RequestQueue(queue.Queue[Any]):
    """msg_queue that lets BoundedDIMSE answer invalid C-STORE requests before they are queued."""

    def __init__(self, dimse: BoundedDIMSE) -> None:
        super().__init__()
        self._dimse = dimse

    def put(self, item: Any, block: bool = True, timeout: float | None = None) -> None:
        if not self._dimse.answer_if_invalid(item):
            super().put(item, block, timeout)


def install(assoc: Any, limits: GuardLimits, counters: Counters) -> GuardState:
    """Put the guards on a freshly created acceptor Association (before it starts)."""
    state = GuardState(limits, counters)
    sock = assoc.dul.socket
    sock.__class__ = GuardedSocket
    sock.guard = state
    dimse = assoc.dimse
    dimse.__class__ = BoundedDIMSE
    dimse.guard = state
    dimse.msg_queue = _RequestQueue(dimse)
    return state


def is_oversized(assoc: Any, message_id: int | None) -> bool:
    """True (once) when the guard discarded this C-STORE's data set for exceeding max_dataset_bytes."""
    state = getattr(getattr(assoc, "dimse", None), "guard", None)
    if not isinstance(state, GuardState) or message_id is None:
        return False
    if message_id in state.oversized:
        state.oversized.discard(message_id)
        return True
    return False
