"""TLS 1.3 only, tested with real peers: openssl s_client, curl over HTTP/2, a Python TLS 1.2 server."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest

from appliance.delivery import tlspolicy
from appliance.delivery.server import create_server
from common.tls import TLSFiles

ROOT = Path(__file__).resolve().parents[3]
OPENSSL = shutil.which("openssl")
CURL = shutil.which("curl")


@pytest.fixture
def served(pki, store):
    server, port = create_server("127.0.0.1:0", store, TLSFiles(pki.server_cert, pki.server_key, pki.ca_cert))
    server.start()
    yield server, port
    server.stop(0).wait(5)


def s_client(pki, port: int, version_flag: str) -> tuple[int, str]:
    cert, key = pki.clients["dr-a"]
    result = subprocess.run(
        [
            OPENSSL,
            "s_client",
            "-connect",
            f"127.0.0.1:{port}",
            version_flag,
            "-cert",
            str(cert),
            "-key",
            str(key),
            "-CAfile",
            str(pki.ca_cert),
            "-alpn",
            "h2",
            "-verify_return_error",
        ],
        input=b"",
        capture_output=True,
        timeout=20,
    )
    return result.returncode, result.stdout.decode(errors="replace") + result.stderr.decode(errors="replace")


def test_handshake_policy_is_active_in_this_process():
    assert tlspolicy.handshake_policy_effective()


@pytest.mark.skipif(OPENSSL is None, reason="openssl binary not installed")
def test_openssl_tls12_refused_tls13_accepted(served, pki):
    _, port = served
    rc12, out12 = s_client(pki, port, "-tls1_2")
    assert rc12 != 0, out12
    assert "Cipher is (NONE)" in out12 and "TLSv1.2, Cipher is" not in out12
    rc13, out13 = s_client(pki, port, "-tls1_3")
    assert rc13 == 0, out13
    assert "New, TLSv1.3, Cipher is TLS_" in out13
    assert "Verify return code: 0 (ok)" in out13


def test_probe_reports_refusal_for_our_server(served):
    _, port = served
    assert tlspolicy.tls12_accepted("127.0.0.1", port) is False


def test_probe_detects_a_server_that_accepts_tls12(pki):
    """Without this, a probe that always says 'refused' would pass the test above."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(pki.server_cert, pki.server_key)
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def serve_one():
        conn, _ = listener.accept()
        try:
            with ctx.wrap_socket(conn, server_side=True) as tls:
                tls.recv(1)
        except (ssl.SSLError, OSError):
            pass

    thread = threading.Thread(target=serve_one, daemon=True)
    thread.start()
    try:
        assert tlspolicy.tls12_accepted("127.0.0.1", port) is True
    finally:
        listener.close()
        thread.join(5)


# A process that imports grpc before appliance.delivery: layer 1 cannot apply.
_GRPC_FIRST = textwrap.dedent("""
    import grpc  # deliberately first
    import sys
    from pathlib import Path
    from appliance.delivery import tlspolicy
    from appliance.delivery.errors import TLSPolicyError
    from appliance.delivery.server import create_server
    from common.tls import TLSFiles
    from appliance.delivery.store import EnvelopeStore
    ca, cert, key, db = map(Path, sys.argv[1:5])
    store = EnvelopeStore(db)
    print("effective", tlspolicy.handshake_policy_effective(), flush=True)
    strict, _ = create_server("127.0.0.1:0", store, TLSFiles(cert, key, ca))
    try:
        strict.start()
        print("strict started", flush=True)
    except TLSPolicyError:
        print("strict refused to serve", flush=True)
    lenient, port = create_server("127.0.0.1:0", store,
                                  TLSFiles(cert, key, ca), require_handshake_refusal=False)
    lenient.start()
    print("port", port, flush=True)
    sys.stdin.read()
    lenient.stop(0)
""")


def _grpc_call_with_curl(pki, port: int, tls_flags: list[str]) -> str:
    cert, key = pki.clients["dr-a"]
    result = subprocess.run(
        [
            CURL,
            "-sS",
            "-v",
            "--http2",
            *tls_flags,
            "--cacert",
            str(pki.ca_cert),
            "--cert",
            str(cert),
            "--key",
            str(key),
            "-H",
            "content-type: application/grpc",
            "-H",
            "te: trailers",
            "--data-binary",
            "@-",
            "-o",
            "/dev/null",
            f"https://127.0.0.1:{port}/securemed.v1.ReportDelivery/ListReports",
        ],
        input=b"\x00\x00\x00\x00\x00",  # one gRPC frame: uncompressed, empty ListReportsRequest
        capture_output=True,
        timeout=20,
    )
    return result.stderr.decode(errors="replace")


@pytest.mark.skipif(OPENSSL is None or CURL is None, reason="openssl or curl binary not installed")
def test_without_handshake_policy_server_fails_closed_and_rpcs_need_tls13(pki, tmp_path):
    # This process exported the cipher policy; the child must start without it.
    env = {k: v for k, v in os.environ.items() if k != tlspolicy.GRPC_CIPHER_SUITES_ENV}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-c",
            _GRPC_FIRST,
            str(pki.ca_cert),
            str(pki.server_cert),
            str(pki.server_key),
            str(tmp_path / "env.db"),
        ],
        cwd=ROOT,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert proc.stdout.readline().split() == ["effective", "False"]
        assert proc.stdout.readline().strip() == "strict refused to serve"
        words = proc.stdout.readline().split()
        assert words[0] == "port", words
        port = int(words[1])
        # Layer 1 is off in that process: the TLS 1.2 handshake now succeeds ...
        rc12, out12 = s_client(pki, port, "-tls1_2")
        assert rc12 == 0 and "TLSv1.2, Cipher is" in out12
        # ... but no RPC is served over it (layer 3), while TLS 1.3 works.
        over12 = _grpc_call_with_curl(pki, port, ["--tlsv1.2", "--tls-max", "1.2"])
        assert "SSL connection using TLSv1.2" in over12
        assert "grpc-status: 7" in over12 and "TLS 1.3 is required" in over12
        over13 = _grpc_call_with_curl(pki, port, ["--tlsv1.3"])
        assert "SSL connection using TLSv1.3" in over13
        assert "grpc-status: 0" in over13
    finally:
        proc.stdin.close()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
