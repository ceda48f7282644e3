"""Model bundles: a directory with a manifest, ONNX graphs, a tokenizer and a model card.

Contract: `ModelBundle.open(directory)` reads every file the manifest lists, checks its SHA-256 and
size, and keeps the verified bytes; sessions are created from those bytes, never by re-reading the
files, so what was checked is what runs. A missing, extra-but-listed, or altered file raises
BundleIntegrityError before any ONNX Runtime session exists.

Manifest layout (manifest.json, format "securemed-bundle/1"):
  name, bundle_id, created_at, files{name: {sha256, bytes}}, variants{precision: {encoder, decoder}},
  graphs{file: {inputs, outputs}}, preprocessing{...}, tokenizer{file, pad/eos/decoder_start ids},
  decoder{num_layers, num_heads, d_kv, vocab_size}, generation{max_new_tokens}, model_card, metrics,
  quantization{int8: the chosen INT8 candidate or null, candidates: agreement measurements},
  optional finding_head{output, labels}: the encoder graph's image-only finding head (absent: no head),
  optional validation{labels, logprob_mean_min, logprob_min_min, agreement_min, source}: the anomaly
  thresholds of the report validator, chosen on held-out phantoms (absent in older bundles).
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import Any

from runtime.errors import BundleError, BundleIntegrityError

FORMAT = "securemed-bundle/1"
MANIFEST = "manifest.json"


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def bundle_digest(files: Mapping[str, Mapping[str, Any]]) -> str:
    """Digest over the sorted (name, sha256) pairs: the content identity of a bundle."""
    lines = "".join(f"{name}\0{files[name]['sha256']}\n" for name in sorted(files))
    return sha256_bytes(lines.encode())


@dataclass(frozen=True)
class Preprocessing:
    image_size: int
    mean: tuple[float, float, float]
    std: tuple[float, float, float]
    resize: str = "shortest_side"
    crop: str = "center"
    interpolation: str = "bicubic"


@dataclass(frozen=True)
class TokenizerInfo:
    file: str
    pad_token_id: int
    eos_token_id: int
    decoder_start_token_id: int


@dataclass(frozen=True)
class DecoderInfo:
    num_layers: int
    num_heads: int
    d_kv: int
    vocab_size: int


@dataclass(frozen=True)
class ValidationCalibration:
    """Thresholds of the anomaly checks on a draft, chosen on held-out data (manifest key "validation").

    A draft is anomalous when mean(token_logprobs) < logprob_mean_min, or min(token_logprobs) <
    logprob_min_min, or agreement(finding_probs, label_report(draft)) < agreement_min (None: no
    image-report agreement check, e.g. a bundle without a finding head). `labels` names the finding
    probabilities in order; `source` says how the thresholds were computed (n, seeds, quantile, ...).
    """

    labels: tuple[str, ...]
    logprob_mean_min: float
    logprob_min_min: float
    agreement_min: float | None
    source: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> ValidationCalibration:
        """Parse the manifest's "validation" record; raises BundleError when it is malformed."""
        if not isinstance(raw, Mapping):
            raise BundleError("manifest: validation must be an object")
        try:
            labels = raw.get("labels", [])
            if not isinstance(labels, (list, tuple)) or not all(isinstance(x, str) for x in labels):
                raise BundleError("manifest: validation.labels must be a list of strings")
            agreement = raw.get("agreement_min")
            source = raw.get("source", {})
            if not isinstance(source, Mapping):
                raise BundleError("manifest: validation.source must be an object")
            calibration = cls(
                labels=tuple(labels),
                logprob_mean_min=_finite(raw["logprob_mean_min"], "logprob_mean_min"),
                logprob_min_min=_finite(raw["logprob_min_min"], "logprob_min_min"),
                agreement_min=None if agreement is None else _finite(agreement, "agreement_min"),
                source=dict(source),
            )
        except KeyError as exc:
            raise BundleError(f"manifest: missing key validation.{exc.args[0]}") from None
        return calibration

    def to_dict(self) -> dict[str, Any]:
        return {
            "labels": list(self.labels),
            "logprob_mean_min": self.logprob_mean_min,
            "logprob_min_min": self.logprob_min_min,
            "agreement_min": self.agreement_min,
            "source": dict(self.source),
        }


