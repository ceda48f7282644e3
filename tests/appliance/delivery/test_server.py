"""The ReportDelivery server and client over real mutual TLS on 127.0.0.1."""

from __future__ import annotations

import dataclasses
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import grpc
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import ExtendedKeyUsageOID
from grpc_health.v1 import health_pb2, health_pb2_grpc

from appliance.delivery import pki as pki_mod
from appliance.delivery.client import ReportClient, error_from_rpc
from appliance.delivery.codec import decode_envelope, encode_envelope
from appliance.delivery.errors import (
    NotAuthorized,
    RemoteError,
    ReportNotFound,
    ServerSetupError,
    ServiceUnavailable,
    TLSPolicyError,
)
from appliance.delivery.pb import reports_pb2 as pb
from appliance.delivery.pb import reports_pb2_grpc as pb_grpc
from appliance.delivery.server import SERVICE_NAME, create_server
from appliance.envelope import BadSignature, WrongRecipient
from common.tls import TLSFiles

from .conftest import SECRET_FINDINGS

ROOT = Path(__file__).resolve().parents[3]


@pytest.fixture
def served(pki, store):
    server, port = create_server(
        "127.0.0.1:0",
        store,
        TLSFiles(pki.server_cert, pki.server_key, pki.ca_cert),
        max_workers=6,
        max_watchers=2,
        watch_wait=0.2,
    )
    server.start()
    yield server, port
    server.stop(0).wait(5)


def client(pki, keys, clinician: str, port: int, *, cert_pki=None, timeout: float = 5.0) -> ReportClient:
    cert, key = (cert_pki or pki).clients[clinician]
    return ReportClient(
        f"127.0.0.1:{port}",
        pki.ca_cert,
        cert,
        key,
        keys.ecies[clinician].private_key,
        keys.trusted,
        clinician,
        timeout=timeout,
    )


def raw_channel(pki, port: int, cert: Path | None = None, key: Path | None = None) -> grpc.Channel:
    creds = grpc.ssl_channel_credentials(
        root_certificates=pki.ca_cert.read_bytes(),
        private_key=key.read_bytes() if key else None,
        certificate_chain=cert.read_bytes() if cert else None,
    )
    return grpc.secure_channel(f"127.0.0.1:{port}", creds)


def test_list_get_ack_happy_path(served, store, pki, keys, make_envelope):
    _, port = served
    payload1, env1 = make_envelope("dr-a")
    payload2, env2 = make_envelope("dr-a")
    store.put(env1)
    store.put(env2)
    with client(pki, keys, "dr-a", port) as dr_a:
        listed = dr_a.list()
        assert [s.report_id for s in listed] == [payload1.report_id, payload2.report_id]
        assert not any(s.acked for s in listed)
        assert listed[0].study_pseudonym == payload1.study_pseudonym
        got = dr_a.get(payload1.report_id)
        assert got == payload1 and got.findings == SECRET_FINDINGS
        acked_at = dr_a.ack(payload1.report_id)
        assert acked_at and dr_a.ack(payload1.report_id) == acked_at
        assert [s.report_id for s in dr_a.list()] == [payload2.report_id]
        both = dr_a.list(include_acked=True)
        assert [(s.report_id, s.acked) for s in both] == [(payload1.report_id, True), (payload2.report_id, False)]
        assert dr_a.get(payload1.report_id) == payload1  # acked reports stay readable


