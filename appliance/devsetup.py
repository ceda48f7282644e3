"""`securemed init --dev DIR`: a complete development installation in one folder.

    DIR/appliance.toml              the appliance's config (accepts DEVPACS -> SECUREMED, routes to dr-a)
    DIR/pki/                        dev CA, appliance TLS certificate, clinician client certificates
    DIR/keys/                       de-identification secret, mapping key, appliance signing key (+ .pub)
    DIR/clinicians/<id>.ecies.*     each clinician's ECIES key pair (in production: on their machine)
    DIR/dr-a.toml, DIR/dr-b.toml    clinician client configs
    DIR/state/                      spool, job queue, envelope store (created by `serve`)

Private keys are written with mode 600. Nothing here is fit for production: the CA key sits beside
the certificates, and both clinicians' private keys are on the appliance.
"""

from __future__ import annotations

import os
from pathlib import Path

from appliance.delivery.pki import create_dev_pki
from appliance.envelope import (
    generate_ecies_keypair,
    generate_signing_key,
    key_id_for,
    save_ecies_private_key,
    save_ecies_public_key,
    save_signing_key,
    save_verify_key,
)
from common.errors import ExitCode, SecureMedError
from common.keyfiles import write_private
from deid.mapping import create_key_file

CLINICIANS = ("dr-a", "dr-b")
DEFAULT_BUNDLE = Path(__file__).resolve().parents[1] / "models" / "demo-cxr"
#: The prompt-injection classifier the repository trains (`[ids] injection_model`), when it is there.
DEFAULT_INJECTION_MODEL = Path(__file__).resolve().parents[1] / "models" / "ids-injection"


class DevSetupError(SecureMedError):
    """The dev installation cannot be written (it exists and --force was not given): exit 64."""

    exit_code = ExitCode.USAGE


