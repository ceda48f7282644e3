"""The one TLS settings type: PEM certificate (chain), its private key and the CA bundle that peers
must chain to. Used by the DICOM listener (DICOM TLS), gRPC delivery and the appliance config."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class TLSFiles:
    """cert_file/key_file: our certificate and key; ca_file: the CA that peer certificates must
    chain to. With require_client_cert=False a server lets a client connect without a certificate,
    but a certificate it does present must still verify against ca_file."""

    cert_file: Path
    key_file: Path
    ca_file: Path
    require_client_cert: bool = True

    def __post_init__(self) -> None:
        for name in ("cert_file", "key_file", "ca_file"):
            object.__setattr__(self, name, Path(getattr(self, name)))

    def files(self) -> dict[str, Path]:
        """The three files by field name (for 'file not found' checks keyed by dotted config key)."""
        return {"cert_file": self.cert_file, "key_file": self.key_file, "ca_file": self.ca_file}