def test_pagination(served, store, pki, keys, make_envelope):
    _, port = served
    ids = []
    for _ in range(5):
        payload, env = make_envelope("dr-a")
        store.put(env)
        ids.append(payload.report_id)
    _, foreign = make_envelope("dr-b")
    store.put(foreign)
    with client(pki, keys, "dr-a", port) as dr_a:
        assert [s.report_id for s in dr_a.list(page_size=2)] == ids
    cert, key = pki.clients["dr-a"]
    with raw_channel(pki, port, cert, key) as channel:
        stub = pb_grpc.ReportDeliveryStub(channel)
        first = stub.ListReports(pb.ListReportsRequest(page_size=2), timeout=5)
        assert len(first.reports) == 2 and first.next_page_token
        last = stub.ListReports(pb.ListReportsRequest(page_size=5), timeout=5)
        assert len(last.reports) == 5 and not last.next_page_token
        import base64

        foreign_token = base64.urlsafe_b64encode(foreign.report_id.encode()).decode().rstrip("=")
        for token in ("!!not-a-token", foreign_token):
            with pytest.raises(grpc.RpcError) as info:
                stub.ListReports(pb.ListReportsRequest(page_token=token), timeout=5)
            assert info.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_watch_delivers_unacked_then_new(served, store, pki, keys, make_envelope):
    _, port = served
    acked, env_acked = make_envelope("dr-a")
    old, env_old = make_envelope("dr-a")
    store.put(env_acked)
    store.put(env_old)
    store.ack("dr-a", acked.report_id)
    new, env_new = make_envelope("dr-a")
    _, env_other = make_envelope("dr-b")
    with client(pki, keys, "dr-a", port) as dr_a:
        stream = dr_a.watch()
        assert next(stream) == old
        threading.Timer(0.3, lambda: (store.put(env_other), store.put(env_new))).start()
        t0 = time.monotonic()
        assert next(stream) == new
        assert time.monotonic() - t0 < 5
        stream.close()


def test_watch_sees_envelope_stored_by_other_process(served, store, pki, keys, make_envelope, tmp_path):
    _, port = served
    payload, env = make_envelope("dr-a")
    blob = tmp_path / "env.bin"
    blob.write_bytes(encode_envelope(env))
    code = (
        "import sys; from appliance.delivery.store import EnvelopeStore; "
        "from appliance.delivery.codec import decode_envelope; "
        "EnvelopeStore(sys.argv[1]).put(decode_envelope(open(sys.argv[2], 'rb').read()))"
    )
    with client(pki, keys, "dr-a", port) as dr_a:
        stream = dr_a.watch(include_unacked=False)
        received: list = []
        reader = threading.Thread(target=lambda: received.append(next(stream)), daemon=True)
        reader.start()
        subprocess.run([sys.executable, "-c", code, str(store.path), str(blob)], cwd=ROOT, check=True, timeout=30)
        reader.join(timeout=10)
        assert received == [payload]
        stream.close()


def test_watch_without_unacked_starts_at_now(served, store, pki, keys, make_envelope):
    _, port = served
    _, env_old = make_envelope("dr-a")
    store.put(env_old)
    new, env_new = make_envelope("dr-a")
    with client(pki, keys, "dr-a", port) as dr_a:
        stream = dr_a.watch(include_unacked=False)
        threading.Timer(0.5, store.put, args=(env_new,)).start()
        assert next(stream) == new
        stream.close()


def test_watch_ends_when_server_stops(pki, keys, store):
    server, port = create_server(
        "127.0.0.1:0", store, TLSFiles(pki.server_cert, pki.server_key, pki.ca_cert), watch_wait=0.2
    )
    server.start()
    with client(pki, keys, "dr-a", port) as dr_a:
        stream = dr_a.watch()
        done = threading.Event()

        def consume():
            for _ in stream:
                pass
            done.set()

        threading.Thread(target=consume, daemon=True).start()
        time.sleep(0.3)
        server.stop(2)
        assert done.wait(10)


def test_concurrent_watches_are_capped(served, pki, keys):
    _, port = served  # max_watchers=2
    with client(pki, keys, "dr-a", port) as dr_a:
        first, second = dr_a.watch(include_unacked=False), dr_a.watch(include_unacked=False)
        errors: list = []
        for stream in (first, second):
            threading.Thread(target=lambda s=stream: errors.append(_drain(s)), daemon=True).start()
        time.sleep(0.5)
        with pytest.raises(RemoteError) as info:
            next(dr_a.watch(include_unacked=False))
        assert info.value.code == "RESOURCE_EXHAUSTED"
        first.close()
        second.close()


