"""Export the graphs of a report model to ONNX and validate them against PyTorch.

Validation runs ONNX Runtime and PyTorch on fresh random inputs whose dynamic dimensions differ from
the ones used while tracing (so a dimension baked in by accident is caught), compares every output
against the spec's tolerance, and then compares whole greedy generations token by token.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
import torch

from export.graphs import greedy_with_graphs
from export.spec import OPSET, GraphSpec, example_inputs, graph_specs
from runtime.session import cpu_session
from training.model import ReportModel

log = logging.getLogger("securemed.export")


class ExportError(Exception):
    """An exported graph is missing, malformed, or disagrees with PyTorch beyond tolerance."""


@dataclass(frozen=True)
class GraphCheck:
    graph: str
    output: str
    max_abs_error: float
    max_rel_error: float
    within_tolerance: bool


def export_graph(spec: GraphSpec, model: ReportModel, path: Path) -> None:
    module = spec.build(model).eval()
    args = example_inputs(spec, model, batch=2, seed=0)
    dynamic = {t.name: t.dynamic_axes() for t in (*spec.inputs, *spec.outputs) if t.dynamic_axes()}
    with torch.no_grad():
        # The TorchScript exporter: it handles the decoder's zero-length first-step cache and
        # symbolic past length without the guards torch.export would need.
        torch.onnx.export(
            module,
            args,
            str(path),
            dynamo=False,
            opset_version=OPSET,
            input_names=[t.name for t in spec.inputs],
            output_names=[t.name for t in spec.outputs],
            dynamic_axes=dynamic,
            do_constant_folding=True,
        )
    onnx.checker.check_model(str(path))
    log.info("exported %s to %s", spec.name, path.name)


def export_model(model: ReportModel, out_dir: Path) -> dict[str, GraphSpec]:
    model.eval()
    out_dir.mkdir(parents=True, exist_ok=True)
    specs = {}
    for spec in graph_specs(model):
        export_graph(spec, model, out_dir / spec.file)
        specs[spec.name] = spec
    return specs


def check_graph(
    spec: GraphSpec, model: ReportModel, path: Path, *, seeds: tuple[int, ...] = (11, 12)
) -> list[GraphCheck]:
    """Compare ONNX Runtime with PyTorch on fresh inputs; shapes differ from the traced ones."""
    session = cpu_session(str(path))
    module = spec.build(model).eval()
    checks: list[GraphCheck] = []
    for seed in seeds:
        args = example_inputs(spec, model, batch=3, seed=seed, prompt_length=5, past_length=seed % 4)
        with torch.no_grad():
            expected = [t.numpy() for t in module(*args)]
        feeds = {t.name: a.numpy() for t, a in zip(spec.inputs, args)}
        actual = session.run([t.name for t in spec.outputs], feeds)
        for t, want, got in zip(spec.outputs, expected, actual):
            if want.shape != got.shape:
                raise ExportError(f"{spec.name}.{t.name}: shape {got.shape} != torch {want.shape}")
            diff = np.abs(got.astype(np.float64) - want.astype(np.float64))
            rel = diff / np.maximum(np.abs(want), 1e-6)
            ok = bool(np.all(diff <= spec.tolerance.atol + spec.tolerance.rtol * np.abs(want)))
            checks.append(GraphCheck(spec.name, t.name, float(diff.max(initial=0)), float(rel.max(initial=0)), ok))
    return checks


def validate_export(model: ReportModel, out_dir: Path) -> list[GraphCheck]:
    """Raise ExportError if any graph output exceeds its tolerance; return all comparisons."""
    checks: list[GraphCheck] = []
    for spec in graph_specs(model):
        checks += check_graph(spec, model, out_dir / spec.file)
    bad = [c for c in checks if not c.within_tolerance]
    if bad:
        worst = max(bad, key=lambda c: c.max_abs_error)
        raise ExportError(f"{len(bad)} outputs beyond tolerance; worst {worst}")
    return checks


def token_parity(
    model: ReportModel,
    generate_fn,
    pixel_values: np.ndarray,
    prompt_ids: np.ndarray,
    prompt_mask: np.ndarray,
    max_new_tokens: int,
) -> tuple[int, int]:
    """(identical sequences, total) of `generate_fn` against transformers' greedy generation.

    `generate_fn(pixel_values, prompt_ids, prompt_mask, max_new_tokens) -> list[list[int]]` is the
    candidate (usually the ONNX runtime). Sequences are compared without trailing padding.
    """
    with torch.no_grad():
        reference = model.generate(
            torch.from_numpy(pixel_values),
            torch.from_numpy(prompt_ids),
            torch.from_numpy(prompt_mask),
            max_new_tokens=max_new_tokens,
        )
    pad = model.pad_token_id
    want = [_strip(row.tolist()[1:], pad) for row in reference]
    got = [_strip(list(row), pad) for row in generate_fn(pixel_values, prompt_ids, prompt_mask, max_new_tokens)]
    return sum(a == b for a, b in zip(want, got)), len(want)


def _strip(tokens: list[int], pad: int) -> list[int]:
    while tokens and tokens[-1] == pad:
        tokens.pop()
    return tokens


__all__ = [
    "ExportError",
    "GraphCheck",
    "export_model",
    "validate_export",
    "token_parity",
    "greedy_with_graphs",
]
