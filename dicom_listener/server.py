"""The association server: create_server() binds and starts it, ListenerServer.shutdown() stops it.

Association policy (decided at A-ASSOCIATE, before any data flows):
    * called AE title != settings.ae_title        -> A-ASSOCIATE-RJ permanent / service-user /
                                                     called-AE-title-not-recognised (1, 1, 7)
    * calling AE title not in allowed_calling_aets -> permanent / service-user /
                                                     calling-AE-title-not-recognised (1, 1, 3)
      An empty allow-list rejects every caller the same way.
    * more than max_associations at once          -> transient / service-provider (presentation)
                                                     / local-limit-exceeded (2, 3, 2)
    * spool volume below min_free_bytes, or the    -> transient / service-provider (presentation)
      admission hook returns a reason                / temporary-congestion (2, 3, 1)
      (these three are decided first, at EVT_REQUESTED, then the AE titles)
    * with TLS, a client without a certificate signed by ca_file never gets that far: the TLS
      handshake fails and the connection is closed.

Before any of that, a TCP connection beyond max_connections (associated or not) is closed at once
on the accepting thread: no thread, no AE check. Every accepted connection gets the guards of
guard.py (PDU deadline and length bound, DIMSE message deadline, data set size bound); one that
sends no A-ASSOCIATE-RQ is dropped by pynetdicom's ARTIM timer (acse_timeout_s). Every refusal
is counted (ListenerServer.counters; reasons in limits.py).

The TLS handshake runs in the connection's own thread with network_timeout_s as its deadline.
pynetdicom's stock server performs it inside accept(), on the thread that accepts every
connection, so one silent client could stall the whole listener; this subclass defers it.
"""

from __future__ import annotations

import logging
import socket
import socketserver
import ssl
import threading
import time
from typing import Any

from pydicom.uid import UID
from pynetdicom import AE, evt
from pynetdicom.dsutils import create_file_meta
from pynetdicom.pdu_primitives import A_ASSOCIATE
from pynetdicom.transport import RequestHandler, ThreadedAssociationServer

from common.aetitle import AE_TITLE_MAX_LEN
from common.tls import TLSFiles
from dicom_listener.contexts import supported_contexts
from dicom_listener.errors import ListenerConfigError, ListenerError
from dicom_listener.guard import GuardLimits, SinkFactory, install
from dicom_listener.handlers import StorePolicy, handle_echo, handle_store
from dicom_listener.limits import Admission, Counters, ask, disk_problem
from dicom_listener.settings import ListenerSettings
from dicom_listener.spool import ReceivingFile, Spool, instance_header

LOGGER = logging.getLogger("securemed.dicom_listener")

# Longer than any AE title that fits in an A-ASSOCIATE-RQ (16 bytes), so no peer can match it:
# pynetdicom treats an empty require_calling_aet as "accept anyone", we need "accept no one".
_NO_CALLER_MATCHES = "#" * (AE_TITLE_MAX_LEN + 1)


class _ListenerAE(AE):
    """An AE whose calling-AE allow-list is fixed at construction and may be closed (empty)."""

    def __init__(self, ae_title: str, allowed_calling_aets: frozenset[str]) -> None:
        super().__init__(ae_title=ae_title)
        self._allowed_calling = sorted(allowed_calling_aets) or [_NO_CALLER_MATCHES]

    @property
    def require_calling_aet(self) -> list[str]:
        return list(self._allowed_calling)

    @require_calling_aet.setter
    def require_calling_aet(self, ae_titles: list[str]) -> None:
        raise AttributeError("the calling AE allow-list comes from ListenerSettings")


class _GuardedRequestHandler(RequestHandler):
    """pynetdicom's request handler, with guard.py installed on each new Association."""

    server: _ListenerAssociationServer

    def _create_association(self) -> Any:
        assoc = super()._create_association()
        install(assoc, self.server.guard_limits, self.server.counters, self.server.open_sink)
        return assoc


