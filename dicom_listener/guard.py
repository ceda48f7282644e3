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
                            the connection (counted pdu_timeout / pdu_too_large). While a data
                            set streams to its file (below), P-DATA PDUs that carry only its
                            middle fragments are taken off the stream here, the same limits
                            applied, and never reach pynetdicom (stream.py says why and when).
    GuardedSocket.ready     also sets the DUL loop's idle sleep: 0.1 ms while the association is
                            busy (and at most MAX_HOT_ASSOCIATIONS are), pynetdicom's 1 ms once
                            it has been quiet for 50 ms.
    BoundedDIMSE            a DIMSE message must arrive whole within message_timeout_s
                            (dimse_timeout_s) of its first PDU, else the association is aborted
                            (message_timeout). Data set bytes beyond max_dataset_bytes are dropped
                            as they arrive, so memory stays bounded, and the message is marked for
                            the C-STORE handler to answer 0xA700 (is_oversized). A C-STORE request
                            that pynetdicom would ignore is answered at once with 0xC001 (or the
                            association aborted when it has no Message ID) (invalid_request).
                            A C-STORE data set with valid Affected UIDs is not assembled in
                            memory at all: each fragment goes straight into a ReceivingFile in
                            the spool's scratch folder (open_sink), which the C-STORE handler
                            takes (take_received), parses in place and publishes; pynetdicom
                            only sees the fragments' control bytes. One that is never taken
                            (refused request, association gone) is removed. get_msg waits on
                            the request queue instead of polling it once per millisecond.

