"""Write a model bundle: ONNX graphs (fp32 and optional dynamic INT8), tokenizer, model card, manifest.

The manifest is written last and lists the SHA-256 of every other file; runtime.bundle refuses a
bundle whose files do not match it. INT8 uses ONNX Runtime's dynamic quantization after its
quantization preprocessing (shape inference + graph optimisation), weights per channel; the
quality guard (export.quality) decides whether every graph, the decoder only, or nothing ships as
INT8, and the manifest's "quantization" record says what it measured.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from export.onnx_export import export_model
from export.quality import MIN_TOKEN_AGREEMENT, GraphPair, QualityError, choose_int8, probe_inputs
from export.spec import graph_specs
from runtime.bundle import FORMAT, MANIFEST, ValidationCalibration, bundle_digest, sha256_bytes
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


@dataclass(frozen=True)
class Int8Guard:
    """How export.quality judges the INT8 candidates before one becomes the bundle's "int8" variant.

    probe: (pixel_values, prompt_ids, prompt_mask) to judge on (a trained model's own held-out
    images are best); None draws `inputs` random images. enabled=False ships full INT8 unjudged and
    says so in the manifest.
    """

    enabled: bool = True
    inputs: int = 32
    steps: int = 16
    min_agreement: float = MIN_TOKEN_AGREEMENT
    probe: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None


def _guard_int8(
    model: ReportModel, out_dir: Path, files: Mapping[str, str], guard: Int8Guard, threads: int
) -> tuple[dict[str, str] | None, dict[str, Any]]:
    """(the int8 variant's files or None, the manifest's record of the decision)."""
    enc32, dec32 = str(out_dir / files["encoder"]), str(out_dir / files["decoder"])
    enc8, dec8 = str(out_dir / files["encoder_int8"]), str(out_dir / files["decoder_int8"])
    options = {
        "int8": {"encoder": files["encoder_int8"], "decoder": files["decoder_int8"]},
        "int8-decoder-only": {"encoder": files["encoder"], "decoder": files["decoder_int8"]},
    }
    if not guard.enabled:
        return options["int8"], {"int8": "int8", "guard": "disabled"}
    probe = guard.probe or probe_inputs(model.cfg.vision.image_size, guard.inputs)
    reference = GraphPair(enc32, dec32, threads=threads)
    try:
        choice, results = choose_int8(
            reference,
            [
                ("int8", lambda: GraphPair(enc8, dec8, threads=threads)),
                ("int8-decoder-only", lambda: GraphPair(enc32, dec8, threads=threads)),
            ],
            probe,
            steps=guard.steps,
            start=model.decoder_start_token_id,
            min_agreement=guard.min_agreement,
        )
    except QualityError as exc:
        # Unjudged INT8 does not ship: an fp32-only bundle is slower, never wrong.
        log.warning("int8 guard: cannot judge (%s); the bundle has no int8 variant", exc)
        return None, {"int8": None, "not_judged": str(exc)}
    record = {
        "int8": choice,
        "min_token_agreement": guard.min_agreement,
        "candidates": [r.to_dict() for r in results],
    }
    for r in results:
        log.info(
            "int8 guard: %s token agreement %.3f, logit rel. error median %.4f",
            r.candidate,
            r.token_agreement,
            r.logit_rel_error_median,
        )
    if choice is None:
        log.warning(
            "int8 guard: no INT8 candidate keeps %.2f token agreement; the bundle has no int8 variant",
            guard.min_agreement,
        )
        return None, record
    return options[choice], record


def export_graphs(
    model: ReportModel,
    out_dir: Path,
    *,
    int8: bool,
    fp16: bool = False,
    guard: Int8Guard = Int8Guard(),
    threads: int = 0,
) -> tuple[dict[str, dict[str, str]], dict[str, Any]]:
    """Export (and optionally quantise) the graphs into out_dir.

    Returns the manifest's variants and its quantization record. INT8 is judged by `guard`: every
    graph quantised if token agreement holds, else the decoder only, else no int8 variant; files no
    variant uses are removed.
    """
    specs = export_model(model, out_dir)
    fp32 = {role: spec.file for role, spec in specs.items()}
    variants: dict[str, dict[str, str]] = {"fp32": dict(fp32)}
    record: dict[str, Any] = {}
    if int8:
        quantized = {f"{role}_int8": file.replace(".onnx", ".int8.onnx") for role, file in fp32.items()}
        for role, file in fp32.items():
            quantize_int8(out_dir / file, out_dir / quantized[f"{role}_int8"])
        chosen, record = _guard_int8(model, out_dir, {**fp32, **quantized}, guard, threads)
        if chosen is not None:
            variants["int8"] = chosen
    if fp16:
        from export.fp16 import convert_fp16
        from export.spec import example_inputs

        variants["fp16"] = {}
        for role, file in fp32.items():
            spec = specs[role]
            # Calibration finds the nodes whose values leave fp16's range; they stay fp32.
            samples = [
                {t.name: a.numpy() for t, a in zip(spec.inputs, example_inputs(spec, model, batch=2, seed=s))}
                for s in (0, 1)
            ]
            name = file.replace(".onnx", ".fp16.onnx")
            convert_fp16(out_dir / file, out_dir / name, calibration=samples)
            variants["fp16"][role] = name
    used = {f for v in variants.values() for f in v.values()}
    for path in out_dir.glob("*.onnx"):
        if path.name not in used:
            path.unlink()
    return variants, record


def write_manifest(
    model: ReportModel,
    out_dir: Path,
    *,
    name: str,
    variants: Mapping[str, Mapping[str, str]],
    max_new_tokens: int,
    metrics: Mapping[str, Any] | None = None,
    model_card: str | None = None,
    quantization: Mapping[str, Any] | None = None,
    validation: ValidationCalibration | Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """Write model card + manifest over every file now in out_dir; returns the manifest.

    A model with a finding head gets a "finding_head" record (its output name and label names);
    `validation` (the anomaly thresholds, runtime.bundle.ValidationCalibration or its dict form) is
    checked by parsing it back and written under "validation".
    """
    if validation is not None and not isinstance(validation, ValidationCalibration):
        validation = ValidationCalibration.from_dict(validation)
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
            "image_size": model.cfg.vision.image_size,
            "mean": list(CLIP_MEAN),
            "std": list(CLIP_STD),
            "resize": "shortest_side",
            "crop": "center",
            "interpolation": "bicubic",
            "windowing": "modality LUT, VOI LUT (window or sequence), MONOCHROME1 inverted",
        },
        "tokenizer": {
            "file": TOKENIZER_FILE,
            "pad_token_id": t5.pad_token_id,
            "eos_token_id": t5.eos_token_id,
            "decoder_start_token_id": t5.decoder_start_token_id,
        },
        "decoder": {
            "num_layers": t5.num_decoder_layers,
            "num_heads": t5.num_heads,
            "d_kv": t5.d_kv,
            "vocab_size": t5.vocab_size,
        },
        "generation": {"strategy": "greedy", "max_new_tokens": max_new_tokens},
        "model_card": MODEL_CARD_FILE if (out_dir / MODEL_CARD_FILE).exists() else None,
        "metrics": dict(metrics or {}),
        "quantization": dict(quantization or {}),
    }
    if model.finding_head is not None:
        manifest["finding_head"] = {"output": "finding_logits", "labels": list(model.cfg.labels)}
        if validation is not None and validation.labels != tuple(model.cfg.labels):
            raise ValueError("validation.labels must be the finding head's labels")
    if validation is not None:
        manifest["validation"] = validation.to_dict()
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
    fp16: bool = False,
    guard: Int8Guard = Int8Guard(),
    threads: int = 0,
) -> dict[str, Any]:
    """Export a complete bundle into a fresh out_dir (an existing one is replaced)."""
    if out_dir.exists():
        shutil.rmtree(out_dir)
    out_dir.mkdir(parents=True)
    shutil.copyfile(tokenizer_file, out_dir / TOKENIZER_FILE)
    variants, quantization = export_graphs(model, out_dir, int8=int8, fp16=fp16, guard=guard, threads=threads)
    return write_manifest(
        model,
        out_dir,
        name=name,
        variants=variants,
        max_new_tokens=max_new_tokens,
        metrics=metrics,
        model_card=model_card,
        quantization=quantization,
    )