def test_one_clinicians_watches_never_take_anothers_slot(pki, keys, store, make_envelope):
    server, port = create_server(
        "127.0.0.1:0",
        store,
        TLSFiles(pki.server_cert, pki.server_key, pki.ca_cert),
        max_workers=6,
        max_watchers=3,
        max_watchers_per_clinician=1,
        watch_wait=0.2,
    )
    server.start()
    try:
        with client(pki, keys, "dr-a", port) as dr_a, client(pki, keys, "dr-b", port) as dr_b:
            first = dr_a.watch(include_unacked=False)
            threading.Thread(target=lambda: _drain(first), daemon=True).start()
            time.sleep(0.5)
            with pytest.raises(RemoteError) as info:
                next(dr_a.watch(include_unacked=False))
            assert info.value.code == "RESOURCE_EXHAUSTED"
            payload, envelope = make_envelope("dr-b")
            store.put(envelope)
            stream = dr_b.watch(include_unacked=True)
            assert next(stream).report_id == payload.report_id  # dr-b still gets a slot
            stream.close()
            first.close()
            time.sleep(0.5)
            again = dr_a.watch(include_unacked=True)  # dr-a's slot came back when the stream ended
            payload_a, envelope_a = make_envelope("dr-a")
            store.put(envelope_a)
            assert next(again).report_id == payload_a.report_id
            again.close()
    finally:
        server.stop(0).wait(5)


def test_an_oversized_request_is_refused_before_any_handler(served, pki, keys):
    _, port = served
    with client(pki, keys, "dr-a", port) as dr_a:
        with pytest.raises(RemoteError) as info:
            dr_a.get("r" * (64 * 1024))
        assert info.value.code == "RESOURCE_EXHAUSTED"
        assert dr_a.list() == []  # the connection and the service are still fine


def _drain(stream):
    try:
        for _ in stream:
            pass
    except Exception as exc:
        return exc


def test_clinicians_only_see_their_own_reports(served, store, pki, keys, make_envelope):
    _, port = served
    payload_a, env_a = make_envelope("dr-a")
    store.put(env_a)
    with client(pki, keys, "dr-b", port) as dr_b:
        assert dr_b.list(include_acked=True) == []
        with pytest.raises(ReportNotFound):
            dr_b.get(payload_a.report_id)
        with pytest.raises(ReportNotFound):
            dr_b.ack(payload_a.report_id)
        received: list = []
        stream = dr_b.watch()
        threading.Thread(target=lambda: received.append(next(stream, None)), daemon=True).start()
        time.sleep(0.6)
        assert received == []
        stream.close()
    assert not store.get("dr-a", payload_a.report_id).acked


def test_foreign_and_unknown_ids_answer_identically(served, store, pki, make_envelope):
    _, port = served
    payload_a, env_a = make_envelope("dr-a")
    store.put(env_a)
    cert, key = pki.clients["dr-b"]
    with raw_channel(pki, port, cert, key) as channel:
        stub = pb_grpc.ReportDeliveryStub(channel)
        answers = []
        for report_id in (payload_a.report_id, "rep-never-existed"):
            for call, request in (
                (stub.GetReport, pb.GetReportRequest(report_id=report_id)),
                (stub.AckReport, pb.AckReportRequest(report_id=report_id)),
            ):
                with pytest.raises(grpc.RpcError) as info:
                    call(request, timeout=5)
                answers.append((info.value.code(), info.value.details()))
    assert answers[:2] == answers[2:]
    assert {code for code, _ in answers} == {grpc.StatusCode.NOT_FOUND}


