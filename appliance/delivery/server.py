"""The ReportDelivery gRPC server: mutual TLS 1.3, one clinician per client certificate.

Contract
--------
* `create_server(address, store, tls, max_workers=...) -> (server, port)` binds
  (port 0 picks a free port) but does not serve; ``server.start()`` serves and
  then proves that TLS 1.2 is refused (see `tlspolicy`), ``server.stop(grace)``
  stops. The returned `DeliveryServer` is a `grpc.Server` plus `set_serving`
  and `port`; it refuses extra ports so nothing bypasses mutual TLS.
* Client certificates are required and verified against the site CA
  (``TLSFiles.ca_file``). The caller is the clinician named by
  the certificate's one SAN URI ``urn:securemed:clinician:<id>``
  (`appliance.delivery.pki.clinician_uri`); the CN is ignored. A certificate
  without exactly one such URI, or whose extended key usage excludes
  clientAuth, gets UNAUTHENTICATED.
* A clinician only ever lists, gets, acks or watches envelopes whose
  recipient is that clinician; anybody else's report id is NOT_FOUND, like an
  unknown one, so report ids do not leak.
* Health: the standard ``grpc.health.v1.Health`` service reports NOT_SERVING
  for "" and ``securemed.v1.ReportDelivery`` until `set_serving(True)` (the
  appliance calls it once the model is loaded). It sits behind the same
  mutual TLS: health checkers need a client certificate from the site CA
  (any, clinician URI not required). Health Watch streams hold a worker thread
  each, so they are capped (`max_health_watchers`) and share the stream slots
  with WatchReports: streams of any kind never take the last two workers, so
  unary calls (ListReports, GetReport, AckReport, Check) are always served.
* Errors are translated to status codes here only: `ReportNotFound` ->
  NOT_FOUND, a bad page token -> INVALID_ARGUMENT, too many concurrent
  watches -> RESOURCE_EXHAUSTED, `StoreError` -> UNAVAILABLE.
* Logs carry clinician ids, report ids and peer addresses; the server never
  sees report plaintext.
"""

from __future__ import annotations

import base64
import binascii
import logging
import threading
from collections.abc import Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID
from grpc_health.v1 import health, health_pb2, health_pb2_grpc

# (appliance/delivery/__init__.py has already applied tlspolicy before grpc was imported.)
from common.tls import TLSFiles

from . import tlspolicy
from .codec import envelope_to_proto
from .errors import ReportNotFound, ServerSetupError, StoreError, TLSPolicyError
from .pb import reports_pb2 as pb
from .pb import reports_pb2_grpc as pb_grpc
from .pki import clinician_ids_from_certificate
from .store import EnvelopeStore

SERVICE_NAME = pb.DESCRIPTOR.services_by_name["ReportDelivery"].full_name
DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 500
# Keeps a ListReports answer under gRPC's default 4 MiB receive limit.
MAX_PAGE_BYTES = 3 * 1024 * 1024
MAX_REQUEST_BYTES = 16 * 1024  # larger requests are refused with RESOURCE_EXHAUSTED before any handler

_log = logging.getLogger(__name__)


def _read(path: Path, what: str) -> bytes:
    try:
        data = Path(path).read_bytes()
    except OSError as exc:
        raise ServerSetupError(f"cannot read {what} {path}: {exc.strerror}") from exc
    if b"-----BEGIN" not in data:
        raise ServerSetupError(f"{what} {path} is not PEM")
    return data


def server_credentials(tls: TLSFiles) -> grpc.ServerCredentials:
    """Mutual-TLS credentials: client certificates required and verified against the site CA."""
    return grpc.ssl_server_credentials(
        [(_read(tls.key_file, "server key"), _read(tls.cert_file, "server certificate"))],
        root_certificates=_read(tls.ca_file, "client CA certificate"),
        require_client_auth=True,
    )


def clinician_from_context(context: grpc.ServicerContext) -> str | None:
    """The clinician id of the verified client certificate of this call, or None."""
    pems = context.auth_context().get("x509_pem_cert") or []
    if len(pems) != 1:
        return None
    try:
        cert = x509.load_pem_x509_certificate(pems[0])
    except ValueError:
        return None
    try:
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        if ExtendedKeyUsageOID.CLIENT_AUTH not in eku:
            return None
    except x509.ExtensionNotFound:
        pass
    ids = clinician_ids_from_certificate(cert)
    return ids[0] if len(ids) == 1 else None


