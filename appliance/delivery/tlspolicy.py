"""TLS 1.3 only for the delivery service, although grpcio's Python API cannot say so.

The problem
-----------
`grpc.ssl_server_credentials` has no minimum-version option: gRPC core
negotiates TLS 1.2 or 1.3 (grpc/grpc#37305; the core TLS-credentials setter
``grpc_tls_credentials_options_set_min_tls_version`` is not exposed to Python
server credentials). grpcio wheels link BoringSSL.

The mechanism (three layers)
----------------------------
1. Handshake (primary). gRPC core takes its TLS 1.2 cipher list from the
   environment variable ``GRPC_SSL_CIPHER_SUITES`` (passed to
   ``SSL_CTX_set_cipher_list``). In BoringSSL that list governs TLS <= 1.2
   only; TLS 1.3 suites are built in and not configurable. A list containing
   only TLS 1.3 names is rejected ("Invalid cipher list", the server cannot
   bind), so instead we set it to a TLS 1.2 suite that can never be
   negotiated: ``PSK-AES128-CBC-SHA``. BoringSSL enables PSK suites only when
   a PSK callback is installed, and gRPC installs none, so a TLS 1.2
   ClientHello finds no shared cipher and the server answers with a
   handshake_failure alert (``NO_SHARED_CIPHER``), before any certificate or
   HTTP/2 byte. TLS 1.3 is unaffected.
   gRPC reads its configuration once, when `grpc` is first imported, so this
   module sets the variable at import, before importing `grpc`, and
   `appliance.delivery` imports this module first. If `grpc` was imported
   earlier (and the variable was not already set to our value, e.g. by the
   systemd unit), the setting has no effect; `handshake_policy_effective()`
   reports that.
2. Start-up probe (fail closed). `DeliveryServer.start()` sends a real
   TLS 1.2-only ClientHello (`tls12_accepted`) to the bound port; if the
   server answers with a ServerHello, it stops the server and raises
   `TLSPolicyError`, unless the operator explicitly set
   ``create_server(..., require_handshake_refusal=False)``, in which case it logs
   and relies on layer 3.
3. Per RPC (defence in depth). `RequireTLS13Interceptor` wraps every handler,
   the health service's included; it reads the negotiated version from the
   call's auth context (property ``ssl_tls_version``, present in grpcio
   >= 1.85) and aborts with PERMISSION_DENIED unless it is ``TLSv1.3``. A
   missing property also aborts (fail closed).

Limits
------
* Layer 1 is process-wide: every gRPC client and server in the process loses
  TLS 1.2 (our own client uses TLS 1.3 anyway) and child processes inherit
  the variable. An operator-set ``GRPC_SSL_CIPHER_SUITES`` is overridden.
* It depends on BoringSSL's treatment of PSK suites and TLS 1.3; a grpcio
  built against OpenSSL or a future BoringSSL could behave differently. The
  probe (layer 2) and the tests with ``openssl s_client -tls1_2`` are what
  detect that.
* If BoringSSL ever drops the PSK suite, the cipher list becomes empty and
  the server fails to bind (closed, but with gRPC's generic bind error).
* Layer 3 refuses RPCs, not connections: without layer 1 a TLS 1.2 peer
  still completes the handshake and learns the server certificate.
"""

from __future__ import annotations

import logging
import os
import socket
import ssl
import sys
from collections.abc import Callable
from typing import Any

GRPC_CIPHER_SUITES_ENV = "GRPC_SSL_CIPHER_SUITES"
TLS12_UNUSABLE_CIPHER_SUITES = "PSK-AES128-CBC-SHA"
REQUIRED_TLS_VERSION = "TLSv1.3"
_AUTH_TLS_VERSION = "ssl_tls_version"

_log = logging.getLogger(__name__)


def _install_handshake_policy() -> bool:
    previous = os.environ.get(GRPC_CIPHER_SUITES_ENV)
    grpc_already_loaded = "grpc" in sys.modules
    os.environ[GRPC_CIPHER_SUITES_ENV] = TLS12_UNUSABLE_CIPHER_SUITES
    # gRPC core logs every refused handshake (our own TLS 1.2 probe at start-up among them) at INFO
    # on stderr, outside Python logging; operators see errors only unless they ask for more.
    os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
    if previous not in (None, TLS12_UNUSABLE_CIPHER_SUITES):
        _log.warning("overriding %s=%r to refuse TLS 1.2", GRPC_CIPHER_SUITES_ENV, previous)
    return not grpc_already_loaded or previous == TLS12_UNUSABLE_CIPHER_SUITES


