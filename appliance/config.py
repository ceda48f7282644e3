"""The appliance's configuration: one frozen, typed object loaded from TOML.

Unknown keys are errors, every problem is reported by its dotted key, and a bad file never falls back
to defaults (ConfigError; the CLI exits 78). The config holds paths to keys and certificates, never
key material. Relative paths resolve against the config file's directory.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from common.aetitle import ae_title_problem
from common.config import load, read_toml
from common.errors import ConfigError
from common.tls import TLSFiles
from deid.options import DeidOptions
from deid.pixels.settings import PixelCleanSettings
from dicom_listener import ListenerConfigError, ListenerSettings
from runtime.decode import DecodeSettings
from runtime.session import SessionSettings

__all__ = ["ApplianceConfig", "ConfigError", "load_config", "parse_config", "read_toml"]

_ID = re.compile(r"^[a-z0-9][a-z0-9._-]{0,63}$")
_KEY_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$")  # e.g. "ed25519:0123abcd..."


def _port_problems(key: str, value: int) -> list[str]:
    return [] if 0 <= value <= 65535 else [f"{key}: {value} is not a TCP port (0-65535)"]


@dataclass(frozen=True)
class DicomConfig:
    """`[dicom]`: the listener. max_associations: concurrent associations (more are rejected at
    association, transient); acse/dimse/network timeouts drop stalled or trickling peers; max_pdu: the
    PDU size announced (0: unlimited); max_connections (0: automatic), max_dataset_bytes,
    max_inflated_bytes, max_pixel_bytes, min_free_bytes: hostile-input and disk limits. Defaults and
    rules are the listener's (ListenerSettings)."""

    ae_title: str = "SECUREMED"
    bind: str = "0.0.0.0"
    port: int = 11112
    allowed_calling_aets: tuple[str, ...] = ()
    quiet_period_s: float = 10.0
    max_associations: int = 10
    max_pdu: int = 131072
    acse_timeout_s: float = 30.0
    dimse_timeout_s: float = 60.0
    network_timeout_s: float = 60.0
    max_connections: int = 0
    max_dataset_bytes: int = 512 * 1024 * 1024
    max_inflated_bytes: int = 512 * 1024 * 1024
    max_pixel_bytes: int = 1024 * 1024 * 1024
    min_free_bytes: int = 256 * 1024 * 1024
    tls: TLSFiles | None = None

    def validate(self, prefix: str) -> list[str]:
        """The port and each calling AE title (named by index) here; the rest by the listener's own
        rules (ListenerSettings, which stops at its first problem)."""
        problems = _port_problems(prefix + "port", self.port)
        for i, aet in enumerate(self.allowed_calling_aets):
            problem = ae_title_problem(aet)
            if problem is not None:
                problems.append(f"{prefix}allowed_calling_aets[{i}]: {problem}")
        if not problems:
            try:
                self.listener_settings(Path("spool"))
            except ListenerConfigError as exc:
                problems += [prefix + p for p in exc.problems]
        return problems

    def listener_settings(self, spool_dir: Path) -> ListenerSettings:
        """The listener's settings for this table (ListenerConfigError if the listener refuses them)."""
        return ListenerSettings(
            max_associations=self.max_associations,
            max_pdu=self.max_pdu,
            acse_timeout_s=self.acse_timeout_s,
            dimse_timeout_s=self.dimse_timeout_s,
            network_timeout_s=self.network_timeout_s,
            max_connections=self.max_connections,
            max_dataset_bytes=self.max_dataset_bytes,
            max_inflated_bytes=self.max_inflated_bytes,
            max_pixel_bytes=self.max_pixel_bytes,
            min_free_bytes=self.min_free_bytes,
            ae_title=self.ae_title,
            allowed_calling_aets=frozenset(self.allowed_calling_aets),
            spool_dir=spool_dir,
            quiet_period_s=self.quiet_period_s,
            tls=self.tls,
        )


PRECISIONS = ("fp32", "int8", "fp16")
EXECUTION_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
MAX_BATCH_WINDOW_MS = 5000
MAX_WORKERS = 64


