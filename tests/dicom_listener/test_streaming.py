"""C-STORE data sets written to the spool as they arrive: the PDV parser, the socket reader, the
ReceivingFile, and the listener end to end (same file as Spool.store, bounded memory, no leftovers)."""

from __future__ import annotations

import os
import socket
import struct
import threading
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import UID, ExplicitVRLittleEndian
from pynetdicom.dsutils import create_file_meta

from dicom_listener.errors import SpoolWriteError
from dicom_listener.identity import parse_identity
from dicom_listener.spool import ReceivingFile, Spool, instance_header
from dicom_listener.stream import MAX_PREALLOCATED, data_set_fragments, read_exactly

from .conftest import CR_IMAGE_STORAGE, Listener, associate, dataset_bytes, encode, make_cr
from .test_limits import CR_CONTEXT, _ok, _pdata_pdus, _rss_growth_mib, _stored, _storescu, _wait

# --------------------------------------------------------------------------- data_set_fragments


def pdv(context_id: int, control: int, data: bytes) -> bytes:
    return struct.pack(">IBB", len(data) + 2, context_id, control) + data


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (pdv(1, 0x00, b"abc"), [b"abc"]),
        (pdv(1, 0x00, b"ab") + pdv(1, 0x00, b"cd"), [b"ab", b"cd"]),
        (pdv(1, 0x00, b""), [b""]),
        (pdv(1, 0x02, b"abc"), None),  # the last fragment: pynetdicom must see it
        (pdv(1, 0x01, b"abc"), None),  # a command fragment
        (pdv(1, 0x03, b"abc"), None),  # the last command fragment
        (pdv(3, 0x00, b"abc"), None),  # another presentation context
        (pdv(1, 0x00, b"ab") + pdv(1, 0x02, b"cd"), None),  # a middle and the last one
        (pdv(1, 0x00, b"abc")[:-1], None),  # the item overruns the body
        (pdv(1, 0x00, b"abc") + b"\x00", None),  # trailing bytes that are no item
        (struct.pack(">IBB", 1, 1, 0) + b"xyz", None),  # item length below 2
        (b"", None),  # no item at all
    ],
)
def test_data_set_fragments_only_accepts_middle_data_fragments_on_the_context(
    body: bytes, expected: list[bytes] | None
) -> None:
    found = data_set_fragments(body, 1)
    assert (None if found is None else [bytes(v) for v in found]) == expected


@given(st.binary(max_size=300), st.integers(0, 255))
def test_data_set_fragments_never_raises_and_returns_views_inside_the_body(body: bytes, context_id: int) -> None:
    found = data_set_fragments(body, context_id)
    if found is not None:
        assert sum(len(v) + 6 for v in found) == len(body)


@given(st.lists(st.binary(max_size=64), min_size=1, max_size=8), st.integers(1, 255))
def test_data_set_fragments_round_trips_what_an_encoder_wrote(chunks: list[bytes], context_id: int) -> None:
    body = b"".join(pdv(context_id, 0x00, c) for c in chunks)
    found = data_set_fragments(body, context_id)
    assert found is not None and [bytes(v) for v in found] == chunks


# --------------------------------------------------------------------------- read_exactly


def _never() -> None:
    raise AssertionError("no deadline in this test")


@pytest.mark.parametrize("size", [6, 131072 + 6, MAX_PREALLOCATED + 1])
def test_read_exactly_reads_the_whole_count_in_pieces(size: int) -> None:
    left, right = socket.socketpair()
    payload = os.urandom(size)

    def send() -> None:
        for i in range(0, size, 50000):
            left.sendall(payload[i : i + 50000])

    writer = threading.Thread(target=send)
    right.settimeout(5)
    writer.start()
    try:
        got = read_exactly(right, size, time.monotonic() + 30, _never)
    finally:
        writer.join()
        left.close()
        right.close()
    assert bytes(got) == payload


@pytest.mark.parametrize("size", [1000, MAX_PREALLOCATED + 10])
def test_read_exactly_returns_what_came_when_the_peer_closes(size: int) -> None:
    left, right = socket.socketpair()
    left.sendall(b"x" * 100)
    left.close()
    right.settimeout(5)
    try:
        assert bytes(read_exactly(right, size, time.monotonic() + 30, _never)) == b"x" * 100
    finally:
        right.close()


def test_read_exactly_gives_up_at_the_deadline() -> None:
    left, right = socket.socketpair()
    left.sendall(b"x")
    right.settimeout(0.05)

    def too_slow() -> None:
        raise TimeoutError("late")

    try:
        started = time.monotonic()
        with pytest.raises(TimeoutError):
            read_exactly(right, 10, time.monotonic() + 0.2, too_slow)
        assert time.monotonic() - started < 2
    finally:
        left.close()
        right.close()


# --------------------------------------------------------------------------- ReceivingFile