They are installed by swapping the classes of the AssociationSocket and DIMSEServiceProvider that
pynetdicom creates (both plain Python classes with the same layout), which keeps the rest of
pynetdicom's connection set-up unchanged.
"""

from __future__ import annotations

import contextlib
import logging
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from io import BytesIO
from typing import Any

from pynetdicom import evt
from pynetdicom.dimse import DIMSEServiceProvider
from pynetdicom.dimse_messages import C_STORE_RQ
from pynetdicom.dimse_primitives import C_STORE
from pynetdicom.pdu_primitives import P_DATA
from pynetdicom.transport import AssociationSocket

from dicom_listener.identity import is_valid_uid
from dicom_listener.limits import Counters
from dicom_listener.spool import ReceivingFile
from dicom_listener.stream import data_set_fragments, read_exactly

LOGGER = logging.getLogger("securemed.dicom_listener")

MAX_CONTROL_PDU = 1024 * 1024
"""Largest non-P-DATA PDU accepted (an A-ASSOCIATE-RQ with 128 contexts is tens of KB)."""
PDATA_SLACK = 64
"""Tolerance over the announced maximum PDU length, for peers that count the header in."""
_P_DATA_TF = 0x04
HOT_WINDOW_S = 0.05
HOT_LOOP_DELAY_S = 0.0001
IDLE_LOOP_DELAY_S = 0.001
"""The DUL loop's idle sleep while busy / quiet (pynetdicom's default), see GuardedSocket.ready."""
MAX_HOT_ASSOCIATIONS = 2
"""Busy associations beyond this many all poll at IDLE_LOOP_DELAY_S (0.5 MB x 8: 170 -> 204 files/s)."""
REACTOR_WAIT_S = 0.005
_BUSY: set[int] = set()  # id() of the GuardStates of busy associations (set ops are atomic)
_MISSING_IDENTIFIER = 0xC001

SinkFactory = Callable[[str, str, str, str], "ReceivingFile | None"]
"""(SOP Class UID, SOP Instance UID, transfer syntax UID, calling AE title) -> the file a C-STORE
data set is written to as it arrives, or None to assemble it in memory (pynetdicom's way)."""


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
    last_activity: float = 0.0  # time.monotonic() of the last recv
    open_sink: SinkFactory | None = None
    sink: ReceivingFile | None = None  # the data set of the message being received
    sink_message_id: int | None = None
    sink_context_id: int = -1
    pending_body: bytearray | None = None  # read by _stream, not yet returned to pynetdicom
    sink_tried: bool = False
    received: dict[int, ReceivingFile] = field(default_factory=dict)  # complete, by Message ID
    lock: threading.Lock = field(default_factory=threading.Lock)

    def drop_sink(self) -> None:
        """Remove the file of the message being received, if any."""
        sink, self.sink = self.sink, None
        if sink is not None:
            sink.discard()

    def discard_all(self, *_: object) -> None:
        """The connection is gone: remove every received file no handler has taken.

        The entries stay, failed, so a handler that still runs answers 0xA700 instead of
        mistaking an emptied message for a malformed one.
        """
        self.drop_sink()
        _BUSY.discard(id(self))
        with self.lock:
            pending = list(self.received.values())
        for sink in pending:
            sink.discard()


class GuardedSocket(AssociationSocket):
    """AssociationSocket whose recv() has a deadline and a PDU length bound."""

    guard: GuardState

    def recv(self, nr_bytes: int) -> bytearray:
        guard = self.guard
        sock = self.socket
        if sock is None:
            return bytearray()
        pending, guard.pending_body = guard.pending_body, None
        if pending is not None:  # the body of the PDU whose header the last call returned
            return pending
        expected = guard.next_pdu
        guard.next_pdu = None
        if expected is not None and nr_bytes == expected[1]:
            self._check_length(*expected)
        data = self._read(sock, nr_bytes)
        if nr_bytes == 6 and len(data) == 6:
            if data[0] == _P_DATA_TF and guard.sink is not None and not guard.dropping:
                return self._stream(sock, data)
            # A PDU header: the DUL's next recv() asks for the rest of this PDU.
            guard.next_pdu = (data[0], int.from_bytes(data[2:6], "big"))
        return data

    def _check_length(self, pdu_type: int, length: int) -> None:
        limits = self.guard.limits
        limit = limits.max_pdu + PDATA_SLACK if pdu_type == _P_DATA_TF else MAX_CONTROL_PDU
        if limits.max_pdu == 0 and pdu_type == _P_DATA_TF:
            limit = limits.max_dataset_bytes + PDATA_SLACK
        if length > limit:
            self.guard.counters.add("pdu_too_large")
            LOGGER.warning("connection dropped: PDU of %d bytes announced (type 0x%02X)", length, pdu_type)
            raise OSError("PDU longer than allowed")

    def _stream(self, sock: Any, header: bytearray) -> bytearray:
        """P-DATA `header` arrived while a C-STORE data set streams to its file (see stream.py).

        Reads the PDU; while it holds only middle fragments of that data set, within the data
        set and message limits, and the next PDU is already waiting, writes them to the file and
        goes on with the next PDU. The first PDU that does not qualify is handed to pynetdicom
        as usual: its header returned now, its body on the next call (or, for another PDU type,
        read then). Never waits for bytes that have not arrived, beyond a PDU's own deadline.
        """
        guard = self.guard
        while True:
            length = int.from_bytes(header[2:6], "big")
            self._check_length(header[0], length)
            body = self._read(sock, length)
            sink = guard.sink
            fragments = None
            if len(body) == length and sink is not None and not guard.dropping:
                fragments = data_set_fragments(body, guard.sink_context_id)
            if fragments is not None:
                size = sum(len(f) for f in fragments)
                started = guard.message_started
                if guard.dataset_bytes + size > guard.limits.max_dataset_bytes or (
                    started is not None and time.monotonic() - started > guard.limits.message_timeout_s
                ):
                    fragments = None  # pynetdicom's path drops or aborts, and counts it
            if fragments is None or sink is None or not super().ready:
                guard.pending_body = body
                return header
            for fragment in fragments:
                sink.write(fragment)
            guard.dataset_bytes += size
            header = self._read(sock, 6)
            if len(header) < 6 or header[0] != _P_DATA_TF:
                if len(header) == 6:
                    guard.next_pdu = (header[0], int.from_bytes(header[2:6], "big"))
                return header

    def _read(self, sock: Any, nr_bytes: int) -> bytearray:
        """nr_bytes from sock within pdu_timeout_s (see the module docstring)."""
        guard = self.guard
        timeout = guard.limits.pdu_timeout_s
        guard.last_activity = time.monotonic()
        deadline = guard.last_activity + timeout

        def too_slow() -> None:
            guard.counters.add("pdu_timeout")
            LOGGER.warning("connection dropped: a PDU did not arrive within %.1f s", timeout)
            raise TimeoutError("PDU not received in time")

        previous = sock.gettimeout()
        try:
            # One settimeout per PDU: each recv() blocks at most `timeout`, and the deadline is
            # checked after every chunk, so a PDU gets between 1x and 2x the timeout to arrive.
            sock.settimeout(timeout)
            return read_exactly(sock, nr_bytes, deadline, too_slow)
        finally:
            with contextlib.suppress(OSError):
                sock.settimeout(previous)

    @property
    def ready(self) -> bool:
        """pynetdicom's check for incoming data, run on every turn of the DUL's loop; it also
        sets how long that loop sleeps when idle: HOT_LOOP_DELAY_S while this association
        is busy (data within HOT_WINDOW_S: the next PDU or our response follows within
        milliseconds), pynetdicom's 1 ms once it is quiet, so idle associations cost nothing."""
        ready = bool(super().ready)
        key = id(self.guard)
        if ready or time.monotonic() - self.guard.last_activity < HOT_WINDOW_S:
            _BUSY.add(key)
        else:
            _BUSY.discard(key)
        # With many busy associations the fast loops would take the CPU the transfers need.
        hot = key in _BUSY and len(_BUSY) <= MAX_HOT_ASSOCIATIONS
        self.assoc.dul._run_loop_delay = HOT_LOOP_DELAY_S if hot else IDLE_LOOP_DELAY_S
        return ready


class BoundedDIMSE(DIMSEServiceProvider):
    """DIMSEServiceProvider with a message deadline, a data set bound and prompt invalid replies."""

    guard: GuardState

    def get_msg(self, block: bool = False) -> Any:
        """The association's loop polls this with block=False after a fixed 1 ms sleep; waiting
        up to REACTOR_WAIT_S here instead means a complete C-STORE reaches its handler at once
        rather than up to a millisecond later (release, abort and timeouts are still checked
        between waits, at most REACTOR_WAIT_S late)."""
        if block:
            return super().get_msg(block=True)
        try:
            return self.msg_queue.get(block=True, timeout=REACTOR_WAIT_S)
        except queue.Empty:
            return None, None

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
            guard.drop_sink()  # a message abandoned mid-way (never the case with a sane peer)
            guard.sink_tried = False
        elif guard.message_started is not None and now - guard.message_started > guard.limits.message_timeout_s:
            guard.counters.add("message_timeout")
            LOGGER.warning(
                "association aborted: a DIMSE message took over %.1f s to arrive", guard.limits.message_timeout_s
            )
            self.message = None
            guard.drop_sink()
            self.assoc.abort(block=False)
            return False
        for context_id, data in primitive.presentation_data_value_list:
            if data and not data[0] & 1:  # a data set fragment (bit 0 clear)
                guard.dataset_bytes += len(data) - 1
                if guard.dataset_bytes > guard.limits.max_dataset_bytes:
                    self._start_dropping()
                if not guard.dropping and not guard.sink_tried:
                    self._open_sink(context_id)
                sink = guard.sink
                if sink is not None and not guard.dropping:
                    sink.write(memoryview(data)[1:])
                    if data[0] & 2:  # the last fragment: hand over before pynetdicom queues it
                        self._hand_over(sink)
                if guard.dropping or sink is not None:
                    # Keep the control header: its "last fragment" bit still ends the message.
                    primitive.presentation_data_value_list = [[context_id, data[:1]]]
        super().receive_primitive(primitive)
        return True

    def _open_sink(self, context_id: int) -> None:
        """At a C-STORE's first data set fragment: start writing it to a ReceivingFile."""
        guard = self.guard
        guard.sink_tried = True
        message = self.message
        if guard.open_sink is None or not isinstance(message, C_STORE_RQ):
            return
        command = message.command_set
        message_id = getattr(command, "MessageID", None)
        sop_class = str(getattr(command, "AffectedSOPClassUID", None) or "")
        sop_instance = str(getattr(command, "AffectedSOPInstanceUID", None) or "")
        if not isinstance(message_id, int) or not (is_valid_uid(sop_class) and is_valid_uid(sop_instance)):
            return  # pynetdicom's way: answer_if_invalid or the handler refuses it
        try:
            transfer_syntax = str(self.assoc._accepted_cx[context_id].transfer_syntax[0])
            calling_aet = str(self.assoc.requestor.ae_title).strip()
        except (AttributeError, KeyError, IndexError, TypeError):
            return
        guard.sink = guard.open_sink(sop_class, sop_instance, transfer_syntax, calling_aet)
        guard.sink_message_id = message_id
        guard.sink_context_id = context_id

    def _hand_over(self, sink: ReceivingFile) -> None:
        guard = self.guard
        guard.sink = None
        message_id = guard.sink_message_id
        if message_id is None:  # pragma: no cover - set with the sink
            sink.discard()
            return
        # A sane peer waits for each response, so at most one file waits for its handler; keep
        # only the newest, so a peer whose requests never reach the handler (pynetdicom refuses
        # some itself) or that does not wait cannot pile up open files.
        with guard.lock:
            previous = list(guard.received.values())
            guard.received.clear()
            guard.received[message_id] = sink
        for stale in previous:
            stale.discard()

    def _start_dropping(self) -> None:
        guard = self.guard
        if guard.dropping:
            return
        guard.dropping = True
        guard.drop_sink()
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
        if request.MessageID is not None:
            unused = take_received(self.assoc, request.MessageID)
            if unused is not None:
                unused.discard()
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


def install(assoc: Any, limits: GuardLimits, counters: Counters, open_sink: SinkFactory | None = None) -> GuardState:
    """Put the guards on a freshly created acceptor Association (before it starts).

    With `open_sink`, C-STORE data sets are written to files as they arrive (take_received).
    """
    state = GuardState(limits, counters, open_sink=open_sink)
    assoc.bind(evt.EVT_CONN_CLOSE, state.discard_all)
    assoc.bind(evt.EVT_ABORTED, state.discard_all)
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


def take_received(assoc: Any, message_id: int | None) -> ReceivingFile | None:
    """The file this C-STORE's data set was written to as it arrived (the caller owns it now),
    or None when it was assembled in memory instead (event.encoded_dataset())."""
    state = getattr(getattr(assoc, "dimse", None), "guard", None)
    if not isinstance(state, GuardState) or message_id is None:
        return None
    with state.lock:
        return state.received.pop(message_id, None)
