"""Development PKI for the report delivery service (`securemed init --dev`).

Creates, with `cryptography` only, a private site CA and the certificates the
delivery service needs:

* the appliance server certificate (SAN DNS ``localhost`` and IP ``127.0.0.1``
  by default, EKU serverAuth);
* one client certificate per clinician (EKU clientAuth). The clinician identity
  is the SAN URI ``urn:securemed:clinician:<id>`` (see `clinician_uri`); the
  subject CN repeats the id for humans but is never used for authorisation.

All keys are ECDSA P-256.

Everything is written as PEM; private keys are created with mode 0600 (never
world-readable, not even briefly). This is a development/test PKI: the CA key
sits next to the certificates. A production site uses its own CA and only
hands the appliance its server key, server certificate and the CA certificate.
"""

from __future__ import annotations

import datetime as _dt
import ipaddress
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from common.errors import ExitCode, SecureMedError

CLINICIAN_URI_PREFIX = "urn:securemed:clinician:"
_CLINICIAN_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")

DEFAULT_CLINICIANS: tuple[str, ...] = ("dr-a", "dr-b")


class PKIError(SecureMedError):
    """Base class for development PKI errors (a configuration problem: exit 78)."""

    exit_code = ExitCode.CONFIG


class InvalidClinicianId(PKIError):
    """A clinician id is not of the form ``[a-z0-9][a-z0-9._-]{0,63}``."""


def validate_clinician_id(clinician_id: str) -> str:
    """Return `clinician_id` if it is a valid clinician id, else raise `InvalidClinicianId`."""
    if not isinstance(clinician_id, str) or not _CLINICIAN_ID.match(clinician_id):
        raise InvalidClinicianId(f"invalid clinician id {clinician_id!r}")
    return clinician_id


def clinician_uri(clinician_id: str) -> str:
    """The SAN URI that identifies `clinician_id` in a client certificate."""
    return CLINICIAN_URI_PREFIX + validate_clinician_id(clinician_id)


def clinician_ids_from_certificate(cert: x509.Certificate) -> list[str]:
    """Clinician ids named by the certificate's ``urn:securemed:clinician:`` SAN URIs.

    Only well-formed ids are returned; the CN is ignored on purpose.
    """
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    ids = []
    for uri in san.get_values_for_type(x509.UniformResourceIdentifier):
        if uri.startswith(CLINICIAN_URI_PREFIX):
            candidate = uri[len(CLINICIAN_URI_PREFIX) :]
            if _CLINICIAN_ID.match(candidate):
                ids.append(candidate)
    return ids


@dataclass(frozen=True)
class CertifiedKey:
    """A certificate and its private key, in memory."""

    certificate: x509.Certificate
    private_key: ec.EllipticCurvePrivateKey


@dataclass(frozen=True)
class DevPKIPaths:
    """Where `create_dev_pki` wrote each PEM file."""

    ca_cert: Path
    ca_key: Path
    server_cert: Path
    server_key: Path
    clients: Mapping[str, tuple[Path, Path]]  # clinician id -> (cert, key)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc)


def _new_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def _builder(subject: x509.Name, issuer: x509.Name, public_key, days: int) -> x509.CertificateBuilder:
    now = _now()
    return (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        # A little slack for clocks of other hosts on the site network.
        .not_valid_before(now - _dt.timedelta(minutes=5))
        .not_valid_after(now + _dt.timedelta(days=days))
    )


def create_ca(common_name: str = "SecureMed Edge Dev CA", *, days: int = 3650) -> CertifiedKey:
    """A self-signed CA allowed to sign end-entity certificates only (pathlen 0)."""
    key = _new_key()
    name = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SecureMed Edge (development)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    cert = (
        _builder(name, name, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return CertifiedKey(cert, key)


def _issue(
    ca: CertifiedKey,
    common_name: str,
    san: list[x509.GeneralName],
    eku: x509.ObjectIdentifier,
    days: int,
) -> CertifiedKey:
    key = _new_key()
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "SecureMed Edge (development)"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )
    cert = (
        _builder(subject, ca.certificate.subject, key.public_key(), days)
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([eku]), critical=False)
        .add_extension(x509.SubjectAlternativeName(san), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca.private_key.public_key()),
            critical=False,
        )
        .sign(ca.private_key, hashes.SHA256())
    )
    return CertifiedKey(cert, key)


