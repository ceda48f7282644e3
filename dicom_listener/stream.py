"""Socket reads and P-DATA parsing for the connection guard's data set streaming (guard.py).

pynetdicom handles every PDU in Python at some 100 us of interpreter time each (decode, events,
state machine, DIMSE reassembly): for an 8 MB data set in 128 KiB PDUs that is more than the rest
of the C-STORE together. While a C-STORE data set is being written to its ReceivingFile,
GuardedSocket therefore takes the P-DATA PDUs that carry nothing but middle fragments of that
data set (`data_set_fragments`) off the stream itself, writes them to the file, and hands
pynetdicom only the PDUs it must see (command fragments, the last fragment, anything else).
It only does so while the next PDU's bytes are already waiting, so the DUL thread never blocks
longer than it would in pynetdicom's own loop, and a stalled peer meets the usual timeouts.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

RECV_BYTES = 262144
"""Most bytes asked of one recv()."""
MAX_PREALLOCATED = 4 * 1024 * 1024
"""PDUs up to this length (every P-DATA at a sane max_pdu) are read into one preallocated buffer."""

_PDV_HEADER = 6  # item length (4, big endian), presentation context ID (1), control header (1)


def read_exactly(sock: Any, nr_bytes: int, deadline: float, too_slow: Callable[[], None]) -> bytearray:
    """Read `nr_bytes` from `sock` (fewer only when the peer closes the connection).

    `sock` has a timeout set; too_slow() is called (it must raise) when `deadline`
    (time.monotonic()) passes before all arrived. Up to MAX_PREALLOCATED the buffer is allocated
    once and read into (each byte is copied once less than by appending chunks); beyond it, it
    grows as the bytes arrive.
    """
    if nr_bytes <= MAX_PREALLOCATED:
        data = bytearray(nr_bytes)
        got = 0
        with memoryview(data) as view:
            while got < nr_bytes:
                try:
                    done = sock.recv_into(view[got:], min(RECV_BYTES, nr_bytes - got))
                except TimeoutError:
                    done = None
                if done == 0:
                    break
                if done:
                    got += done
                if got < nr_bytes and time.monotonic() > deadline:
                    too_slow()
        if got < nr_bytes:
            del data[got:]
        return data
    data = bytearray()
    while len(data) < nr_bytes:
        try:
            chunk = sock.recv(min(RECV_BYTES, nr_bytes - len(data)))
        except TimeoutError:
            chunk = None
        if chunk == b"":
            break
        if chunk:
            data.extend(chunk)
        if len(data) < nr_bytes and time.monotonic() > deadline:
            too_slow()
    return data


def data_set_fragments(body: bytes | bytearray, context_id: int) -> list[memoryview] | None:
    """The data set bytes of a P-DATA-TF PDU body (its PDV items, PS3.8 9.3.5) when every item is
    a data set fragment that is not the last one (control header bits 0 and 1 clear) on
    `context_id`; None for anything else: a command fragment, a last fragment, another context,
    no item, or items whose lengths do not exactly tile the body.

    The views point into `body`. Never raises for any bytes.
    """
    end = len(body)
    pos = 0
    out: list[memoryview] = []
    view = memoryview(body)
    while pos < end:
        if pos + _PDV_HEADER > end:
            return None
        length = int.from_bytes(body[pos : pos + 4], "big")
        if length < 2 or pos + 4 + length > end:
            return None
        if body[pos + 4] != context_id or body[pos + 5] & 0x03:
            return None
        out.append(view[pos + _PDV_HEADER : pos + 4 + length])
        pos += 4 + length
    return out or None