def _encode_token(report_id: str) -> str:
    return base64.urlsafe_b64encode(report_id.encode("utf-8")).decode("ascii").rstrip("=")


def _decode_token(token: str) -> str | None:
    try:
        return base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)).decode("utf-8")
    except (binascii.Error, ValueError):
        return None


class BoundedHealthServicer(health.HealthServicer):
    """The standard health service whose (blocking) Watch streams are capped: at most
    `max_watchers` at once, each also taking one of the shared stream `slots`; beyond either,
    RESOURCE_EXHAUSTED. Check is unchanged."""

    def __init__(self, slots: threading.BoundedSemaphore, max_watchers: int) -> None:
        super().__init__(experimental_non_blocking=False)
        self._slots = slots
        self._own = threading.BoundedSemaphore(max_watchers)

    def Watch(
        self, request: health_pb2.HealthCheckRequest, context: grpc.ServicerContext, send_response_callback: Any = None
    ) -> Iterator[health_pb2.HealthCheckResponse]:
        if not self._own.acquire(blocking=False):
            _log.warning("refused health watch from %s: too many health watches", context.peer())
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many concurrent health watches")
        if not self._slots.acquire(blocking=False):
            self._own.release()
            _log.warning("refused health watch from %s: no stream slot", context.peer())
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many concurrent streams")
        try:
            watcher = super().Watch(request, context)
            yield from watcher
        finally:
            self._slots.release()
            self._own.release()


