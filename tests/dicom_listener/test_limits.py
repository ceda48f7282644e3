"""Hostile and overload input against the real listener: limits, timeouts, statuses, counters."""

from __future__ import annotations

import json
import socket
import struct
import threading
import time
import zlib
from collections.abc import Callable
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pydicom import dcmread
from pydicom.uid import DeflatedExplicitVRLittleEndian, ExplicitVRLittleEndian
from pynetdicom import _config as pynetdicom_config
from pynetdicom.dimse_primitives import C_STORE

from .conftest import (
    CR_IMAGE_STORAGE,
    PACS_AET,
    SCP_AET,
    Listener,
    associate,
    craft_file,
    dcmtk,
    encode,
    make_cr,
    run_tool,
    write_cr,
)
from .test_server import _rejection

CR_CONTEXT = [(CR_IMAGE_STORAGE, [ExplicitVRLittleEndian])]
TEMPORARY_CONGESTION = (2, 3, 1)
LOCAL_LIMIT_EXCEEDED = (2, 3, 2)


@pytest.fixture
def send_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pynetdicom_config, "STORE_SEND_CHUNKED_DATASET", True)


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()


def _storescu(listener: Listener, *paths: Path, extra: tuple[str, ...] = ()) -> str:
    done = run_tool(
        dcmtk("storescu"),
        "-v",
        *extra,
        "-aet",
        PACS_AET,
        "-aec",
        SCP_AET,
        "127.0.0.1",
        str(listener.port),
        *map(str, paths),
    )
    return done.stdout + done.stderr + f"\nrc={done.returncode}"


def _ok(out: str) -> bool:
    """storescu's -v output says every store succeeded (its exit status alone does not: a rejected
    association can exit 0)."""
    return "rc=0" in out and "Store Response (Success)" in out and "Store Failed" not in out and "Rejected" not in out


def _stored(listener: Listener) -> list[Path]:
    return sorted((listener.spool_dir / "incoming").rglob("*.dcm"))


def _reasons(listener: Listener) -> list[dict[str, Any]]:
    return [json.loads(p.read_text()) for p in sorted((listener.spool_dir / "quarantine").glob("*.reason.json"))]


# --------------------------------------------------------------------------- connections, associations


@pytest.mark.dcmtk
def test_raw_connections_are_capped_dropped_by_artim_and_storescu_still_stores(
    start_listener: Callable[..., Listener], tmp_path: Path
) -> None:
    listener = start_listener(max_associations=4, max_connections=8, acse_timeout_s=2.0)
    before = threading.active_count()
    idle = [socket.create_connection(("127.0.0.1", listener.port)) for _ in range(5)]
    good, _ = write_cr(tmp_path)
    out = _storescu(listener, good)  # within the cap: served while 5 idle connections are open
    assert _ok(out), out
    flood = [socket.create_connection(("127.0.0.1", listener.port)) for _ in range(100)]
    most = [threading.active_count()]

    def refused_enough() -> bool:
        most[0] = max(most[0], threading.active_count())
        # Never all 100: ARTIM frees a slot every acse_timeout_s, and the next socket takes it.
        return listener.server.counters.get("connection_limit", 0) >= 50

    assert _wait(refused_enough, 10), listener.server.counters
    # 8 connections at most, each an Association + DUL thread (+ its short-lived connection thread):
    # never one thread per socket.
    assert most[0] <= before + 3 * 8 + 4, (before, most[0])
    # ARTIM (acse_timeout_s) drops the silent ones; the flood's extra sockets were closed at once.
    assert _wait(lambda: listener.server.active_associations == 0, 10)
    second, _ = write_cr(tmp_path)
    out = _storescu(listener, second)
    assert _ok(out), out
    assert len(_stored(listener)) == 2
    for sock in idle + flood:
        sock.close()


def test_association_limit_rejects_transient_local_limit_exceeded(start_listener: Callable[..., Listener]) -> None:
    listener = start_listener(max_associations=2)
    held = [associate(listener.port) for _ in range(2)]
    assert all(a.is_established for a in held)
    assert _rejection(listener.port) == (True, LOCAL_LIMIT_EXCEEDED)
    assert listener.server.counters["association_limit"] == 1
    held.pop().release()
    assert _wait(lambda: _rejection(listener.port) == (False, None), 5)
    for assoc in held:
        assoc.release()