def test_client_without_certificate_is_refused(served, pki):
    _, port = served
    with raw_channel(pki, port) as channel:
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.ReportDeliveryStub(channel).ListReports(pb.ListReportsRequest(), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_certificate_from_another_ca_is_refused(served, pki, other_pki, keys):
    _, port = served
    with client(pki, keys, "dr-a", port, cert_pki=other_pki) as impostor:
        with pytest.raises(ServiceUnavailable):
            impostor.list()


def _issue_with_san(pki, tmp_path: Path, uris: list[str], eku=ExtendedKeyUsageOID.CLIENT_AUTH):
    ca = pki_mod.CertifiedKey(
        x509.load_pem_x509_certificate(pki.ca_cert.read_bytes()),
        serialization.load_pem_private_key(pki.ca_key.read_bytes(), None),
    )
    issued = pki_mod._issue(ca, "odd", [x509.UniformResourceIdentifier(u) for u in uris], eku, 1)
    cert, key = tmp_path / "odd.pem", tmp_path / "odd.key"
    pki_mod.write_certificate(cert, issued.certificate)
    pki_mod.write_private_key(key, issued.private_key)
    return cert, key


@pytest.mark.parametrize(
    "uris",
    [
        ["urn:other:dr-a"],
        ["urn:securemed:clinician:dr-a", "urn:securemed:clinician:dr-b"],
        ["urn:securemed:clinician:Not Valid"],
    ],
)
def test_certificate_without_exactly_one_clinician_is_unauthenticated(served, pki, tmp_path, uris):
    _, port = served
    cert, key = _issue_with_san(pki, tmp_path, uris)
    with raw_channel(pki, port, cert, key) as channel:
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.ReportDeliveryStub(channel).ListReports(pb.ListReportsRequest(), timeout=5)
    assert info.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_server_certificate_is_not_a_client_identity(served, pki, tmp_path):
    _, port = served
    cert, key = _issue_with_san(pki, tmp_path, ["urn:securemed:clinician:dr-a"], ExtendedKeyUsageOID.SERVER_AUTH)
    with raw_channel(pki, port, cert, key) as channel:
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.ReportDeliveryStub(channel).ListReports(pb.ListReportsRequest(), timeout=5)
    # BoringSSL may already refuse the handshake; if not, the servicer must.
    assert info.value.code() in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.UNAVAILABLE)


def _rewrite_stored(store, report_id: str, change) -> None:
    db = sqlite3.connect(store.path)
    (blob,) = db.execute("SELECT envelope FROM envelopes WHERE report_id=?", (report_id,)).fetchone()
    db.execute(
        "UPDATE envelopes SET envelope=? WHERE report_id=?", (encode_envelope(change(decode_envelope(blob))), report_id)
    )
    db.commit()
    db.close()


def test_tampered_envelope_in_store_is_rejected_by_client(served, store, pki, keys, make_envelope):
    _, port = served
    payload, env = make_envelope("dr-a")
    store.put(env)

    def flip(e):
        ct = bytearray(e.ciphertext)
        ct[100] ^= 0x01
        return dataclasses.replace(e, ciphertext=bytes(ct))

    _rewrite_stored(store, payload.report_id, flip)
    with client(pki, keys, "dr-a", port) as dr_a:
        with pytest.raises(BadSignature):
            dr_a.get(payload.report_id)
        with pytest.raises(BadSignature):
            dr_a.list()
        with pytest.raises(BadSignature):
            next(dr_a.watch())


def test_envelope_moved_to_another_clinician_is_rejected(served, store, pki, keys, make_envelope):
    _, port = served
    payload, env = make_envelope("dr-a")
    store.put(env)
    db = sqlite3.connect(store.path)
    db.execute("UPDATE envelopes SET recipient_id='dr-b' WHERE report_id=?", (payload.report_id,))
    db.commit()
    db.close()
    with client(pki, keys, "dr-b", port) as dr_b:
        with pytest.raises(WrongRecipient):
            dr_b.get(payload.report_id)


def test_health_not_serving_until_model_loaded(served, pki, keys):
    server, port = served
    cert, key = pki.clients["dr-b"]
    with raw_channel(pki, port, cert, key) as channel:
        health = health_pb2_grpc.HealthStub(channel)

        def status(service: str) -> int:
            return health.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status

        assert status("") == status(SERVICE_NAME) == health_pb2.HealthCheckResponse.NOT_SERVING
        server.set_serving(True)
        assert status("") == status(SERVICE_NAME) == health_pb2.HealthCheckResponse.SERVING
        server.set_serving(False)
        assert status(SERVICE_NAME) == health_pb2.HealthCheckResponse.NOT_SERVING
    with client(pki, keys, "dr-a", port) as dr_a:
        assert dr_a.serving() is False
        server.set_serving(True)
        assert dr_a.serving() is True


