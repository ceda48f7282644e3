"""Model bundles: a directory with a manifest, ONNX graphs, a tokenizer and a model card.

Contract: `ModelBundle.open(directory)` reads every file the manifest lists, checks its SHA-256 and
size, and keeps the verified bytes; sessions are created from those bytes, never by re-reading the
files, so what was checked is what runs. A missing, extra-but-listed, or altered file raises
BundleIntegrityError before any ONNX Runtime session exists.

Manifest layout (manifest.json, format "securemed-bundle/1"):
  name, bundle_id, created_at, files{name: {sha256, bytes}}, variants{precision: {encoder, decoder}},
  graphs{file: {inputs, outputs}}, preprocessing{...}, tokenizer{file, pad/eos/decoder_start ids},
  decoder{num_layers, num_heads, d_kv, vocab_size}, generation{max_new_tokens}, model_card, metrics,
  quantization{int8: the chosen INT8 candidate or null, candidates: agreement measurements}.
"""

from __future__ import annotations

import hashlib
import json
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