def _toml_str(value: str | Path) -> str:
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def init_dev(
    directory: Path,
    *,
    dicom_port: int = 11112,
    grpc_port: int = 50051,
    bundle: Path = DEFAULT_BUNDLE,
    quiet_period_s: float = 2.0,
    force: bool = False,
    injection_model: Path | None = DEFAULT_INJECTION_MODEL,
) -> Path:
    """Write the dev installation; returns the path of appliance.toml. `[ids] injection_model` names
    `injection_model` when that directory holds a classifier (manifest.json), else the detector
    runs on its rules alone."""
    directory = directory.resolve()
    config_path = directory / "appliance.toml"
    if config_path.exists() and not force:
        raise DevSetupError(f"{config_path} exists; pass --force to overwrite the dev installation")
    for sub in ("pki", "keys", "clinicians"):
        (directory / sub).mkdir(parents=True, exist_ok=True)
    pki = create_dev_pki(directory / "pki", clinicians=CLINICIANS)

    keys = directory / "keys"
    for name in ("deid.secret", "mapping.key"):
        (keys / name).unlink(missing_ok=True)
    write_private(keys / "deid.secret", os.urandom(32).hex().encode() + b"\n")
    create_key_file(keys / "mapping.key")
    signing = generate_signing_key()
    save_signing_key(keys / "appliance-signing.pem", signing)
    save_verify_key(keys / "appliance-signing.pub", signing.public_key())
    key_id = key_id_for(signing.public_key())

    for clinician in CLINICIANS:
        pair = generate_ecies_keypair()
        save_ecies_private_key(directory / "clinicians" / f"{clinician}.ecies.key", pair.private_key)
        save_ecies_public_key(directory / "clinicians" / f"{clinician}.ecies.pub", pair.public_key)
        cert, key = pki.clients[clinician]
        (directory / f"{clinician}.toml").write_text(
            "\n".join(
                [
                    f"# SecureMed Edge client config for {clinician} (development).",
                    f"clinician_id = {_toml_str(clinician)}",
                    f"target = {_toml_str(f'localhost:{grpc_port}')}",
                    f"ca_file = {_toml_str(pki.ca_cert.relative_to(directory))}",
                    f"cert_file = {_toml_str(cert.relative_to(directory))}",
                    f"key_file = {_toml_str(key.relative_to(directory))}",
                    f"ecies_private_key_file = {_toml_str(f'clinicians/{clinician}.ecies.key')}",
                    "",
                    "[trusted_appliance_keys]",
                    f"{_toml_str(key_id)} = {_toml_str('keys/appliance-signing.pub')}",
                    "",
                ]
            )
        )

    if injection_model is not None and (injection_model / "manifest.json").is_file():
        ids_line = f"injection_model = {_toml_str(injection_model.resolve())}"
    else:
        ids_line = 'injection_model = ""        # no classifier trained here: the rules alone'
    config_path.write_text(
        "\n".join(
            [
                "# SecureMed Edge appliance config (development). Relative paths are relative to this file.",
                'state_dir = "state"',
                'log_level = "INFO"',
                "",
                "[dicom]",
                'ae_title = "SECUREMED"',
                'bind = "127.0.0.1"',
                f"port = {dicom_port}",
                'allowed_calling_aets = ["DEVPACS"]',
                f"quiet_period_s = {quiet_period_s}",
                "max_associations = 10       # concurrent associations; more are rejected at association",
                "network_timeout_s = 60.0    # a peer silent this long is dropped (also bounds the TLS handshake)",
                "dimse_timeout_s = 60.0      # longest wait for the next DIMSE message",
                "max_dataset_bytes = 536870912  # larger C-STORE data sets are refused (0xA700), never buffered",
                "max_pixel_bytes = 1073741824   # Rows x Columns x frames x samples x bytes above: refused (0xC004)",
                "min_free_bytes = 268435456     # below this free on the spool volume: refuse (transient, 0xA700)",
                "",
                "[model]",
                f"bundle = {_toml_str(bundle.resolve())}",
                'precision = "fp32"          # fp32 | int8 | fp16 (a variant the bundle has)',
                "threads = 0                 # ONNX Runtime intra-op threads; 0: every core",
                "allow_spinning = false      # idle inference threads sleep, leaving the cores to the other stages",
                "providers = []              # exactly these; empty: TensorRT -> CUDA -> CPU, as available",
                "device_id = 0               # the GPU",
                '# engine_cache_dir = "trt"  # TensorRT engine cache (engines are device-specific)',
                "max_batch = 8               # most studies generated in one call",
                "batch_window_ms = 50        # how long the first ready study waits for others (0-5000)",
                "workers = 0                 # threads running the stages before generation; 0: max_batch",
                "max_pending = 256           # jobs queued or running beyond which associations are refused",
                "",
                "[deid]",
                'secret_file = "keys/deid.secret"',
                'mapping_key_file = "keys/mapping.key"',
                "",
                "[deid.options]",
                "retain_long_modified_dates = true",
                "clean_pixel_data = true",
                "clean_descriptors = true",
                "",
                "[deid.pixels]               # Clean Pixel Data (deid.pixels.settings.PixelCleanSettings)",
                "ocr_workers = 2             # most tesseract processes at once, all studies (default: CPUs)",
                "timeout_s = 60.0            # per tesseract call",
                "",
                "[ids]                       # intrusion detection: the indication and the draft report",
                ids_line,
                "",
                "[signing]",
                'key_file = "keys/appliance-signing.pem"',
                f"key_id = {_toml_str(key_id)}",
                "",
                "[delivery]",
                'bind = "127.0.0.1"',
                f"port = {grpc_port}",
                "grace_s = 5.0",
                "",
                "[delivery.tls]",
                'cert_file = "pki/server.pem"',
                'key_file = "pki/server.key"',
                'ca_file = "pki/ca.pem"',
                "",
                "[routing]",
                'default_recipients = ["dr-a"]',
                "",
                *[
                    line
                    for c in CLINICIANS
                    for line in (
                        "[[clinicians]]",
                        f"id = {_toml_str(c)}",
                        f"public_key_file = {_toml_str(f'clinicians/{c}.ecies.pub')}",
                        "",
                    )
                ],
            ]
        )
    )
    return config_path