def _finite(value: Any, key: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise BundleError(f"manifest: validation.{key} must be a finite number, got {value!r}")
    return float(value)


@dataclass(frozen=True)
class Manifest:
    name: str
    bundle_id: str
    created_at: str
    files: Mapping[str, Mapping[str, Any]]
    variants: Mapping[str, Mapping[str, str]]
    preprocessing: Preprocessing
    tokenizer: TokenizerInfo
    decoder: DecoderInfo
    max_new_tokens: int
    model_card: str | None = None
    metrics: Mapping[str, Any] = field(default_factory=dict)
    graphs: Mapping[str, Any] = field(default_factory=dict)
    quantization: Mapping[str, Any] = field(default_factory=dict)  # what the INT8 guard measured and chose
    finding_labels: tuple[str, ...] = ()  # names of the encoder's "finding_logits" columns; () = no head
    validation: ValidationCalibration | None = None

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Manifest:
        def need(mapping: Mapping[str, Any], key: str, where: str) -> Any:
            if not isinstance(mapping, Mapping) or key not in mapping:
                raise BundleError(f"manifest: missing key {where}{key}")
            return mapping[key]

        if need(raw, "format", "") != FORMAT:
            raise BundleError(f"manifest: format is {raw.get('format')!r}, expected {FORMAT!r}")
        pre = need(raw, "preprocessing", "")
        tok = need(raw, "tokenizer", "")
        dec = need(raw, "decoder", "")
        head = raw.get("finding_head") or {}
        labels = head.get("labels", []) if isinstance(head, Mapping) else None
        if not isinstance(labels, list) or not all(isinstance(x, str) for x in labels):
            raise BundleError("manifest: finding_head.labels must be a list of strings")
        validation = None if raw.get("validation") is None else ValidationCalibration.from_dict(raw["validation"])
        if validation is not None and labels and validation.labels != tuple(labels):
            raise BundleError("manifest: validation.labels differ from finding_head.labels")
        try:
            return cls(
                name=str(need(raw, "name", "")),
                bundle_id=str(need(raw, "bundle_id", "")),
                created_at=str(need(raw, "created_at", "")),
                files=dict(need(raw, "files", "")),
                variants={k: dict(v) for k, v in need(raw, "variants", "").items()},
                preprocessing=Preprocessing(
                    image_size=int(need(pre, "image_size", "preprocessing.")),
                    mean=tuple(float(x) for x in need(pre, "mean", "preprocessing.")),  # type: ignore[arg-type]
                    std=tuple(float(x) for x in need(pre, "std", "preprocessing.")),  # type: ignore[arg-type]
                    resize=str(pre.get("resize", "shortest_side")),
                    crop=str(pre.get("crop", "center")),
                    interpolation=str(pre.get("interpolation", "bicubic")),
                ),
                tokenizer=TokenizerInfo(
                    file=str(need(tok, "file", "tokenizer.")),
                    pad_token_id=int(need(tok, "pad_token_id", "tokenizer.")),
                    eos_token_id=int(need(tok, "eos_token_id", "tokenizer.")),
                    decoder_start_token_id=int(need(tok, "decoder_start_token_id", "tokenizer.")),
                ),
                decoder=DecoderInfo(
                    **{k: int(need(dec, k, "decoder.")) for k in ("num_layers", "num_heads", "d_kv", "vocab_size")}
                ),
                max_new_tokens=int(need(need(raw, "generation", ""), "max_new_tokens", "generation.")),
                model_card=raw.get("model_card"),
                metrics=dict(raw.get("metrics", {})),
                graphs=dict(raw.get("graphs", {})),
                quantization=dict(raw.get("quantization", {})),
                finding_labels=tuple(labels),
                validation=validation,
            )
        except (TypeError, ValueError, AttributeError) as exc:
            raise BundleError(f"manifest: malformed value: {exc}") from exc


class ModelBundle:
    """A verified bundle held in memory. Use `ModelBundle.open(directory)`."""

    def __init__(self, directory: Path, manifest: Manifest, blobs: Mapping[str, bytes]) -> None:
        self.directory = directory
        self.manifest = manifest
        self._blobs = dict(blobs)

    @classmethod
    def open(cls, directory: Path | str) -> ModelBundle:
        directory = Path(directory)
        path = directory / MANIFEST
        try:
            raw = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError as exc:
            raise BundleError(f"no {MANIFEST} in {directory}") from exc
        except (OSError, ValueError) as exc:
            raise BundleError(f"cannot read {path}: {exc}") from exc
        manifest = Manifest.from_dict(raw)
        blobs = {name: _read_verified(directory, name, entry) for name, entry in manifest.files.items()}
        if not manifest.bundle_id.endswith(bundle_digest(manifest.files)[:16]):
            raise BundleIntegrityError("bundle_id does not match the listed file hashes")
        for precision, graphs in manifest.variants.items():
            for role in ("encoder", "decoder"):
                if graphs.get(role) not in blobs:
                    raise BundleError(f"manifest: variants.{precision}.{role} names no listed file")
        if manifest.tokenizer.file not in blobs:
            raise BundleError("manifest: tokenizer.file names no listed file")
        return cls(directory, manifest, blobs)

    @property
    def bundle_id(self) -> str:
        return self.manifest.bundle_id

    @property
    def precisions(self) -> tuple[str, ...]:
        return tuple(self.manifest.variants)

    def blob(self, name: str) -> bytes:
        """Verified bytes of a listed file."""
        try:
            return self._blobs[name]
        except KeyError:
            raise BundleError(f"{name} is not part of bundle {self.bundle_id}") from None

    def graph_bytes(self, precision: str, role: str) -> bytes:
        try:
            name = self.manifest.variants[precision][role]
        except KeyError:
            raise BundleError(f"bundle {self.bundle_id} has no {precision} {role} (has {self.precisions})") from None
        return self.blob(name)


def _read_verified(directory: Path, name: str, entry: Mapping[str, Any]) -> bytes:
    pure = PurePosixPath(name)
    if pure.is_absolute() or ".." in pure.parts or len(pure.parts) != 1:
        raise BundleIntegrityError(f"{name}: file names in a bundle must be plain names")
    path = directory / name
    if path.is_symlink():
        raise BundleIntegrityError(f"{name}: symbolic links are not accepted in a bundle")
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise BundleIntegrityError(f"{name}: listed in the manifest but missing") from None
    if len(data) != int(entry.get("bytes", -1)):
        raise BundleIntegrityError(f"{name}: size {len(data)} differs from the manifest's {entry.get('bytes')}")
    if sha256_bytes(data) != entry.get("sha256"):
        raise BundleIntegrityError(f"{name}: SHA-256 differs from the manifest; the file was altered or corrupted")
    return data
