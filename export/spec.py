"""One declarative spec per exported sub-model: names, dtypes, symbolic shapes, tolerances.

The same spec drives the ONNX export (input/output names, dynamic axes), the numeric validation
against PyTorch, and the input/output description written into the bundle manifest, so the three
cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import torch

from export.graphs import DecoderStepGraph, EncoderGraph
from training.model import ReportModel

OPSET = 17


@dataclass(frozen=True)
class TensorSpec:
    name: str
    dtype: str  # numpy dtype name: "float32", "int64"
    shape: tuple[int | str, ...]  # ints are fixed, strings are symbolic (dynamic) axes

    def dynamic_axes(self) -> dict[int, str]:
        return {i: d for i, d in enumerate(self.shape) if isinstance(d, str)}

    def to_manifest(self) -> dict[str, object]:
        return {"name": self.name, "dtype": self.dtype, "shape": list(self.shape)}


@dataclass(frozen=True)
class Tolerance:
    """|onnx - torch| <= atol + rtol * |torch|, elementwise."""

    atol: float
    rtol: float


@dataclass(frozen=True)
class GraphSpec:
    name: str
    file: str
    build: Callable[[ReportModel], torch.nn.Module]
    inputs: tuple[TensorSpec, ...]
    outputs: tuple[TensorSpec, ...]
    tolerance: Tolerance


def _cache_specs(prefix: str, layers: int, heads: int, d_kv: int, length: str) -> tuple[TensorSpec, ...]:
    specs: list[TensorSpec] = []
    for i in range(layers):
        for kind in ("key", "value"):
            specs.append(TensorSpec(f"{prefix}_{kind}_{i}", "float32", ("batch", heads, length, d_kv)))
    return tuple(specs)


def graph_specs(model: ReportModel) -> tuple[GraphSpec, GraphSpec]:
    """The encoder and decoder-step specs for this model's dimensions."""
    v, t5 = model.cfg.vision, model.t5.config
    layers, heads, d_kv = t5.num_decoder_layers, t5.num_heads, t5.d_kv
    cross = _cache_specs("cross", layers, heads, d_kv, "encoder_length")
    # The finding head rides on the encoder graph rather than a graph of its own: it needs the ViT's
    # tokens, which the encoder computes anyway (a separate graph would run the ViT twice per study),
    # and it inherits the encoder's manifest hash, INT8 guard, fp16 variant and TensorRT profiles.
    head = (
        (TensorSpec("finding_logits", "float32", ("batch", len(model.cfg.labels))),)
        if model.finding_head is not None
        else ()
    )
    encoder = GraphSpec(
        name="encoder",
        file="encoder.onnx",
        build=EncoderGraph,
        inputs=(
            TensorSpec("pixel_values", "float32", ("batch", 3, v.image_size, v.image_size)),
            TensorSpec("prompt_ids", "int64", ("batch", "prompt_length")),
            TensorSpec("prompt_mask", "int64", ("batch", "prompt_length")),
        ),
        outputs=(
            TensorSpec("encoder_hidden_states", "float32", ("batch", "encoder_length", t5.d_model)),
            TensorSpec("encoder_attention_mask", "int64", ("batch", "encoder_length")),
            *cross,
            *head,
        ),
        tolerance=Tolerance(atol=1e-4, rtol=1e-3),
    )
    decoder = GraphSpec(
        name="decoder",
        file="decoder.onnx",
        build=DecoderStepGraph,
        inputs=(
            TensorSpec("input_ids", "int64", ("batch", 1)),
            TensorSpec("encoder_attention_mask", "int64", ("batch", "encoder_length")),
            *_cache_specs("past", layers, heads, d_kv, "past_length"),
            *cross,
        ),
        outputs=(
            TensorSpec("logits", "float32", ("batch", t5.vocab_size)),
            *_cache_specs("present", layers, heads, d_kv, "present_length"),
        ),
        tolerance=Tolerance(atol=1e-4, rtol=1e-3),
    )
    return encoder, decoder


def example_inputs(
    spec: GraphSpec, model: ReportModel, *, batch: int, seed: int, prompt_length: int = 3, past_length: int = 2
) -> tuple[torch.Tensor, ...]:
    """Random inputs matching `spec`, with consistent symbolic dimensions."""
    gen = torch.Generator().manual_seed(seed)
    n_image = model.cfg.vision.num_tokens
    sizes = {
        "batch": batch,
        "prompt_length": prompt_length,
        "past_length": past_length,
        "encoder_length": n_image + prompt_length,
    }
    vocab = model.t5.config.vocab_size
    out: list[torch.Tensor] = []
    for t in spec.inputs:
        shape = tuple(sizes[d] if isinstance(d, str) else d for d in t.shape)
        if t.name in ("prompt_ids", "input_ids"):
            out.append(torch.randint(2, vocab, shape, generator=gen))
        elif t.name in ("prompt_mask", "encoder_attention_mask"):
            mask = torch.ones(shape, dtype=torch.long)
            mask[0, -1] = 0  # one padded position, so masking is exercised
            out.append(mask)
        else:
            out.append(torch.randn(shape, generator=gen))
    return tuple(out)