@dataclass(frozen=True)
class ModelConfig:
    """`[model]`: the bundle, how ONNX Runtime runs it, and how studies are batched.

    threads: intra-op threads (0: ONNX Runtime takes every core). allow_spinning: false when the box is
    shared, so idle inference threads sleep instead of taking the cores of the listener and gRPC.
    providers: execution providers to use, exactly (empty: every available one, TensorRT -> CUDA -> CPU).
    device_id: the GPU. engine_cache_dir: where TensorRT keeps its engines (device-specific; unset: none).
    max_batch: the most studies generated in one call. batch_window_ms: how long the first study of a
    batch waits for others. workers: threads running the stages before generation (0: max_batch);
    their output waits for generation in a queue of max_batch studies. max_pending: back-pressure;
    while this many jobs or more are queued or running, the listener refuses new associations
    (transiently), so a burst waits at the sender instead of piling up in the spool.
    """

    bundle: Path
    precision: str = "fp32"
    threads: int = 0
    max_batch: int = 8
    allow_spinning: bool = True
    providers: tuple[str, ...] = ()
    device_id: int = 0
    engine_cache_dir: Path | None = None
    batch_window_ms: int = 50
    workers: int = 0
    max_pending: int = 256

    def validate(self, prefix: str) -> list[str]:
        problems = []
        if self.precision not in PRECISIONS:
            problems.append(f"{prefix}precision: must be 'fp32', 'int8' or 'fp16', got {self.precision!r}")
        if self.threads < 0:
            problems.append(f"{prefix}threads: must be >= 0")
        if self.max_batch < 1:
            problems.append(f"{prefix}max_batch: must be >= 1")
        for i, provider in enumerate(self.providers):
            if provider not in EXECUTION_PROVIDERS:
                problems.append(
                    f"{prefix}providers[{i}]: {provider!r} is not an execution provider "
                    f"({', '.join(EXECUTION_PROVIDERS)})"
                )
            elif provider in self.providers[:i]:
                problems.append(f"{prefix}providers[{i}]: {provider!r} is listed twice")
        if self.device_id < 0:
            problems.append(f"{prefix}device_id: must be >= 0")
        if not 0 <= self.batch_window_ms <= MAX_BATCH_WINDOW_MS:
            problems.append(f"{prefix}batch_window_ms: must be between 0 and {MAX_BATCH_WINDOW_MS}")
        if not 0 <= self.workers <= MAX_WORKERS:
            problems.append(f"{prefix}workers: must be between 0 and {MAX_WORKERS} (0: max_batch)")
        if self.max_pending < 1:
            problems.append(f"{prefix}max_pending: must be >= 1")
        return problems

    @property
    def worker_count(self) -> int:
        """Pipeline worker threads: `workers`, or `max_batch` when 0."""
        return self.workers or self.max_batch

    def session_settings(self, max_new_tokens: int | None = None) -> SessionSettings:
        """What ONNX Runtime is told (runtime.session). `serve` and `build-engines` both pass the
        bundle's max_new_tokens (TensorRT plans past lengths up to it), so their engines match."""
        settings = SessionSettings(
            intra_op_threads=self.threads,
            allow_spinning=self.allow_spinning,
            providers=self.providers,
            device_id=self.device_id,
            engine_cache_dir=self.engine_cache_dir,
            max_batch=self.max_batch,
        )
        return settings if max_new_tokens is None else replace(settings, max_new_tokens=max_new_tokens)


@dataclass(frozen=True)
class DeidConfig:
    """`[deid]`: the site secret, the mapping store's key, `[deid.options]` (PS3.15 options, see
    deid.options.DeidOptions) and `[deid.pixels]` (Clean Pixel Data, deid.pixels.settings), both
    parsed and checked when the config is loaded."""

    secret_file: Path
    mapping_key_file: Path
    options: DeidOptions = field(default_factory=DeidOptions)
    pixels: PixelCleanSettings = field(default_factory=PixelCleanSettings)


@dataclass(frozen=True)
class SigningConfig:
    key_file: Path
    key_id: str

    def validate(self, prefix: str) -> list[str]:
        return [] if _KEY_ID.match(self.key_id) else [f"{prefix}key_id: {self.key_id!r} is not a valid key id"]


@dataclass(frozen=True)
class DeliveryConfig:
    tls: TLSFiles
    bind: str = "0.0.0.0"
    port: int = 50051
    grace_s: float = 5.0
    max_workers: int = 8

    def validate(self, prefix: str) -> list[str]:
        return _port_problems(prefix + "port", self.port)


@dataclass(frozen=True)
class Clinician:
    id: str
    public_key_file: Path

    def validate(self, prefix: str) -> list[str]:
        return [] if _ID.match(self.id) else [f"{prefix}id: {self.id!r} is not a valid clinician id"]


@dataclass(frozen=True)
class RoutingConfig:
    default_recipients: tuple[str, ...]


MAX_DECODE_WORKERS = 16
MAX_DECODE_MEMORY_MIB = 65536
MAX_DECODE_TIMEOUT_S = 3600.0