def test_admission_hook_rejects_associations_and_stores_then_recovers(start_listener: Callable[..., Listener]) -> None:
    verdict: list[str | None] = [None]
    listener = start_listener(admission=lambda: verdict[0])
    assoc = associate(listener.port, contexts=CR_CONTEXT)
    assert assoc.is_established
    verdict[0] = "queue full"
    assert _rejection(listener.port) == (True, TEMPORARY_CONGESTION)
    refused = assoc.send_c_store(make_cr())
    assert refused.Status == 0xA700 and "queue full" in refused.ErrorComment
    verdict[0] = None
    assert assoc.send_c_store(make_cr()).Status == 0x0000
    assoc.release()
    assert _rejection(listener.port) == (False, None)
    assert listener.server.counters["admission:queue full"] == 2
    assert len(_stored(listener)) == 1


# --------------------------------------------------------------------------- slow senders


def test_trickling_peer_is_dropped_and_frees_its_slot(start_listener: Callable[..., Listener]) -> None:
    listener = start_listener(max_associations=1, network_timeout_s=1.5)
    assoc = associate(listener.port, contexts=CR_CONTEXT)
    assert assoc.is_established
    raw = assoc.dul.socket.socket
    raw.sendall(b"\x04\x00\x00\x00\x10\x00")  # a P-DATA-TF header announcing 4096 bytes...
    started = time.monotonic()
    assert _rejection(listener.port) == (True, LOCAL_LIMIT_EXCEEDED)  # ...while it holds the only slot
    try:
        for _ in range(8):  # ...then one byte every 0.5 s: never a whole PDU in 1.5 s
            raw.sendall(b"\x00")
            time.sleep(0.5)
    except OSError:
        pass  # the listener closed the connection
    assert _wait(lambda: listener.server.active_associations == 0, 5)
    assert time.monotonic() - started < 8
    assert listener.server.counters["pdu_timeout"] >= 1
    after = associate(listener.port, contexts=CR_CONTEXT)
    assert after.is_established and after.send_c_store(make_cr()).Status == 0x0000
    after.release()


def _pdata_pdus(ds: Any, context_id: int, max_pdu: int) -> list[bytes]:
    """The P-DATA-TF PDUs of a C-STORE-RQ for `ds`, cut at max_pdu."""
    from pynetdicom.dimse_messages import C_STORE_RQ
    from pynetdicom.pdu import P_DATA_TF

    request = C_STORE()
    request.MessageID = 1
    request.AffectedSOPClassUID = CR_IMAGE_STORAGE
    request.AffectedSOPInstanceUID = ds.SOPInstanceUID
    request.Priority = 2
    request.DataSet = BytesIO(encode(ds))
    message = C_STORE_RQ()
    message.primitive_to_message(request)
    pdus = []
    for primitive in message.encode_msg(context_id, max_pdu):
        pdu = P_DATA_TF()
        pdu.from_primitive(primitive)
        pdus.append(pdu.encode())
    return pdus


def test_message_arriving_in_slow_whole_pdus_is_aborted_at_the_dimse_deadline(
    start_listener: Callable[..., Listener],
) -> None:
    listener = start_listener(max_associations=1, dimse_timeout_s=1.5, network_timeout_s=5.0)
    assoc = associate(listener.port, contexts=CR_CONTEXT)
    pdus = _pdata_pdus(make_cr(size=64), assoc.accepted_contexts[0].context_id, 1024)
    assert len(pdus) > 8
    raw = assoc.dul.socket.socket
    started = time.monotonic()
    try:
        for pdu in pdus:  # each PDU whole and well within network_timeout_s, the message never
            raw.sendall(pdu)
            time.sleep(0.4)
            if not assoc.is_established:
                break
    except OSError:
        pass
    assert _wait(lambda: listener.server.active_associations == 0, 5)
    assert time.monotonic() - started < 6
    assert listener.server.counters["message_timeout"] == 1
    assert _stored(listener) == []
    after = associate(listener.port, contexts=CR_CONTEXT)
    assert after.is_established and after.send_c_store(make_cr()).Status == 0x0000
    after.release()


def _trickle(port: int, stop: threading.Event, established: list[bool]) -> None:
    """An association that announces a P-DATA PDU, then sends one byte per second."""
    assoc = associate(port, contexts=CR_CONTEXT)
    established.append(assoc.is_established)
    if not assoc.is_established:
        return
    raw = assoc.dul.socket.socket
    try:
        raw.sendall(b"\x04\x00\x00\x00\x10\x00")
        while not stop.wait(1.0):
            raw.sendall(b"\x00")
    except OSError:
        pass


