"""Write a model bundle: ONNX graphs (fp32 and optional dynamic INT8), tokenizer, model card, manifest.

The manifest is written last and lists the SHA-256 of every other file; runtime.bundle refuses a
bundle whose files do not match it. INT8 uses ONNX Runtime's dynamic quantization after its
quantization preprocessing (shape inference + graph optimisation), weights per channel.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import tempfile
from pathlib import Path
from typing import Any, Mapping

from export.onnx_export import export_model
from export.spec import graph_specs
from runtime.bundle import FORMAT, MANIFEST, bundle_digest, sha256_bytes
from training.model import CLIP_MEAN, CLIP_STD, ReportModel

log = logging.getLogger("securemed.export")

TOKENIZER_FILE = "tokenizer.json"
MODEL_CARD_FILE = "model_card.md"
CONFIG_FILE = "model_config.json"


def quantize_int8(src: Path, dst: Path) -> None:
    """Dynamic INT8 (weights per channel, activations quantised at run time) of one graph."""
    from onnxruntime.quantization import QuantType, quantize_dynamic
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared.onnx"
        quant_pre_process(str(src), str(prepared), skip_symbolic_shape=True)
        quantize_dynamic(str(prepared), str(dst), weight_type=QuantType.QInt8, per_channel=True)


def export_graphs(model: ReportModel, out_dir: Path, *, int8: bool) -> dict[str, dict[str, str]]:
    """Export (and optionally quantise) the graphs into out_dir; returns the manifest's variants."""
    specs = export_model(model, out_dir)
    variants = {"fp32": {role: spec.file for role, spec in specs.items()}}
    if int8:
        variants["int8"] = {}
        for role, spec in specs.items():
            name = spec.file.replace(".onnx", ".int8.onnx")
            quantize_int8(out_dir / spec.file, out_dir / name)
            variants["int8"][role] = name
    return variants


def write_manifest(
    model: ReportModel,
    out_dir: Path,
    *,
    name: str,
    variants: Mapping[str, Mapping[str, str]],
    max_new_tokens: int,
    metrics: Mapping[str, Any] | None = None,
    model_card: str | None = None,
) -> dict[str, Any]:
    """Write model card + manifest over every file now in out_dir; returns the manifest."""
    (out_dir / CONFIG_FILE).write_text(model.cfg.to_json())
    if model_card is not None:
        (out_dir / MODEL_CARD_FILE).write_text(model_card)
    files = {}
    for path in sorted(out_dir.iterdir()):
        if path.name == MANIFEST or not path.is_file():
            continue
        data = path.read_bytes()
        files[path.name] = {"sha256": sha256_bytes(data), "bytes": len(data)}
    t5 = model.t5.config
    encoder, decoder = graph_specs(model)
    manifest = {
        "format": FORMAT,
        "name": name,
        "bundle_id": f"{name}-{bundle_digest(files)[:16]}",
        "created_at": dt.datetime.now(dt.timezone.utc).replace(microsecond=0).isoformat(),
        "files": files,
        "variants": {k: dict(v) for k, v in variants.items()},
        "graphs": {
            spec.name: {
                "inputs": [t.to_manifest() for t in spec.inputs],
                "outputs": [t.to_manifest() for t in spec.outputs],
                "tolerance_vs_torch": {"atol": spec.tolerance.atol, "rtol": spec.tolerance.rtol},
            }
            for spec in (encoder, decoder)
        },
        "preprocessing": {
            "image_size": model.cfg.vision.image_size, "mean": list(CLIP_MEAN), "std": list(CLIP_STD),
            "resize": "shortest_side", "crop": "center", "interpolation": "bicubic",
            "windowing": "modality LUT, VOI LUT (window or sequence), MONOCHROME1 inverted",
        },
        "tokenizer": {
            "file": TOKENIZER_FILE, "pad_token_id": t5.pad_token_id, "eos_token_id": t5.eos_token_id,
            "decoder_start_token_id": t5.decoder_start_token_id,
        },
        "decoder": {
            "num_layers": t5.num_decoder_layers, "num_heads": t5.num_heads, "d_kv": t5.d_kv,
            "vocab_size": t5.vocab_size,
        },
        "generation": {"strategy": "greedy", "max_new_tokens": max_new_tokens},
        "model_card": MODEL_CARD_FILE if (out_dir / MODEL_CARD_FILE).exists() else None,
        "metrics": dict(metrics or {}),
    }
    (out_dir / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
    return manifest


def write_bundle(
    model: ReportModel,
    tokenizer_file: Path,
    out_dir: Path,
    *,
    name: str,
    int8: bool = True,
    max_new_tokens: int = 96,
    metrics: Mapping[str, Any] | None = None,
    model_card: str | None = None,
) -> dict[str, Any]:
    """Export a complete bundle into a fresh out_dir (an existing one is replaced)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    shutil.copyfile(tokenizer_file, out_dir / TOKENIZER_FILE)
    variants = export_graphs(model, out_dir, int8=int8)
    return write_manifest(
        model, out_dir, name=name, variants=variants, max_new_tokens=max_new_tokens,
        metrics=metrics, model_card=model_card,
    )