@dataclass(frozen=True)
class DecodeConfig:
    """`[decode]`: compressed Pixel Data is decoded in worker processes before any stage sees it
    (runtime.decode). max_memory_mib: what one decode may allocate above the worker's idle footprint,
    and the largest decoded image accepted; timeout_s: how long one decode may take (the worker is
    then killed); workers: decodes at once, each a process."""

    max_memory_mib: int = 512
    timeout_s: float = 30.0
    workers: int = 2

    def validate(self, prefix: str) -> list[str]:
        problems = []
        if not 16 <= self.max_memory_mib <= MAX_DECODE_MEMORY_MIB:
            problems.append(f"{prefix}max_memory_mib: must be between 16 and {MAX_DECODE_MEMORY_MIB}")
        if not 0 < self.timeout_s <= MAX_DECODE_TIMEOUT_S:
            problems.append(f"{prefix}timeout_s: must be > 0 and <= {MAX_DECODE_TIMEOUT_S:g}")
        if not 1 <= self.workers <= MAX_DECODE_WORKERS:
            problems.append(f"{prefix}workers: must be between 1 and {MAX_DECODE_WORKERS}")
        return problems

    def settings(self) -> DecodeSettings:
        """What runtime.decode.BoundedDecoder is given."""
        return DecodeSettings(
            max_memory_bytes=self.max_memory_mib << 20, timeout_s=self.timeout_s, workers=self.workers
        )


@dataclass(frozen=True)
class IdsConfig:
    """`[ids]`: the intrusion detection of issue 11. injection_model: the directory of the prompt-
    injection classifier (model.onnx + manifest.json, ids.injection.InjectionClassifier); absent or
    "" (rules only): the indication is screened by the detector's rules alone. The report validator
    (ids.report) always runs, with the thresholds of the model bundle's manifest."""

    injection_model: Path | None = None


@dataclass(frozen=True)
class ApplianceConfig:
    state_dir: Path
    dicom: DicomConfig
    model: ModelConfig
    deid: DeidConfig
    signing: SigningConfig
    delivery: DeliveryConfig
    routing: RoutingConfig
    clinicians: tuple[Clinician, ...] = ()
    decode: DecodeConfig = field(default_factory=DecodeConfig)
    ids: IdsConfig = field(default_factory=IdsConfig)
    log_level: str = "INFO"

    def validate(self, prefix: str) -> list[str]:
        problems: list[str] = []
        ids = [c.id for c in self.clinicians]
        for dup in sorted({i for i in ids if ids.count(i) > 1}):
            problems.append(f"clinicians: duplicate id {dup!r}")
        if not self.routing.default_recipients:
            problems.append("routing.default_recipients: at least one recipient is required")
        for i, rid in enumerate(self.routing.default_recipients):
            if rid not in ids:
                problems.append(f"routing.default_recipients[{i}]: {rid!r} is not a configured clinician")
        if self.log_level not in ("DEBUG", "INFO", "WARNING", "ERROR"):
            problems.append(f"log_level: must be DEBUG, INFO, WARNING or ERROR, got {self.log_level!r}")
        return problems

    def clinician(self, clinician_id: str) -> Clinician:
        return next(c for c in self.clinicians if c.id == clinician_id)

    def referenced_files(self) -> dict[str, Path]:
        """Every file the appliance reads at start-up, by dotted key."""
        files = {
            "deid.secret_file": self.deid.secret_file,
            "deid.mapping_key_file": self.deid.mapping_key_file,
            "signing.key_file": self.signing.key_file,
            "delivery.tls.cert_file": self.delivery.tls.cert_file,
            "delivery.tls.key_file": self.delivery.tls.key_file,
            "delivery.tls.ca_file": self.delivery.tls.ca_file,
        }
        if self.dicom.tls:
            files.update({f"dicom.tls.{k}": path for k, path in self.dicom.tls.files().items()})
        for i, c in enumerate(self.clinicians):
            files[f"clinicians[{i}].public_key_file"] = c.public_key_file
        return files


def parse_config(raw: Mapping[str, Any], *, base: Path | None = None) -> ApplianceConfig:
    ids = raw.get("ids")
    if isinstance(ids, Mapping) and ids.get("injection_model") == "":
        # TOML has no null: "" is how a site writes "rules only" explicitly.
        raw = {**raw, "ids": {k: v for k, v in ids.items() if k != "injection_model"}}
    return load(ApplianceConfig, raw, base=base)


def load_config(path: Path | str, *, check_files: bool = True) -> ApplianceConfig:
    """Parse and validate the TOML file; with check_files, also require every referenced file."""
    path = Path(path)
    raw = read_toml(path)
    try:
        config = parse_config(raw, base=path.resolve().parent)
    except ConfigError as exc:
        raise ConfigError(exc.problems, path) from None
    problems = []
    if check_files:
        problems += [f"{key}: file not found: {p}" for key, p in config.referenced_files().items() if not p.is_file()]
        if not (config.model.bundle / "manifest.json").is_file():
            problems.append(f"model.bundle: no model bundle (manifest.json) in {config.model.bundle}")
        model = config.ids.injection_model
        if model is not None and not (model / "manifest.json").is_file():
            problems.append(f"ids.injection_model: no injection classifier (manifest.json) in {model}")
    if problems:
        raise ConfigError(problems, path)
    return config
