"""A clinician's client config (`securemed client --config dr-a.toml ...`), strict like the appliance's."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from common.config import load, read_toml
from common.errors import ConfigError


@dataclass(frozen=True)
class ClientConfig:
    clinician_id: str
    target: str
    ca_file: Path
    cert_file: Path
    key_file: Path
    ecies_private_key_file: Path
    trusted_appliance_keys: dict[str, Path] = field(default_factory=dict)  # key id -> verify key file
    server_name: str | None = None
    timeout_s: float = 10.0

    def validate(self, prefix: str) -> list[str]:
        problems = []
        if not self.trusted_appliance_keys:
            problems.append(f"{prefix}trusted_appliance_keys: at least one appliance key is required")
        if ":" not in self.target:
            problems.append(f"{prefix}target: expected host:port, got {self.target!r}")
        return problems

    def trusted_key_files(self) -> dict[str, Path]:
        """Key id -> verify key file (relative paths already resolved against the config's directory)."""
        return dict(self.trusted_appliance_keys)


def load_client_config(path: Path | str) -> tuple[ClientConfig, Path]:
    """(config, directory that relative paths resolve against). Raises ConfigError."""
    path = Path(path)
    raw = read_toml(path)
    base = path.resolve().parent
    try:
        return load(ClientConfig, raw, base=base), base
    except ConfigError as exc:
        raise ConfigError(exc.problems, path) from None