class ReportDeliveryServicer(pb_grpc.ReportDeliveryServicer):
    """The securemed.v1.ReportDelivery RPCs over an `EnvelopeStore`. `watch_slots` is the stream
    slot pool shared with the health service's Watch."""

    def __init__(
        self,
        store: EnvelopeStore,
        *,
        watch_slots: threading.BoundedSemaphore,
        stopping: threading.Event,
        watch_wait: float = 1.0,
        max_watchers_per_clinician: int = 2,
    ) -> None:
        self._store = store
        self._watch_slots = watch_slots
        # Per clinician too, so that one clinician's streams never take every slot from the others.
        self._per_clinician = max_watchers_per_clinician
        self._watching: dict[str, int] = {}
        self._watching_lock = threading.Lock()
        self._stopping = stopping
        self._watch_wait = watch_wait

    def _caller(self, context: grpc.ServicerContext) -> str:
        clinician = clinician_from_context(context)
        if clinician is None:
            _log.warning("rejected call from %s: no clinician identity in certificate", context.peer())
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "client certificate names no clinician")
        assert clinician is not None  # abort() raised
        return clinician

    def _not_found(self, context: grpc.ServicerContext) -> None:
        context.abort(grpc.StatusCode.NOT_FOUND, "report not found")

    def _unavailable(self, context: grpc.ServicerContext, exc: StoreError) -> None:
        _log.error("envelope store error: %s", exc)
        context.abort(grpc.StatusCode.UNAVAILABLE, "report store unavailable")

    def ListReports(self, request: pb.ListReportsRequest, context: grpc.ServicerContext) -> pb.ListReportsResponse:
        clinician = self._caller(context)
        page_size = min(request.page_size or DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
        after = 0
        try:
            if request.page_token:
                report_id = _decode_token(request.page_token)
                try:
                    after = self._store.get(clinician, report_id).sequence if report_id else -1
                except ReportNotFound:
                    after = -1
                if after < 0:
                    context.abort(grpc.StatusCode.INVALID_ARGUMENT, "invalid page token")
            rows = self._store.list_for(clinician, request.include_acked, after_sequence=after, limit=page_size + 1)
        except StoreError as exc:
            self._unavailable(context, exc)
        entries: list[pb.ReportEntry] = []
        size = 0
        for row in rows[:page_size]:
            entry = pb.ReportEntry(
                envelope=envelope_to_proto(row.envelope), acked=row.acked, acked_at=row.acked_at or ""
            )
            size += entry.ByteSize()
            if entries and size > MAX_PAGE_BYTES:
                break
            entries.append(entry)
        more = len(entries) < len(rows)
        next_token = _encode_token(entries[-1].envelope.report_id) if more else ""
        _log.info("listed %d report(s) for %s", len(entries), clinician)
        return pb.ListReportsResponse(reports=entries, next_page_token=next_token)

    def GetReport(self, request: pb.GetReportRequest, context: grpc.ServicerContext) -> pb.Envelope:
        clinician = self._caller(context)
        try:
            stored = self._store.get(clinician, request.report_id)
        except ReportNotFound:
            _log.info("%s asked for unknown or foreign report", clinician)
            self._not_found(context)
        except StoreError as exc:
            self._unavailable(context, exc)
        _log.info("delivered report %s to %s", request.report_id, clinician)
        return envelope_to_proto(stored.envelope)

    def AckReport(self, request: pb.AckReportRequest, context: grpc.ServicerContext) -> pb.AckReportResponse:
        clinician = self._caller(context)
        try:
            stored = self._store.ack(clinician, request.report_id)
        except ReportNotFound:
            _log.info("%s tried to acknowledge unknown or foreign report", clinician)
            self._not_found(context)
        except StoreError as exc:
            self._unavailable(context, exc)
        _log.info("%s acknowledged report %s", clinician, request.report_id)
        return pb.AckReportResponse(report_id=request.report_id, acked_at=stored.acked_at or "")

    def WatchReports(self, request: pb.WatchReportsRequest, context: grpc.ServicerContext) -> Iterator[pb.Envelope]:
        clinician = self._caller(context)
        with self._watching_lock:
            mine = self._watching.get(clinician, 0)
            if mine < self._per_clinician:
                self._watching[clinician] = mine + 1
        if mine >= self._per_clinician:
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many concurrent watches for this clinician")
        if not self._watch_slots.acquire(blocking=False):
            self._unwatch(clinician)
            context.abort(grpc.StatusCode.RESOURCE_EXHAUSTED, "too many concurrent watches")
        try:
            context.add_callback(self._store.wake_waiters)  # end promptly on cancel
            try:
                cursor = 0 if request.include_unacked else self._store.latest_sequence()
                _log.info("%s started watching", clinician)
                while context.is_active() and not self._stopping.is_set():
                    high = self._store.latest_sequence()
                    if high > cursor:
                        # Rows above `high` (committed since) come in the next round: no gaps, no repeats.
                        for item in self._store.list_for(clinician, False, after_sequence=cursor):
                            if item.sequence > high:
                                break
                            _log.info("streamed report %s to %s", item.envelope.report_id, clinician)
                            yield envelope_to_proto(item.envelope)
                        cursor = high
                    self._store.wait_for_new(cursor, self._watch_wait)
            except StoreError as exc:
                self._unavailable(context, exc)
        finally:
            self._watch_slots.release()
            self._unwatch(clinician)
            _log.info("%s stopped watching", clinician)

    def _unwatch(self, clinician: str) -> None:
        with self._watching_lock:
            left = self._watching.pop(clinician) - 1
            if left:
                self._watching[clinician] = left


class DeliveryServer(grpc.Server):
    """A `grpc.Server` serving ReportDelivery and Health on one mutual-TLS port."""

    def __init__(
        self,
        server: grpc.Server,
        port: int,
        probe_host: str,
        require_handshake_refusal: bool,
        store: EnvelopeStore,
        health_servicer: health.HealthServicer,
        stopping: threading.Event,
    ) -> None:
        self._server = server
        self._port = port
        self._probe_host = probe_host
        self._require_handshake_refusal = require_handshake_refusal
        self._store = store
        self._health = health_servicer
        self._stopping = stopping

    @property
    def port(self) -> int:
        return self._port

    def set_serving(self, serving: bool) -> None:
        """Report SERVING (model loaded) or NOT_SERVING on the health service."""
        status = health_pb2.HealthCheckResponse.SERVING if serving else health_pb2.HealthCheckResponse.NOT_SERVING
        for name in ("", SERVICE_NAME):
            self._health.set(name, status)
        _log.info("health: %s", "SERVING" if serving else "NOT_SERVING")

    def start(self) -> None:
        """Serve, then check that TLS 1.2 is refused at the handshake (see `tlspolicy`)."""
        self._server.start()
        try:
            accepted = tlspolicy.tls12_accepted(self._probe_host, self._port)
        except OSError as exc:
            self._server.stop(None)
            raise TLSPolicyError(f"TLS policy probe of port {self._port} failed: {exc}") from exc
        if accepted:
            if self._require_handshake_refusal:
                self._server.stop(None)
                raise TLSPolicyError(
                    "the delivery server accepted a TLS 1.2 handshake; import appliance.delivery "
                    f"before grpc or set {tlspolicy.GRPC_CIPHER_SUITES_ENV}="
                    f"{tlspolicy.TLS12_UNUSABLE_CIPHER_SUITES} in the service environment"
                )
            _log.warning("TLS 1.2 handshakes are accepted; RPCs over them are still refused")
        _log.info("report delivery serving on port %d", self._port)

    def stop(self, grace: float | None) -> threading.Event:
        """Stop: health NOT_SERVING, end watches, finish in-flight RPCs within `grace` seconds."""
        self._health.enter_graceful_shutdown()
        self._stopping.set()
        self._store.wake_waiters()
        return self._server.stop(grace)

    def wait_for_termination(self, timeout: float | None = None) -> bool:
        return self._server.wait_for_termination(timeout)

    def add_generic_rpc_handlers(self, generic_rpc_handlers: Any) -> None:
        self._server.add_generic_rpc_handlers(generic_rpc_handlers)

    def add_registered_method_handlers(self, service_name: str, method_handlers: Any) -> None:
        self._server.add_registered_method_handlers(service_name, method_handlers)

    def add_insecure_port(self, address: str) -> int:
        raise TLSPolicyError("the delivery server only listens on its mutual-TLS port")

    def add_secure_port(self, address: str, server_credentials: grpc.ServerCredentials) -> int:
        raise TLSPolicyError("the delivery server only listens on its mutual-TLS port")


def _probe_host(address: str) -> str:
    host = address.rsplit(":", 1)[0].strip("[]")
    if host in ("", "0.0.0.0", "*"):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def create_server(
    address: str,
    store: EnvelopeStore,
    tls: TLSFiles,
    *,
    require_handshake_refusal: bool = True,
    max_workers: int = 8,
    max_watchers: int | None = None,
    max_watchers_per_clinician: int = 2,
    max_health_watchers: int = 2,
    watch_wait: float = 1.0,
) -> tuple[DeliveryServer, int]:
    """Bind the delivery server on `address` (``host:port``; port 0 = any free port).

    Returns the not yet started server and the bound port. `tls.ca_file` is the CA that client
    certificates must chain to (a client certificate is always required). With
    `require_handshake_refusal` (the default), `start()` fails if a TLS 1.2 handshake is accepted;
    False keeps serving with only the per-RPC TLS 1.3 check (for processes that cannot control when
    grpc is imported). `max_watchers`
    (default ``max_workers - 2``, at least 1) caps concurrent WatchReports
    streams so unary RPCs keep worker threads; `max_watchers_per_clinician` caps each clinician's
    share of them, so one clinician's streams never refuse another's; health Watch streams take
    the same slots, at most `max_health_watchers` of them. Raises `ServerSetupError` if
    the TLS files are unusable or the address cannot be bound.
    """
    if max_workers < 2:
        raise ValueError("max_workers must be at least 2")
    watchers = max_watchers if max_watchers is not None else max(1, max_workers - 2)
    if watchers > max_workers - 2 and max_workers > 2:
        raise ValueError("max_watchers must leave two workers for unary calls")
    slots = threading.BoundedSemaphore(watchers)
    creds = server_credentials(tls)
    stopping = threading.Event()
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="delivery"),
        interceptors=[tlspolicy.RequireTLS13Interceptor()],
        options=[
            ("grpc.so_reuseport", 0),
            # Requests carry ids and page tokens only; answers at most one page of envelopes.
            ("grpc.max_receive_message_length", MAX_REQUEST_BYTES),
            ("grpc.max_send_message_length", MAX_PAGE_BYTES + 64 * 1024),
            # Keep-alive enforcement: a client pinging more often than this is sent GOAWAY, and a
            # connection idle (no RPC) this long is closed, so vanished clients do not hold sockets.
            ("grpc.http2.min_ping_interval_without_data_ms", 60_000),
            ("grpc.keepalive_permit_without_calls", 0),
            ("grpc.max_connection_idle_ms", 15 * 60_000),
        ],
    )
    pb_grpc.add_ReportDeliveryServicer_to_server(
        ReportDeliveryServicer(
            store,
            watch_slots=slots,
            stopping=stopping,
            watch_wait=watch_wait,
            max_watchers_per_clinician=max_watchers_per_clinician,
        ),
        server,
    )
    # Blocking Watch: the TLS interceptor wraps handlers, which drops the
    # non-blocking marker anyway; health Watch streams use a worker each, hence the cap.
    health_servicer = BoundedHealthServicer(slots, max_health_watchers)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    try:
        port = server.add_secure_port(address, creds)
    except RuntimeError as exc:
        raise ServerSetupError(f"cannot bind {address} with the given TLS material: {exc}") from exc
    delivery = DeliveryServer(
        server, port, _probe_host(address), require_handshake_refusal, store, health_servicer, stopping
    )
    delivery.set_serving(False)
    return delivery, port