# Must run before the `import grpc` below (gRPC core reads its config vars at import).
_HANDSHAKE_POLICY_EFFECTIVE = _install_handshake_policy()

import grpc  # noqa: E402


def handshake_policy_effective() -> bool:
    """Whether layer 1 is active in this process (grpc was imported after the variable was set)."""
    return _HANDSHAKE_POLICY_EFFECTIVE


def _recv_exactly(sock: socket.socket, size: int) -> bytes:
    data = b""
    while len(data) < size:
        try:
            chunk = sock.recv(size - len(data))
        except (TimeoutError, ConnectionResetError):
            break
        if not chunk:
            break
        data += chunk
    return data


def tls12_accepted(host: str, port: int, *, timeout: float = 5.0) -> bool:
    """True if the server at (host, port) answers a TLS 1.2-only ClientHello with a ServerHello.

    The probe offers every TLS 1.2 suite OpenSSL allows, with ALPN h2, and
    looks only at the first record of the answer: a Handshake record whose
    first message is ServerHello means TLS 1.2 was accepted; an alert or a
    closed connection means it was refused. It needs no client certificate
    because the cipher/version decision precedes client authentication.
    """
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # we never get as far as trusting anything
    ctx.minimum_version = ssl.TLSVersion.TLSv1_2
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    ctx.set_ciphers("ALL:@SECLEVEL=0")
    ctx.set_alpn_protocols(["h2"])
    incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
    tls = ctx.wrap_bio(incoming, outgoing, server_hostname=None)
    try:
        tls.do_handshake()
    except ssl.SSLWantReadError:
        pass
    client_hello = outgoing.read()
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(client_hello)
        # TLS record header (type, version, length) + first handshake message type.
        head = _recv_exactly(sock, 6)
    return len(head) == 6 and head[0] == 0x16 and head[5] == 0x02


def negotiated_tls_version(context: grpc.ServicerContext) -> str | None:
    """The TLS version of the call's connection (e.g. ``TLSv1.3``), or None if unknown."""
    values = context.auth_context().get(_AUTH_TLS_VERSION) or []
    return values[0].decode("ascii", "replace") if values else None


def _check(context: grpc.ServicerContext, method: str) -> None:
    version = negotiated_tls_version(context)
    if version != REQUIRED_TLS_VERSION:
        _log.warning("refused %s over %s", method, version or "unknown TLS version")
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "TLS 1.3 is required")


def _guard(handler: grpc.RpcMethodHandler, method: str) -> grpc.RpcMethodHandler:
    ser, deser = handler.response_serializer, handler.request_deserializer

    def unary_unary(inner: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            _check(context, method)
            return inner(request, context)

        return call

    def streaming_response(inner: Callable[..., Any]) -> Callable[..., Any]:
        def call(request: Any, context: grpc.ServicerContext) -> Any:
            _check(context, method)
            yield from inner(request, context)

        return call

    if handler.unary_unary is not None:
        return grpc.unary_unary_rpc_method_handler(unary_unary(handler.unary_unary), deser, ser)
    if handler.unary_stream is not None:
        return grpc.unary_stream_rpc_method_handler(streaming_response(handler.unary_stream), deser, ser)
    if handler.stream_unary is not None:
        return grpc.stream_unary_rpc_method_handler(unary_unary(handler.stream_unary), deser, ser)
    return grpc.stream_stream_rpc_method_handler(streaming_response(handler.stream_stream), deser, ser)


class RequireTLS13Interceptor(grpc.ServerInterceptor):
    """Aborts every RPC not carried over TLS 1.3 with PERMISSION_DENIED (layer 3)."""

    def intercept_service(self, continuation: Callable[..., Any], handler_call_details: grpc.HandlerCallDetails) -> Any:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        return _guard(handler, handler_call_details.method)