@pytest.mark.slow
@pytest.mark.dcmtk
def test_ten_trickling_associations_lose_every_slot_within_the_network_timeout(
    start_listener: Callable[..., Listener], tmp_path: Path
) -> None:
    listener = start_listener(max_associations=10, network_timeout_s=5.0)
    stop = threading.Event()
    established: list[bool] = []
    tricklers = [threading.Thread(target=_trickle, args=(listener.port, stop, established)) for _ in range(10)]
    for thread in tricklers:
        thread.start()
    assert _wait(lambda: len(established) == 10, 5) and all(established)
    assert _rejection(listener.port) == (True, LOCAL_LIMIT_EXCEEDED)  # every slot is held
    path, _ = write_cr(tmp_path)
    started = time.monotonic()
    out = _storescu(listener, path)
    while not _ok(out) and time.monotonic() - started < 20:
        time.sleep(1)
        out = _storescu(listener, path)
    assert _ok(out), out
    assert time.monotonic() - started < 10  # freed by the 5 s PDU deadline, not after minutes
    assert _wait(lambda: listener.server.counters.get("pdu_timeout") == 10, 6), listener.server.counters
    stop.set()
    for thread in tricklers:
        thread.join(timeout=5)


def test_silent_connection_is_dropped_by_artim(start_listener: Callable[..., Listener]) -> None:
    listener = start_listener(acse_timeout_s=1.0)
    with socket.create_connection(("127.0.0.1", listener.port)) as sock:
        sock.settimeout(5)
        started = time.monotonic()
        assert sock.recv(1) == b""  # closed by the listener, nothing sent
        assert time.monotonic() - started < 4


def test_announced_huge_pdu_ends_the_connection(start_listener: Callable[..., Listener]) -> None:
    listener = start_listener()
    with socket.create_connection(("127.0.0.1", listener.port)) as sock:
        sock.settimeout(5)
        sock.sendall(b"\x01\x00" + struct.pack(">I", 0xFFFFFFF0) + b"\x00" * 64)
        assert sock.recv(1) in (b"", b"\x07")  # closed (or an A-ABORT first)
    assert listener.server.counters["pdu_too_large"] == 1


# --------------------------------------------------------------------------- requests and data sets


def _send_request(assoc: Any, request: C_STORE) -> Any:
    """Send a hand-built C-STORE-RQ (pynetdicom's send_c_store refuses empty UIDs) and wait."""
    assoc._reactor_checkpoint.clear()
    while not assoc._is_paused:
        time.sleep(0.0001)
    try:
        assoc.dimse.send_msg(request, assoc.accepted_contexts[0].context_id)
        return assoc.dimse.get_msg(block=True)[1]
    finally:
        assoc._reactor_checkpoint.set()


def test_empty_affected_sop_instance_uid_is_answered_at_once(listener: Listener) -> None:
    assoc = associate(listener.port, contexts=CR_CONTEXT)
    ds = make_cr(size=4)
    request = C_STORE()
    request.MessageID = 7
    request.AffectedSOPClassUID = CR_IMAGE_STORAGE
    request.AffectedSOPInstanceUID = ""
    request.Priority = 2
    request.DataSet = BytesIO(encode(ds))
    started = time.monotonic()
    response = _send_request(assoc, request)
    assert time.monotonic() - started < 2
    assert response is not None and response.Status == 0xC001
    assert response.MessageIDBeingRespondedTo == 7
    assert "AffectedSOPInstanceUID" in response.ErrorComment
    assert assoc.send_c_store(ds).Status == 0x0000  # the association is still usable
    assoc.release()
    assert listener.server.counters["invalid_request"] == 1


def _rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0  # pragma: no cover - Linux only


def _rss_growth_mib(action: Callable[[], str], interval_s: float) -> tuple[str, float]:
    """Run `action` while sampling this process's RSS (the listener runs in it); returns the
    action's result and the peak growth over the start, in MiB."""
    baseline = _rss_kib()
    peak = [baseline]
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            peak[0] = max(peak[0], _rss_kib())
            time.sleep(interval_s)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        out = action()
    finally:
        stop.set()
        sampler.join()
    return out, (peak[0] - baseline) / 1024