class _ListenerAssociationServer(ThreadedAssociationServer):
    """ThreadedAssociationServer with the TLS handshake moved off the accepting thread, a cap on
    open connections, and association admission (limits, disk, hook)."""

    handshake_timeout: float = 30.0
    closing: bool = False
    # socketserver's default listen backlog of 5 drops SYNs in a burst of legitimate senders.
    request_queue_size = 128
    connection_limit: int = 20
    association_limit: int = 10
    min_free_bytes: int = 0
    spool_root: Any = None
    admission: Admission | None = None
    guard_limits: GuardLimits = GuardLimits(60.0, 60.0, 131072, 512 * 1024 * 1024)
    open_sink: SinkFactory | None = None

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.counters = Counters()
        self._connections_lock = threading.Lock()
        self._connecting = 0  # accepted, no Association thread started yet
        self._admitted: set[Any] = set()
        kwargs["request_handler"] = _GuardedRequestHandler
        super().__init__(*args, **kwargs)

    def verify_request(self, request: Any, client_address: Any) -> bool:
        """Runs on the accepting thread: beyond connection_limit, close the socket at once."""
        with self._connections_lock:
            if len(self.active_associations) + self._connecting >= self.connection_limit:
                self.counters.add("connection_limit")
                refused = self.counters.snapshot()["connection_limit"]
                if refused & (refused - 1) == 0:  # 1, 2, 4, 8...: a flood must not flood the log
                    LOGGER.warning(
                        "connection from %s closed: %d connections open (%d refused so far)",
                        _host(client_address),
                        self.connection_limit,
                        refused,
                    )
                return False
            self._connecting += 1
        return True

    def admit(self, assoc: Any) -> tuple[str, int] | None:
        """(reason, A-ASSOCIATE-RJ diagnostic) when `assoc` must be refused now, else None."""
        with self._connections_lock:
            self._admitted = {a for a in self._admitted if a.is_alive() and not (a.is_released or a.is_aborted)}
            if len(self._admitted) >= self.association_limit:
                self.counters.add("association_limit")
                return f"{self.association_limit} associations active", 0x02
            low = disk_problem(self.spool_root, self.min_free_bytes) if self.spool_root is not None else None
            if low is not None:
                self.counters.add("disk_low")
                return low, 0x01
            busy = ask(self.admission, self.counters)
            if busy is not None:
                return f"not admitted: {busy}", 0x01
            self._admitted.add(assoc)
        return None

    # Connection threads only handshake and hand over to an Association thread; do not make
    # shutdown wait for a slow handshake (closing stops it from becoming an association).
    daemon_threads = True
    block_on_close = False

    def get_request(self) -> tuple[socket.socket, Any]:
        assert self.socket is not None
        client, address = self.socket.accept()
        context = self.ssl_context
        if context is not None:
            client = context.wrap_socket(client, server_side=True, do_handshake_on_connect=False)
        return client, address

    def process_request_thread(self, request: Any, client_address: Any) -> None:
        try:
            if isinstance(request, ssl.SSLSocket):
                try:
                    request.settimeout(self.handshake_timeout)
                    request.do_handshake()
                    request.settimeout(None)
                except (OSError, ValueError) as exc:
                    LOGGER.warning(
                        "TLS handshake with %s failed: %s",
                        _host(client_address),
                        getattr(exc, "reason", None) or exc.__class__.__name__,
                    )
                    self.shutdown_request(request)
                    return
            if self.closing:
                self.shutdown_request(request)
                return
            super().process_request_thread(request, client_address)
        finally:
            with self._connections_lock:
                self._connecting -= 1

    def shutdown(self) -> None:
        """Stop accepting and close the listening socket (no AE bookkeeping: we own the thread)."""
        self.closing = True
        socketserver.BaseServer.shutdown(self)
        self.server_close()


def _host(address: Any) -> str:
    return str(address[0]) if isinstance(address, tuple) and address else "?"


def receiving_files(spool: Spool) -> SinkFactory:
    """The guard's SinkFactory on `spool`: a ReceivingFile whose header is exactly the one
    Spool.store would write for that instance (the File Meta pynetdicom's event.file_meta
    builds from the request, through instance_header), or None when it cannot be encoded."""

    def open_sink(sop_class: str, sop_instance: str, transfer_syntax: str, calling_aet: str) -> ReceivingFile | None:
        try:
            meta = create_file_meta(
                sop_class_uid=UID(sop_class), sop_instance_uid=UID(sop_instance), transfer_syntax=UID(transfer_syntax)
            )
            header = instance_header(meta, sop_class, sop_instance, calling_aet)
        except Exception:  # the handler's own path (in memory) then reports whatever is wrong
            return None
        return spool.open_receiving(header)

    return open_sink


