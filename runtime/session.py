"""ONNX Runtime sessions for a bundle: session options and execution providers, chosen on purpose.

Contract:
- `SessionSettings` is what the operator decides (config `[model]`): threads, spinning, providers,
  GPU device, TensorRT engine cache and the largest batch TensorRT must plan for.
- `session_options(settings)` sets intra-op threads to the cores given to the service (0 lets ONNX
  Runtime take every core), one inter-op thread (the graphs are sequential), full graph optimisation,
  and turns intra-op spinning off when the box is shared: idle worker threads then sleep instead of
  burning the cores the DICOM listener and gRPC server need.
- `resolve_providers(settings, manifest)` returns (provider, options) pairs in the order TensorRT ->
  CUDA -> CPU among those this onnxruntime build offers (or exactly the configured list, failing
  when one is not available: a GPU box that silently runs on CPU is a misconfiguration).
- `create_session(model_bytes, settings, providers)` builds a session from verified bytes;
  `cpu_session(model)` is the CPU-only one that export and the benchmarks compare graphs with.

GPU-specific option dictionaries live in runtime.gpu.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnxruntime as ort

from runtime import gpu
from runtime.errors import BundleError

PREFERRED_PROVIDERS = ("TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider")
GPU_PROVIDERS = frozenset({"TensorrtExecutionProvider", "CUDAExecutionProvider"})


class ProviderUnavailable(BundleError):
    """A configured execution provider is not offered by the installed onnxruntime."""


@dataclass(frozen=True)
class SessionSettings:
    intra_op_threads: int = 0
    allow_spinning: bool = True
    providers: tuple[str, ...] = ()  # empty: every available one, TensorRT -> CUDA -> CPU
    device_id: int = 0
    engine_cache_dir: Path | None = None  # TensorRT engines (device-specific); None: no cache
    trt_fp16: bool = True
    max_batch: int = 8  # TensorRT optimisation profiles cover batch 1..max_batch
    max_new_tokens: int = 128  # ... and past lengths 0..max_new_tokens
    max_prompt_tokens: int = 64  # ... and prompt lengths 1..max_prompt_tokens
    extra: tuple[tuple[str, str], ...] = field(default=())  # raw session config entries, for experiments


def session_options(settings: SessionSettings) -> ort.SessionOptions:
    options = ort.SessionOptions()
    options.intra_op_num_threads = settings.intra_op_threads
    options.inter_op_num_threads = 1
    options.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "1" if settings.allow_spinning else "0")
    for key, value in settings.extra:
        options.add_session_config_entry(key, value)
    return options


def available_providers(preferred: Sequence[str] = PREFERRED_PROVIDERS) -> list[str]:
    present = set(ort.get_available_providers())
    return [p for p in preferred if p in present]


def resolve_providers(settings: SessionSettings, graph: str, manifest: Any) -> list[tuple[str, dict[str, Any]]]:
    """(provider, options) pairs for one graph ("encoder" or "decoder") of a bundle."""
    if settings.providers:
        present = set(ort.get_available_providers())
        missing = [p for p in settings.providers if p not in present]
        if missing:
            raise ProviderUnavailable(
                f"execution provider(s) {', '.join(missing)} not available in this onnxruntime "
                f"(available: {', '.join(sorted(present))})"
            )
        names = list(settings.providers)
    else:
        names = available_providers()
    if "CPUExecutionProvider" not in names:
        names.append("CPUExecutionProvider")  # the fallback for nodes a GPU provider does not take
    out: list[tuple[str, dict[str, Any]]] = []
    for name in names:
        if name == "TensorrtExecutionProvider":
            out.append((name, gpu.tensorrt_options(settings, graph, manifest)))
        elif name == "CUDAExecutionProvider":
            out.append((name, gpu.cuda_options(settings)))
        else:
            out.append((name, {}))
    return out


def create_session(
    model: bytes | str, settings: SessionSettings, providers: Sequence[tuple[str, dict[str, Any]]]
) -> ort.InferenceSession:
    return ort.InferenceSession(
        model,
        session_options(settings),
        providers=[name for name, _ in providers],
        provider_options=[opts for _, opts in providers],
    )


def cpu_session(model: bytes | str, *, threads: int = 0) -> ort.InferenceSession:
    """A CPU-only session with the service's options: for checks that compare graphs (export, bench)."""
    return create_session(model, SessionSettings(intra_op_threads=threads), [("CPUExecutionProvider", {})])


def device_of(session: ort.InferenceSession) -> str:
    """ "cuda" when the session's first provider is a GPU one, else "cpu" (where IO binding puts tensors)."""
    return "cuda" if session.get_providers()[0] in GPU_PROVIDERS else "cpu"