def issue_server_cert(
    ca: CertifiedKey,
    *,
    hostnames: Iterable[str] = ("localhost",),
    ip_addresses: Iterable[str] = ("127.0.0.1",),
    days: int = 825,
) -> CertifiedKey:
    """A serverAuth certificate for the appliance with the given DNS and IP SANs."""
    hostnames = list(hostnames)
    san: list[x509.GeneralName] = [x509.DNSName(h) for h in hostnames]
    san += [x509.IPAddress(ipaddress.ip_address(ip)) for ip in ip_addresses]
    if not san:
        raise PKIError("a server certificate needs at least one DNS or IP SAN")
    cn = hostnames[0] if hostnames else "securemed-appliance"
    return _issue(ca, cn, san, ExtendedKeyUsageOID.SERVER_AUTH, days)


def issue_client_cert(ca: CertifiedKey, clinician_id: str, *, days: int = 365) -> CertifiedKey:
    """A clientAuth certificate whose SAN URI names `clinician_id`."""
    uri = clinician_uri(clinician_id)
    return _issue(ca, clinician_id, [x509.UniformResourceIdentifier(uri)], ExtendedKeyUsageOID.CLIENT_AUTH, days)


def write_private_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    """Write `key` as unencrypted PKCS#8 PEM, created with mode 0600 (replaces an existing file)."""
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    write_secret_file(path, pem)


def write_secret_file(path: Path, data: bytes) -> None:
    """Write `data` to `path` atomically with mode 0600 from creation on."""
    path = Path(path)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o600)  # in case a umask-less filesystem ignored the create mode
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_certificate(path: Path, cert: x509.Certificate) -> None:
    """Write `cert` as PEM (mode 0644: certificates are public)."""
    path = Path(path)
    path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    os.chmod(path, 0o644)


def create_dev_pki(
    out_dir: Path,
    *,
    clinicians: Iterable[str] = DEFAULT_CLINICIANS,
    server_hostnames: Iterable[str] = ("localhost",),
    server_ips: Iterable[str] = ("127.0.0.1",),
) -> DevPKIPaths:
    """Create a dev CA, a server certificate and clinician client certificates under `out_dir`.

    Layout: ``ca.pem``, ``ca.key``, ``server.pem``, ``server.key``,
    ``clients/<id>.pem``, ``clients/<id>.key``. Existing files are overwritten.
    """
    clinicians = [validate_clinician_id(c) for c in clinicians]
    out = Path(out_dir)
    (out / "clients").mkdir(parents=True, exist_ok=True)
    ca = create_ca()
    server = issue_server_cert(ca, hostnames=server_hostnames, ip_addresses=server_ips)
    paths = DevPKIPaths(
        ca_cert=out / "ca.pem",
        ca_key=out / "ca.key",
        server_cert=out / "server.pem",
        server_key=out / "server.key",
        clients={c: (out / "clients" / f"{c}.pem", out / "clients" / f"{c}.key") for c in clinicians},
    )
    write_certificate(paths.ca_cert, ca.certificate)
    write_private_key(paths.ca_key, ca.private_key)
    write_certificate(paths.server_cert, server.certificate)
    write_private_key(paths.server_key, server.private_key)
    for clinician_id, (cert_path, key_path) in paths.clients.items():
        client = issue_client_cert(ca, clinician_id)
        write_certificate(cert_path, client.certificate)
        write_private_key(key_path, client.private_key)
    return paths