def build_ssl_context(tls: TLSFiles) -> ssl.SSLContext:
    """Server context: TLS 1.2+, our certificate, client certificates verified against ca_file.

    Raises ListenerConfigError when a file is missing or the key does not match the certificate.
    """
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(tls.cert_file, tls.key_file)
        context.load_verify_locations(cafile=tls.ca_file)
    except (OSError, ssl.SSLError) as exc:
        raise ListenerConfigError("tls", f"TLS files cannot be loaded: {exc.__class__.__name__}: {exc}") from exc
    context.verify_mode = ssl.CERT_REQUIRED if tls.require_client_cert else ssl.CERT_OPTIONAL
    return context


def _admit(event: Any, server: _ListenerAssociationServer) -> None:
    """EVT_REQUESTED: reject (transient) over the association limit, on low disk, or when the
    admission hook refuses, before pynetdicom negotiates (as its own limit check does)."""
    assoc = event.assoc
    refusal = server.admit(assoc)
    if refusal is None:
        return
    reason, diagnostic = refusal
    LOGGER.warning(
        "association from %s at %s rejected (transient): %s",
        str(assoc.requestor.ae_title).strip(),
        assoc.requestor.address,
        reason,
    )
    assoc.acse.send_reject(0x02, 0x03, diagnostic)
    assoc.kill()


def _log_established(event: Any) -> None:
    requestor = event.assoc.requestor
    LOGGER.info("association from %s at %s established", str(requestor.ae_title).strip(), requestor.address)


def _log_rejection(event: Any) -> None:
    primitive = event.primitive
    if isinstance(primitive, A_ASSOCIATE) and primitive.result in (0x01, 0x02):
        requestor = event.assoc.requestor
        LOGGER.warning(
            "association from %s at %s rejected: %s",
            str(requestor.ae_title).strip(),
            requestor.address,
            primitive.reason_str,
        )


def _log_aborted(event: Any) -> None:
    LOGGER.info("association from %s aborted", str(event.assoc.requestor.ae_title).strip())


class ListenerServer:
    """A running listener. Stop it with shutdown(grace_s); usable as a context manager."""

    def __init__(
        self,
        settings: ListenerSettings,
        server: _ListenerAssociationServer,
        thread: threading.Thread,
        spool: Spool,
        owns_spool: bool,
    ) -> None:
        self.settings = settings
        self.spool = spool
        self._server = server
        self._thread = thread
        self._owns_spool = owns_spool
        self._stop_lock = threading.Lock()
        self._stopped = False

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    @property
    def port(self) -> int:
        return self.address[1]

    @property
    def active_associations(self) -> int:
        return len(self._server.active_associations)

    @property
    def counters(self) -> dict[str, int]:
        """Refusals and drops so far, by reason (see dicom_listener.limits), sorted; a copy."""
        return self._server.counters.snapshot()

    def shutdown(self, grace_s: float = 10.0) -> None:
        """Stop accepting now, let running associations finish for up to grace_s, abort the rest.

        An association aborted mid C-STORE never gets that instance acknowledged, so the sender
        retries it. Closes the spool if create_server opened it. Idempotent.
        """
        with self._stop_lock:
            if self._stopped:
                return
            self._stopped = True
        self._server.shutdown()
        self._thread.join(timeout=5.0)
        deadline = time.monotonic() + max(0.0, grace_s)
        while self._server.active_associations and time.monotonic() < deadline:
            time.sleep(0.05)
        remaining = self._server.active_associations
        if remaining:
            LOGGER.warning("shutdown: aborting %d association(s) after the grace period", len(remaining))
        for assoc in remaining:
            if assoc.is_established:
                assoc.abort()
            else:
                # No A-ASSOCIATE yet (pynetdicom cannot abort in that state): end the connection.
                sock = getattr(assoc.dul.socket, "socket", None)
                if sock is not None:
                    self._server.shutdown_request(sock)
        for assoc in remaining:
            assoc.join(timeout=5.0)
        if self._owns_spool:
            self.spool.close()
        LOGGER.info("listener on port %d stopped", self.port)

    def __enter__(self) -> ListenerServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.shutdown()


