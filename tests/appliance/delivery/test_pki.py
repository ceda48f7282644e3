"""Development PKI: real certificates, checked with cryptography and openssl."""

from __future__ import annotations

import ipaddress
import os
import shutil
import stat
import subprocess

import pytest
from cryptography import x509
from cryptography.x509.oid import ExtendedKeyUsageOID

from appliance.delivery.pki import (
    InvalidClinicianId,
    clinician_ids_from_certificate,
    clinician_uri,
    create_dev_pki,
)


def load(path):
    return x509.load_pem_x509_certificate(path.read_bytes())


def test_layout_and_permissions(pki):
    for key in [pki.ca_key, pki.server_key, *(k for _, k in pki.clients.values())]:
        assert stat.S_IMODE(os.stat(key).st_mode) == 0o600
    for cert in [pki.ca_cert, pki.server_cert, *(c for c, _ in pki.clients.values())]:
        assert b"BEGIN CERTIFICATE" in cert.read_bytes()
    assert set(pki.clients) == {"dr-a", "dr-b"}


def test_server_certificate(pki):
    cert = load(pki.server_cert)
    san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert san.get_values_for_type(x509.DNSName) == ["localhost"]
    assert san.get_values_for_type(x509.IPAddress) == [ipaddress.ip_address("127.0.0.1")]
    eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
    assert list(eku) == [ExtendedKeyUsageOID.SERVER_AUTH]
    cert.verify_directly_issued_by(load(pki.ca_cert))


def test_client_certificates_name_their_clinician(pki):
    for clinician, (cert_path, _) in pki.clients.items():
        cert = load(cert_path)
        assert clinician_ids_from_certificate(cert) == [clinician]
        eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        assert list(eku) == [ExtendedKeyUsageOID.CLIENT_AUTH]
        cert.verify_directly_issued_by(load(pki.ca_cert))


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl binary not installed")
def test_openssl_verifies_chain_and_purpose(pki):
    def verify(purpose, cert):
        return subprocess.run(
            ["openssl", "verify", "-CAfile", str(pki.ca_cert), "-purpose", purpose, str(cert)],
            capture_output=True,
            text=True,
        ).returncode

    assert verify("sslserver", pki.server_cert) == 0
    assert verify("sslclient", pki.clients["dr-a"][0]) == 0
    assert verify("sslclient", pki.server_cert) != 0


@pytest.mark.parametrize("bad", ["", "Dr-A", "dr a", "-dr", "dr/a", "a" * 65, "dr-ä"])
def test_invalid_clinician_ids(bad, tmp_path):
    with pytest.raises(InvalidClinicianId):
        clinician_uri(bad)
    with pytest.raises(InvalidClinicianId):
        create_dev_pki(tmp_path, clinicians=[bad])


@pytest.mark.parametrize("good", ["dr-a", "a", "dr.b_2", "x" * 64])
def test_valid_clinician_ids(good):
    assert clinician_uri(good) == f"urn:securemed:clinician:{good}"