def test_receiving_file_holds_header_and_data_and_is_mapped_and_synced(tmp_path: Path) -> None:
    received = ReceivingFile(tmp_path, b"HEAD")
    chunks = [os.urandom(700_000) for _ in range(3)]  # past the writeback threshold
    for chunk in chunks:
        received.write(memoryview(chunk))
    assert received.failed is None and received.dataset_length == 2_100_000
    with received.dataset_view() as view:
        assert bytes(view[:10]) == chunks[0][:10] and len(view) == 2_100_000
    assert received.read_dataset() == b"".join(chunks)
    path = received.finish()
    assert path.read_bytes() == b"HEAD" + b"".join(chunks)
    assert (path.stat().st_mode & 0o777) == 0o600
    received.discard()
    assert not path.exists()


def test_receiving_file_that_cannot_be_created_is_failed_and_raises_on_use(tmp_path: Path) -> None:
    received = ReceivingFile(tmp_path / "missing", b"HEAD")
    assert received.failed is not None and "cannot create" in received.failed
    received.write(b"ignored")
    with pytest.raises(SpoolWriteError):
        received.finish()
    with pytest.raises(SpoolWriteError), received.dataset_view():
        pass


def test_discarded_receiving_file_is_gone_and_refuses_further_use(tmp_path: Path) -> None:
    received = ReceivingFile(tmp_path, b"HEAD")
    received.write(b"data")
    received.discard()
    assert list(tmp_path.iterdir()) == []
    received.write(b"more")
    assert list(tmp_path.iterdir()) == []
    with pytest.raises(SpoolWriteError):
        received.finish()


# --------------------------------------------------------------------------- the listener


def _event_file_meta(ds: Dataset) -> FileMetaDataset:
    """What pynetdicom's event.file_meta is for this C-STORE (the handler's in-memory path)."""
    return create_file_meta(
        sop_class_uid=UID(CR_IMAGE_STORAGE), sop_instance_uid=ds.SOPInstanceUID, transfer_syntax=ExplicitVRLittleEndian
    )


def _expected_file(ds: Dataset, aet: str) -> bytes:
    return instance_header(_event_file_meta(ds), CR_IMAGE_STORAGE, ds.SOPInstanceUID, aet) + encode(ds)


def test_streamed_instance_is_the_file_spool_store_writes(
    start_listener: Callable[..., Listener], tmp_path: Path
) -> None:
    listener = start_listener(max_pdu=16384)  # many PDUs: most of them taken off the stream by the guard
    big, small = make_cr(size=1024), make_cr(size=8)
    assoc = associate(listener.port, contexts=CR_CONTEXT)
    try:
        assert assoc.send_c_store(big).Status == 0x0000
        assert assoc.send_c_store(small).Status == 0x0000
    finally:
        assoc.release()
    stored = {p.name: p.read_bytes() for p in _stored(listener)}
    assert stored[f"{big.SOPInstanceUID}.dcm"] == _expected_file(big, "PACS")
    assert stored[f"{small.SOPInstanceUID}.dcm"] == _expected_file(small, "PACS")

    # The same instance through Spool.store (the in-memory path) is byte for byte the same file.
    with Spool(tmp_path / "other") as spool:
        data = encode(big)
        result = spool.store(data, _event_file_meta(big), parse_identity(data, ExplicitVRLittleEndian), "PACS")
        assert result.path is not None and result.path.read_bytes() == stored[f"{big.SOPInstanceUID}.dcm"]
    assert list((listener.spool_dir / "tmp").rglob("*.part")) == []


@pytest.mark.dcmtk
def test_large_instance_is_stored_without_being_assembled_in_memory(
    start_listener: Callable[..., Listener], tmp_path: Path
) -> None:
    listener = start_listener()
    big = make_cr(size=4096)  # 32 MiB of pixel data
    path = tmp_path / "big.dcm"
    big.save_as(path, enforce_file_format=True)
    sop = big.SOPInstanceUID
    del big
    out, growth_mib = _rss_growth_mib(lambda: _storescu(listener, path), 0.005)
    assert _ok(out), out
    print(f"listener RSS growth while storing a 32 MiB data set: {growth_mib:.1f} MiB")
    assert growth_mib < 16  # assembled in memory (pynetdicom), it grew by the whole 32 MiB
    assert [p.name for p in _stored(listener)] == [f"{sop}.dcm"]
    assert dataset_bytes(_stored(listener)[0]) == dataset_bytes(path)  # byte for byte as sent


def test_association_aborted_mid_data_set_leaves_no_partial_file(start_listener: Callable[..., Listener]) -> None:
    listener = start_listener(max_pdu=16384)
    assoc = associate(listener.port, contexts=CR_CONTEXT)
    pdus = _pdata_pdus(make_cr(size=256), assoc.accepted_contexts[0].context_id, 16384)
    raw = assoc.dul.socket.socket
    for pdu in pdus[: len(pdus) // 2]:
        raw.sendall(pdu)
    scratch = listener.spool_dir / "tmp"
    assert _wait(lambda: len(list(scratch.rglob("*.part"))) == 1, 5)  # it is being written
    assoc.abort()
    assert _wait(lambda: listener.server.active_associations == 0, 5)
    assert _wait(lambda: list(scratch.rglob("*.part")) == [], 5)
    assert _stored(listener) == []