def create_server(
    settings: ListenerSettings,
    address: tuple[str, int] = ("127.0.0.1", 0),
    *,
    spool: Spool | None = None,
    admission: Admission | None = None,
) -> tuple[ListenerServer, int]:
    """Bind `address`, start serving in a background thread, return (server, bound port).

    Uses `spool` if given (the caller keeps ownership), else opens settings.spool_dir (recovering
    it) and closes it on shutdown. `admission` (back-pressure): a cheap callable returning None to
    accept or a short fixed reason; while it returns a reason, new associations are rejected
    (transient, temporary congestion) and C-STORE answers 0xA700, counted as "admission:<reason>".
    Raises ListenerConfigError for bad TLS files, ListenerError when the address cannot be bound.
    """
    owns_spool = spool is None
    active_spool = spool if spool is not None else Spool(settings.spool_dir, settings.quiet_period_s)
    try:
        ae = _ListenerAE(settings.ae_title, settings.allowed_calling_aets)
        ae.require_called_aet = True
        ae.maximum_pdu_size = settings.max_pdu
        ae.acse_timeout = settings.acse_timeout_s
        ae.dimse_timeout = settings.dimse_timeout_s
        ae.network_timeout = settings.network_timeout_s
        # pynetdicom counts every acceptor thread (even one still waiting for its A-ASSOCIATE-RQ)
        # against this; the server enforces max_associations on established ones instead.
        ae.maximum_associations = settings.connection_limit
        ssl_context = build_ssl_context(settings.tls) if settings.tls is not None else None
        counters = Counters()
        policy = StorePolicy(
            counters=counters,
            max_inflated_bytes=settings.max_inflated_bytes,
            max_pixel_bytes=settings.max_pixel_bytes,
            min_free_bytes=settings.min_free_bytes,
            admission=admission,
        )
        handlers: list[Any] = [
            (evt.EVT_C_ECHO, handle_echo),
            (evt.EVT_C_STORE, handle_store, [active_spool, policy]),
            (evt.EVT_ESTABLISHED, _log_established),
            (evt.EVT_ACSE_SENT, _log_rejection),
            (evt.EVT_ABORTED, _log_aborted),
        ]
        try:
            server = ae.make_server(
                address,
                ae_title=settings.ae_title,
                contexts=supported_contexts(),
                ssl_context=ssl_context,
                evt_handlers=handlers,
                server_class=_ListenerAssociationServer,
            )
        except OSError as exc:
            raise ListenerError(f"cannot listen on {address[0]}:{address[1]}: {exc.strerror or exc}") from exc
        assert isinstance(server, _ListenerAssociationServer)
        server.handshake_timeout = settings.network_timeout_s
        server.connection_limit = settings.connection_limit
        server.association_limit = settings.max_associations
        server.min_free_bytes = settings.min_free_bytes
        server.spool_root = active_spool.root
        server.admission = admission
        server.guard_limits = GuardLimits(
            pdu_timeout_s=settings.network_timeout_s,
            message_timeout_s=settings.dimse_timeout_s,
            max_pdu=settings.max_pdu,
            max_dataset_bytes=settings.max_dataset_bytes,
        )
        server.counters = counters
        server.open_sink = receiving_files(active_spool)
        server.bind(evt.EVT_REQUESTED, _admit, [server])
        thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.1},
            name=f"dicom-listener-{settings.ae_title}",
            daemon=True,
        )
        thread.start()
    except BaseException:
        if owns_spool:
            active_spool.close()
        raise
    listener = ListenerServer(settings, server, thread, active_spool, owns_spool)
    LOGGER.info(
        "listening as %s on %s:%d (%s)",
        settings.ae_title,
        listener.address[0],
        listener.port,
        "TLS" if ssl_context else "plain TCP",
    )
    return listener, listener.port
