"""DICOM TLS with mutual authentication, using a throwaway PKI made in the test."""

from __future__ import annotations

import datetime
import ipaddress
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import pytest

# cryptography is a dev dependency (it makes the throwaway PKI); the listener itself needs only ssl.
pytest.importorskip("cryptography", reason="the 'cryptography' package makes the test PKI")

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from dicom_listener import ListenerConfigError, TLSFiles, build_ssl_context

from .conftest import (
    CR_IMAGE_STORAGE,
    PACS_AET,
    SCP_AET,
    Listener,
    associate,
    dcmtk,
    make_cr,
    run_tool,
)

VERIFICATION = "1.2.840.10008.1.1"
EXPLICIT_LE = "1.2.840.10008.1.2.1"


@dataclass(frozen=True)
class Pki:
    ca: Path
    server_cert: Path
    server_key: Path
    client_cert: Path
    client_key: Path
    rogue_cert: Path  # a client certificate from a CA the listener does not trust
    rogue_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def _issue(
    subject: str,
    key: ec.EllipticCurvePrivateKey,
    issuer: tuple[x509.Certificate, ec.EllipticCurvePrivateKey] | None,
    *,
    server: bool = False,
) -> x509.Certificate:
    now = datetime.datetime.now(datetime.timezone.utc)
    issuer_name = issuer[0].subject if issuer else _name(subject)
    signing_key = issuer[1] if issuer else key
    builder = (
        x509.CertificateBuilder()
        .subject_name(_name(subject))
        .issuer_name(issuer_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=1))
        .add_extension(x509.BasicConstraints(ca=issuer is None, path_length=None), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
    )
    if issuer is None:
        builder = builder.add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(issuer[1].public_key()),
            critical=False,
        ).add_extension(
            x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH if server else ExtendedKeyUsageOID.CLIENT_AUTH]),
            critical=False,
        )
        if server:
            builder = builder.add_extension(
                x509.SubjectAlternativeName(
                    [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
                ),
                critical=False,
            )
    return builder.sign(signing_key, hashes.SHA256())


def _write(directory: Path, name: str, cert: x509.Certificate, key: ec.EllipticCurvePrivateKey) -> tuple[Path, Path]:
    cert_path, key_path = directory / f"{name}.crt", directory / f"{name}.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    directory = tmp_path_factory.mktemp("pki")
    keys = {name: ec.generate_private_key(ec.SECP256R1()) for name in ("ca", "server", "client", "rogue_ca", "rogue")}
    ca = _issue("Test Hospital DICOM CA", keys["ca"], None)
    rogue_ca = _issue("Somebody Else CA", keys["rogue_ca"], None)
    ca_path, _ = _write(directory, "ca", ca, keys["ca"])
    server_cert, server_key = _write(
        directory,
        "server",
        _issue("securemed", keys["server"], (ca, keys["ca"]), server=True),
        keys["server"],
    )
    client_cert, client_key = _write(
        directory, "client", _issue("pacs", keys["client"], (ca, keys["ca"])), keys["client"]
    )
    rogue_cert, rogue_key = _write(
        directory,
        "rogue",
        _issue("pacs", keys["rogue"], (rogue_ca, keys["rogue_ca"])),
        keys["rogue"],
    )
    return Pki(ca_path, server_cert, server_key, client_cert, client_key, rogue_cert, rogue_key)


@pytest.fixture
def tls_listener(start_listener: Callable[..., Listener], pki: Pki) -> Listener:
    return start_listener(tls=TLSFiles(pki.server_cert, pki.server_key, pki.ca), network_timeout_s=5.0)


def _client_context(pki: Pki, cert: Path | None = None, key: Path | None = None) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=str(pki.ca))
    if cert is not None and key is not None:
        context.load_cert_chain(cert, key)
    return context


def test_mutual_tls_echo_and_store(tls_listener: Listener, pki: Pki) -> None:
    assoc = associate(
        tls_listener.port,
        contexts=[(VERIFICATION, [EXPLICIT_LE]), (CR_IMAGE_STORAGE, [EXPLICIT_LE])],
        tls_args=(_client_context(pki, pki.client_cert, pki.client_key), "localhost"),
    )
    assert assoc.is_established
    assert assoc.send_c_echo().Status == 0x0000
    ds = make_cr()
    assert assoc.send_c_store(ds).Status == 0x0000
    assoc.release()
    assert tls_listener.server.spool.contains(ds.SOPInstanceUID)


@pytest.mark.parametrize("who", ["no certificate", "untrusted certificate", "plain TCP"])
def test_clients_without_a_trusted_certificate_are_refused(tls_listener: Listener, pki: Pki, who: str) -> None:
    if who == "no certificate":
        tls_args = (_client_context(pki), "localhost")
    elif who == "untrusted certificate":
        tls_args = (_client_context(pki, pki.rogue_cert, pki.rogue_key), "localhost")
    else:
        tls_args = None
    refused = associate(tls_listener.port, tls_args=tls_args)
    assert not refused.is_established
    # ... and the listener keeps serving trusted peers.
    good = associate(
        tls_listener.port,
        tls_args=(_client_context(pki, pki.client_cert, pki.client_key), "localhost"),
    )
    assert good.is_established
    good.release()


@pytest.mark.timeout(20)  # with the handshake on the accepting thread this would hang
def test_silent_connection_does_not_block_other_handshakes(tls_listener: Listener, pki: Pki) -> None:
    with socket.create_connection(("127.0.0.1", tls_listener.port)):  # connects, never says hello
        good = associate(
            tls_listener.port,
            tls_args=(_client_context(pki, pki.client_cert, pki.client_key), "localhost"),
        )
        assert good.is_established
        good.release()


@pytest.mark.dcmtk
def test_dcmtk_echoscu_over_mutual_tls(tls_listener: Listener, pki: Pki) -> None:
    echoscu = dcmtk("echoscu")
    common = [
        "-aet",
        PACS_AET,
        "-aec",
        SCP_AET,
        "+cf",
        str(pki.ca),
        "127.0.0.1",
        str(tls_listener.port),
    ]
    ok = run_tool(echoscu, "+tls", str(pki.client_key), str(pki.client_cert), *common)
    assert ok.returncode == 0, ok.stdout + ok.stderr
    anonymous = run_tool(echoscu, "+tla", *common)
    assert anonymous.returncode != 0


def test_bad_tls_files_are_a_settings_error(pki: Pki, tmp_path: Path) -> None:
    with pytest.raises(ListenerConfigError):
        build_ssl_context(TLSFiles(tmp_path / "missing.crt", pki.server_key, pki.ca))
    with pytest.raises(ListenerConfigError):
        build_ssl_context(TLSFiles(pki.server_cert, pki.client_key, pki.ca))  # key does not match
    context = build_ssl_context(TLSFiles(pki.server_cert, pki.server_key, pki.ca, require_client_cert=False))
    assert context.verify_mode == ssl.CERT_OPTIONAL