def test_client_refuses_certificate_of_someone_else(pki, keys):
    cert, key = pki.clients["dr-b"]
    with pytest.raises(ValueError):
        ReportClient("127.0.0.1:1", pki.ca_cert, cert, key, keys.ecies["dr-a"].private_key, keys.trusted, "dr-a")


def test_unreachable_server_is_service_unavailable(pki, keys):
    with client(pki, keys, "dr-a", 1, timeout=1.0) as dr_a:
        with pytest.raises(ServiceUnavailable):
            dr_a.list()


def test_server_listens_only_on_its_mtls_port(served, pki, store, tmp_path):
    server, _ = served
    with pytest.raises(TLSPolicyError):
        server.add_insecure_port("127.0.0.1:0")
    with pytest.raises(ServerSetupError):
        create_server("127.0.0.1:0", store, TLSFiles(tmp_path / "missing.pem", pki.server_key, pki.ca_cert))
    not_pem = tmp_path / "x.pem"
    not_pem.write_text("hello")
    with pytest.raises(ServerSetupError):
        create_server("127.0.0.1:0", store, TLSFiles(pki.server_cert, not_pem, pki.ca_cert))


def test_unauthenticated_maps_to_not_authorized(served, pki, tmp_path):
    _, port = served
    cert, key = _issue_with_san(pki, tmp_path, ["urn:other:dr-a"])
    with raw_channel(pki, port, cert, key) as channel:
        with pytest.raises(grpc.RpcError) as info:
            pb_grpc.ReportDeliveryStub(channel).GetReport(pb.GetReportRequest(report_id="x"), timeout=5)
    assert isinstance(error_from_rpc(info.value), NotAuthorized)


def test_list_pages_stay_under_grpc_message_limit(served, store, pki, keys, make_envelope):
    _, port = served
    ids = []
    for i in range(4):
        payload, env = make_envelope("dr-a", findings=f"{i}" * 900_000)
        store.put(env)
        ids.append(payload.report_id)
    cert, key = pki.clients["dr-a"]
    with raw_channel(pki, port, cert, key) as channel:
        first = pb_grpc.ReportDeliveryStub(channel).ListReports(pb.ListReportsRequest(page_size=10), timeout=10)
    assert 1 <= len(first.reports) < 4 and first.next_page_token
    assert first.ByteSize() < 4 * 1024 * 1024
    with client(pki, keys, "dr-a", port) as dr_a:
        assert [s.report_id for s in dr_a.list()] == ids
        assert dr_a.get(ids[3]).findings == "3" * 900_000


def test_health_watch_streams_are_capped_and_never_starve_delivery(served, pki, keys):
    _, port = served  # max_workers=6, max_watchers=2, max_health_watchers=2 (default)
    cert, key = pki.clients["dr-b"]
    with raw_channel(pki, port, cert, key) as channel:
        health = health_pb2_grpc.HealthStub(channel)
        streams = [health.Watch(health_pb2.HealthCheckRequest(service="")) for _ in range(8)]
        outcomes: list[str] = []
        for stream in streams:
            try:
                next(stream)
                outcomes.append("watching")
            except grpc.RpcError as exc:
                outcomes.append(exc.code().name)
        assert sorted(outcomes) == ["RESOURCE_EXHAUSTED"] * 6 + ["watching"] * 2
        with client(pki, keys, "dr-a", port, timeout=2.0) as dr_a:
            started = time.monotonic()
            assert dr_a.list() == []  # unary calls still get a worker at once
            assert time.monotonic() - started < 2.0
            with pytest.raises(RemoteError) as info:  # the two slots are taken by health watches
                next(dr_a.watch(include_unacked=False))
            assert info.value.code == "RESOURCE_EXHAUSTED"
        for stream in streams:
            stream.cancel()
        time.sleep(0.5)
        again = [health.Watch(health_pb2.HealthCheckRequest(service="")) for _ in range(2)]
        assert [next(s).status for s in again] == [health_pb2.HealthCheckResponse.NOT_SERVING] * 2
        for stream in again:
            stream.cancel()
