"""The listener over real sockets: pynetdicom and DCMTK peers, association policy, statuses."""

from __future__ import annotations

import json
import logging
import shutil
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from pydicom.filereader import read_file_meta_info
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRLittleEndian,
    RLELossless,
    generate_uid,
)
from pynetdicom import _config as pynetdicom_config
from pynetdicom import evt
from pynetdicom.pdu_primitives import A_ASSOCIATE

from common.logref import uid_ref
from dicom_listener import STORAGE_TRANSFER_SYNTAXES, supported_contexts

from .conftest import (
    CR_IMAGE_STORAGE,
    PACS_AET,
    SCP_AET,
    Listener,
    associate,
    craft_file,
    dataset_bytes,
    dcmtk,
    encode,
    make_cr,
    run_tool,
    write_cr,
)

VERIFICATION = "1.2.840.10008.1.1"
DX_FOR_PRESENTATION = "1.2.840.10008.5.1.4.1.1.1.1"
GSPS = "1.2.840.10008.5.1.4.1.1.11.1"
CR_CONTEXT = [(CR_IMAGE_STORAGE, [ExplicitVRLittleEndian])]


@pytest.fixture
def send_raw(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make pynetdicom send a file's data set bytes verbatim instead of decoding and re-encoding."""
    monkeypatch.setattr(pynetdicom_config, "STORE_SEND_CHUNKED_DATASET", True)


def _stored(listener: Listener) -> list[Path]:
    return sorted((listener.spool_dir / "incoming").rglob("*.dcm"))


def _rejection(port: int, **kwargs: Any) -> tuple[bool, tuple[int, int, int] | None]:
    """Associate, capture the A-ASSOCIATE-RJ (result, source, reason) if any."""
    seen: list[tuple[int, int, int]] = []

    def on_acse(event: Any) -> None:
        primitive = event.primitive
        if isinstance(primitive, A_ASSOCIATE) and primitive.result in (1, 2):
            seen.append((primitive.result, primitive.result_source, primitive.diagnostic))

    from pynetdicom import AE

    ae = AE(ae_title=kwargs.get("calling", PACS_AET))
    ae.add_requested_context(VERIFICATION)
    assoc = ae.associate(
        "127.0.0.1",
        port,
        ae_title=kwargs.get("called", SCP_AET),
        evt_handlers=[(evt.EVT_ACSE_RECV, on_acse)],
    )
    if assoc.is_established:
        assoc.release()
    return assoc.is_rejected, (seen[0] if seen else None)


# --------------------------------------------------------------------------- association policy


def test_echo_with_pynetdicom(listener: Listener) -> None:
    assoc = associate(listener.port)
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    assoc.release()


@pytest.mark.parametrize(
    ("kwargs", "expected"),
    [
        ({"calling": "INTRUDER"}, (1, 1, 3)),  # permanent, service-user, calling AE not recognised
        (
            {"called": "SOMEONE_ELSE"},
            (1, 1, 7),
        ),  # permanent, service-user, called AE not recognised
    ],
)
def test_association_policy_rejects_with_the_right_reason(
    listener: Listener, kwargs: dict[str, str], expected: tuple[int, int, int]
) -> None:
    assert _rejection(listener.port, **kwargs) == (True, expected)
    assert _rejection(listener.port) == (False, None)  # and the right peer still gets in


def test_empty_allow_list_rejects_everyone(start_listener: Callable[..., Listener]) -> None:
    closed = start_listener(allowed_calling_aets=frozenset())
    for calling in (PACS_AET, "STORESCU", "#"):
        assert _rejection(closed.port, calling=calling) == (True, (1, 1, 3))


@pytest.mark.dcmtk
def test_echo_with_dcmtk_and_rejections(listener: Listener) -> None:
    echoscu = dcmtk("echoscu")
    port = str(listener.port)
    ok = run_tool(echoscu, "-aet", PACS_AET, "-aec", SCP_AET, "127.0.0.1", port)
    assert ok.returncode == 0, ok.stderr

    unknown = run_tool(echoscu, "-aet", "OTHER", "-aec", SCP_AET, "127.0.0.1", port)
    assert unknown.returncode != 0
    assert "Calling AE Title Not Recognized" in unknown.stdout + unknown.stderr

    wrong_called = run_tool(echoscu, "-aet", PACS_AET, "-aec", "NOT_US", "127.0.0.1", port)
    assert wrong_called.returncode != 0
    assert "Called AE Title Not Recognized" in wrong_called.stdout + wrong_called.stderr


def test_accepts_all_storage_classes_beyond_128_contexts(listener: Listener) -> None:
    contexts = supported_contexts()
    assert len(contexts) > 128
    assert all(
        list(cx.transfer_syntax) == list(STORAGE_TRANSFER_SYNTAXES)
        for cx in contexts
        if cx.abstract_syntax != VERIFICATION
    )
    assoc = associate(
        listener.port,
        contexts=[
            (uid, [ExplicitVRLittleEndian, RLELossless]) for uid in (CR_IMAGE_STORAGE, DX_FOR_PRESENTATION, GSPS)
        ],
    )
    assert assoc.is_established
    assert sorted(cx.abstract_syntax for cx in assoc.accepted_contexts) == sorted(
        [CR_IMAGE_STORAGE, DX_FOR_PRESENTATION, GSPS]
    )
    assoc.release()


# --------------------------------------------------------------------------- storing


@pytest.mark.dcmtk
def test_storescu_study_is_stored_grouped_and_claimable(listener: Listener, tmp_path: Path) -> None:
    storescu = dcmtk("storescu")
    study = generate_uid()
    sent = [write_cr(tmp_path, study)[0] for _ in range(3)]
    done = run_tool(
        storescu,
        "-aet",
        PACS_AET,
        "-aec",
        SCP_AET,
        "127.0.0.1",
        str(listener.port),
        *map(str, sent),
    )
    assert done.returncode == 0, done.stdout + done.stderr

    stored = _stored(listener)
    assert {p.name for p in stored} == {p.name for p in sent}
    assert {p.parent.name for p in stored} == {study}
    for original in sent:
        assert dataset_bytes(listener.spool_dir / "incoming" / study / original.name) == dataset_bytes(original)

    spool = listener.server.spool
    assert spool.ready_studies(time.time()) == []  # 1 s quiet period not over yet
    ready = spool.ready_studies(time.time() + 1.5)
    assert [(r.study_uid, len(r.paths), r.calling_aet) for r in ready] == [(study, 3, PACS_AET)]
    claimed = spool.claim(study)
    assert all(p.parent == listener.spool_dir / "claimed" / study and p.is_file() for p in claimed.paths)
    assert _stored(listener) == []


@pytest.mark.dcmtk
def test_duplicate_sent_twice_is_acknowledged_and_stored_once(listener: Listener, tmp_path: Path) -> None:
    storescu = dcmtk("storescu")
    path, ds = write_cr(tmp_path)
    for _ in range(2):
        done = run_tool(storescu, "-aet", PACS_AET, "-aec", SCP_AET, "127.0.0.1", str(listener.port), str(path))
        assert done.returncode == 0 and "Store Failed" not in done.stdout + done.stderr
    listener.server.spool.claim(ds.StudyInstanceUID)
    assoc = associate(listener.port, contexts=CR_CONTEXT)
    assert assoc.send_c_store(ds).Status == 0x0000  # even after the pipeline claimed it
    assoc.release()
    assert _stored(listener) == []
    assert len(list((listener.spool_dir / "claimed").rglob("*.dcm"))) == 1


def _compress_rle(source: Path, target: Path) -> list[str]:
    from pydicom import dcmread

    ds = dcmread(source)
    ds.compress(RLELossless)
    ds.save_as(target, enforce_file_format=True)
    return ["-xr"]


def _compress_with(tool: str, option: str) -> Callable[[Path, Path], list[str]]:
    def compress(source: Path, target: Path) -> list[str]:
        done = run_tool(dcmtk(tool), str(source), str(target))
        assert done.returncode == 0, done.stderr
        return [option]

    return compress


@pytest.mark.dcmtk
@pytest.mark.parametrize(
    ("compress", "syntax"),
    [
        (_compress_rle, "1.2.840.10008.1.2.5"),
        (_compress_with("dcmcjpeg", "-xs"), "1.2.840.10008.1.2.4.70"),
        (_compress_with("dcmcjpls", "-xt"), "1.2.840.10008.1.2.4.80"),
    ],
    ids=["rle", "jpeg-lossless-sv1", "jpeg-ls-lossless"],
)
def test_compressed_instance_is_stored_byte_exact(
    listener: Listener, tmp_path: Path, compress: Callable[[Path, Path], list[str]], syntax: str
) -> None:
    storescu = dcmtk("storescu")
    source, ds = write_cr(tmp_path)
    compressed = tmp_path / "compressed.dcm"
    options = compress(source, compressed)
    meta = read_file_meta_info(compressed)
    assert meta.TransferSyntaxUID == syntax
    done = run_tool(
        storescu,
        *options,
        "-aet",
        PACS_AET,
        "-aec",
        SCP_AET,
        "127.0.0.1",
        str(listener.port),
        str(compressed),
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # pydicom's compress() gives the lossless copy a new SOP Instance UID; DCMTK keeps it.
    stored = listener.spool_dir / "incoming" / ds.StudyInstanceUID / f"{meta.MediaStorageSOPInstanceUID}.dcm"
    assert read_file_meta_info(stored).TransferSyntaxUID == syntax
    assert dataset_bytes(stored) == dataset_bytes(compressed)


def test_deflated_data_set_is_stored_as_received(listener: Listener, tmp_path: Path, send_raw: None) -> None:
    source, ds = write_cr(tmp_path, transfer_syntax=DeflatedExplicitVRLittleEndian)
    assoc = associate(listener.port, contexts=[(CR_IMAGE_STORAGE, [DeflatedExplicitVRLittleEndian])])
    assert assoc.send_c_store(source).Status == 0x0000
    assoc.release()
    stored = listener.spool_dir / "incoming" / ds.StudyInstanceUID / f"{ds.SOPInstanceUID}.dcm"
    assert dataset_bytes(stored) == dataset_bytes(source)


def _mutated(**changes: Any) -> Callable[[], tuple[bytes, str]]:
    def build() -> tuple[bytes, str]:
        ds = make_cr(size=4)
        command_uid = ds.SOPInstanceUID
        for keyword, value in changes.items():
            if value is None:
                delattr(ds, keyword)
            else:
                setattr(ds, keyword, value)
        return encode(ds), command_uid

    return build


REFUSALS = [
    ("garbage", lambda: (b"\xde\xad\xbe\xef" * 9, generate_uid()), 0xC000, "MalformedDataset"),
    ("no study uid", _mutated(StudyInstanceUID=None), 0xC001, "MissingIdentifier"),
    ("invalid study uid", _mutated(StudyInstanceUID="1.2.abc"), 0xC002, "InvalidIdentifier"),
    (
        "sop uid differs from command",
        _mutated(SOPInstanceUID="1.2.3.4"),
        0xC003,
        "IdentifierMismatch",
    ),
    (
        "sop class differs from command",
        _mutated(SOPClassUID=DX_FOR_PRESENTATION),
        0xA900,
        "SOPClassMismatch",
    ),
]


@pytest.mark.filterwarnings("ignore:Invalid value for VR UI")
def test_refused_payloads_are_quarantined_and_the_listener_keeps_serving(
    listener: Listener, tmp_path: Path, send_raw: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="securemed.dicom_listener")
    assoc = associate(listener.port, contexts=CR_CONTEXT)
    assert assoc.is_established
    for index, (name, build, expected, _error) in enumerate(REFUSALS):
        data, command_uid = build()
        path = craft_file(tmp_path / f"bad{index}.dcm", data, command_uid)
        status = assoc.send_c_store(path)
        assert status.Status == expected, name
        assert status.ErrorComment  # a reason, not a bare code
    good, ds = write_cr(tmp_path)
    assert assoc.send_c_store(good).Status == 0x0000  # same association, still serving
    assoc.release()

    assert [p.name for p in _stored(listener)] == [good.name]
    quarantine = listener.spool_dir / "quarantine"
    reasons = [json.loads(p.read_text()) for p in sorted(quarantine.glob("*.reason.json"))]
    assert sorted(r["error"] for r in reasons) == sorted(e for _, _, _, e in REFUSALS)
    assert sorted(r["dimse_status"] for r in reasons) == sorted(f"0x{s:04X}" for _, _, s, _ in REFUSALS)
    assert {r["calling_aet"] for r in reasons} == {PACS_AET}
    assert {r["peer_host"] for r in reasons} == {"127.0.0.1"}
    assert all(r["received_at_utc"].endswith("Z") for r in reasons)
    assert len(list(quarantine.glob("*.dcm"))) == len(REFUSALS)
    for reason_file in quarantine.glob("*.reason.json"):
        text = reason_file.read_text()
        assert "Synthetic" not in text and "TEST-0001" not in text
    # Logs name UIDs by reference and AE titles, never UIDs or patient data.
    ours = [r.getMessage() for r in caplog.records if r.name == "securemed.dicom_listener"]
    assert sum("quarantined" in m for m in ours) == len(REFUSALS)
    assert any(uid_ref(ds.SOPInstanceUID) in m and "stored" in m for m in ours)
    assert not any("Synthetic" in m or "TEST-0001" in m or ds.SOPInstanceUID in m for m in ours)
    # The quarantined payload is exactly what was received (after our file meta).
    garbage = [p for p in quarantine.glob("*.dcm") if p.read_bytes().endswith(b"\xde\xad\xbe\xef" * 9)]
    assert len(garbage) == 1


def test_write_failure_answers_out_of_resources_and_keeps_nothing(listener: Listener) -> None:
    incoming = listener.spool_dir / "incoming"
    shutil.rmtree(incoming)
    incoming.write_bytes(b"")  # tests run as root: a file in the way blocks writes where chmod cannot
    ds = make_cr()
    assoc = associate(listener.port, contexts=CR_CONTEXT)
    status = assoc.send_c_store(ds)
    assert status.Status == 0xA700
    assert not listener.server.spool.contains(ds.SOPInstanceUID)

    incoming.unlink()
    incoming.mkdir()
    assert assoc.send_c_store(ds).Status == 0x0000  # the sender's retry is stored
    assoc.release()
    assert [p.name for p in _stored(listener)] == [f"{ds.SOPInstanceUID}.dcm"]


# --------------------------------------------------------------------------- shutdown


def _port_closed(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(1)
        return probe.connect_ex(("127.0.0.1", port)) != 0


def test_shutdown_stops_accepting_and_lets_running_associations_finish(listener: Listener) -> None:
    assoc = associate(listener.port, contexts=CR_CONTEXT + [(VERIFICATION, [ExplicitVRLittleEndian])])
    assert assoc.is_established
    stopper = threading.Thread(target=listener.server.shutdown, kwargs={"grace_s": 20.0})
    started = time.monotonic()
    stopper.start()
    deadline = time.monotonic() + 5
    while not _port_closed(listener.port) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert _port_closed(listener.port)
    # The running association still works during the grace period.
    assert assoc.send_c_echo().Status == 0x0000
    assert assoc.send_c_store(make_cr()).Status == 0x0000
    assoc.release()
    stopper.join(timeout=10)
    assert not stopper.is_alive()
    assert time.monotonic() - started < 10  # returned when the association ended, not at 20 s


def test_shutdown_aborts_associations_that_outlive_the_grace_period(listener: Listener) -> None:
    assoc = associate(listener.port)
    assert assoc.is_established
    started = time.monotonic()
    listener.server.shutdown(grace_s=0.3)
    assert time.monotonic() - started < 5
    deadline = time.monotonic() + 5
    while assoc.is_established and time.monotonic() < deadline:
        time.sleep(0.05)
    assert assoc.is_aborted
    assert listener.server.active_associations == 0