@pytest.mark.dcmtk
def test_oversized_data_set_is_refused_without_being_buffered(
    start_listener: Callable[..., Listener], tmp_path: Path
) -> None:
    listener = start_listener(max_dataset_bytes=1 << 20)
    big = make_cr(size=5120)  # 50 MiB of pixel data
    path = tmp_path / "big.dcm"
    big.save_as(path, enforce_file_format=True)
    del big
    out, growth_mib = _rss_growth_mib(lambda: _storescu(listener, path), 0.01)
    assert "Received Store Response (Refused: OutOfResources)" in out, out
    print(f"listener RSS growth while refusing a 50 MiB data set: {growth_mib:.1f} MiB")
    assert growth_mib < 20  # bounded by the limit and a PDU, not the 50 MiB sent
    assert listener.server.counters["dataset_too_large"] == 1
    assert _stored(listener) == []
    small, _ = write_cr(tmp_path)
    assert _ok(_storescu(listener, small))
    assert len(_stored(listener)) == 1


def test_deflate_bomb_and_pixel_limit_are_refused_and_quarantined(
    start_listener: Callable[..., Listener], tmp_path: Path, send_raw: None
) -> None:
    listener = start_listener(max_inflated_bytes=1 << 20, max_pixel_bytes=100_000)
    bomb_ds = make_cr(size=4, transfer_syntax=DeflatedExplicitVRLittleEndian)
    plain = bytearray(encode(make_cr(sop_uid=bomb_ds.SOPInstanceUID, size=1024)))  # 2 MiB inflated
    squeezer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = squeezer.compress(bytes(plain)) + squeezer.flush()
    bomb_file = craft_file(tmp_path / "bomb.dcm", bomb, bomb_ds.SOPInstanceUID, DeflatedExplicitVRLittleEndian)
    assoc = associate(listener.port, contexts=[(CR_IMAGE_STORAGE, [DeflatedExplicitVRLittleEndian])])
    status = assoc.send_c_store(bomb_file)
    assert status.Status == 0xC004 and "inflates beyond" in status.ErrorComment
    assoc.release()

    huge, _ = write_cr(tmp_path, size=256)  # 256 x 256 x 2 bytes = 131072 > 100000
    assoc = associate(listener.port, contexts=CR_CONTEXT)
    status = assoc.send_c_store(huge)
    assert status.Status == 0xC004 and "over the 100000 byte limit" in status.ErrorComment
    assert assoc.send_c_store(make_cr(size=64)).Status == 0x0000
    assoc.release()
    reasons = _reasons(listener)
    assert [r["error"] for r in reasons] == ["LimitExceeded", "LimitExceeded"]
    assert {r["dimse_status"] for r in reasons} == {"0xC004"}
    assert listener.server.counters["refused:LimitExceeded"] == 2


def _lying_jpeg_ls(tmp_path: Path) -> Path:
    """A real JPEG-LS instance (dcmcjpls) whose SOF55 header claims 65535 x 65535."""
    source, _ = write_cr(tmp_path, size=64)
    compressed = tmp_path / "jls.dcm"
    done = run_tool(dcmtk("dcmcjpls"), str(source), str(compressed))
    assert done.returncode == 0, done.stderr
    data = bytearray(compressed.read_bytes())
    sof = data.find(b"\xff\xf7")
    assert sof > 0 and struct.unpack_from(">HH", data, sof + 5) == (64, 64)
    struct.pack_into(">HH", data, sof + 5, 65535, 65535)
    lying = tmp_path / "lying.dcm"
    lying.write_bytes(bytes(data))
    return lying


@pytest.mark.dcmtk
def test_lying_codestream_header_is_refused_with_storescu_and_quarantined(listener: Listener, tmp_path: Path) -> None:
    lying = _lying_jpeg_ls(tmp_path)
    assert dcmread(lying).Rows == 64
    out = _storescu(listener, lying, extra=("-xt",))
    assert "Received Store Response (Error: CannotUnderstand)" in out, out
    assert _stored(listener) == []
    (reason,) = _reasons(listener)
    assert reason["error"] == "CodestreamMismatch" and reason["dimse_status"] == "0xC005"
    assert "65535x65535 but Columns x Rows is 64x64" in reason["reason"]
    assert listener.server.counters["refused:CodestreamMismatch"] == 1
    good, _ = write_cr(tmp_path)
    assert _ok(_storescu(listener, good))
