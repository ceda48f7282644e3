"""Option dictionaries for the GPU execution providers (TensorRT, CUDA). Importing this needs no GPU.

Contract:
- `cuda_options(settings)`: CUDA execution provider options (device, arena growth, cuDNN search).
- `tensorrt_options(settings, graph, manifest)`: TensorRT execution provider options for one graph
  ("encoder" or "decoder") of a bundle: explicit optimisation profiles covering every dynamic input,
  fp16, workspace, and the engine + timing caches. Creates the cache directories (mode 0700) when
  `settings.engine_cache_dir` is set, because the provider only creates the last path component.
- `profile_shapes(settings, graph, manifest)`: the min/opt/max shape of every dynamic graph input.
- `engine_cache_dir_for(settings, manifest)`: `<engine_cache_dir>/<bundle_id>`, or None without a cache.

Why explicit profiles: without them the TensorRT provider sizes its profile from the shapes it has
seen and rebuilds the engine whenever a larger one arrives; a decoder whose past length grows by one
every step would rebuild on every step of the first long report.

Why one directory per bundle: the provider names a cached engine after a hash of the graph's tensor
names (plus ORT/TensorRT/CUDA versions), not of its weights, and sessions here are created from bytes,
so no file name enters the hash either. Two bundles of the same architecture would therefore find
each other's engines, and a model update would silently keep running the old weights. The bundle id
is a digest of the bundle's files, so a per-bundle directory keys the cache on content.

The option names are those of onnxruntime-gpu >= 1.17 (trt_engine_cache_prefix and
trt_timing_cache_path first appear there); the Python binding rejects keys it does not know.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from runtime.errors import BundleError

GRAPHS = ("encoder", "decoder")
PATCH_SIZE = 16  # ViT-B/16: the encoder emits (image_size / 16)^2 patch tokens plus one class token
TIMING_CACHE_DIR = "timing"  # kernel timings hold no weights, so every bundle on a device shares them
_SAFE_COMPONENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,127}")


@dataclass(frozen=True)
class DimRange:
    """The min/opt/max extent of one symbolic dimension in a TensorRT optimisation profile."""

    min: int
    opt: int
    max: int

    def __post_init__(self) -> None:
        if not 0 <= self.min <= self.opt <= self.max:
            raise ValueError(f"profile range must satisfy 0 <= min <= opt <= max, got {self}")


@dataclass(frozen=True)
class TrtTuning:
    """Builder knobs that are not operator settings; the defaults are what the appliance ships with.

    opt_* pick the shapes TensorRT tunes kernels for: one study at a time, a short clinical
    indication, and the middle of a full-length report (the mean past length over its steps).
    """

    workspace_bytes: int = 1 << 30  # an upper bound for tactic scratch memory, not a reservation
    builder_optimization_level: int = 3  # TensorRT's default; 4-5 lengthen the first-start build
    opt_batch: int = 1
    opt_prompt_tokens: int = 8
    opt_past_fraction: float = 0.5


DEFAULT_TUNING = TrtTuning()


@dataclass(frozen=True)
class ProfileShapes:
    """min/opt/max shape of every dynamic input of one graph, in graph-input order."""

    names: tuple[str, ...]
    min: tuple[tuple[int, ...], ...]
    opt: tuple[tuple[int, ...], ...]
    max: tuple[tuple[int, ...], ...]

    def as_options(self) -> dict[str, str]:
        """The three trt_profile_* provider options ("name:dxdxd,name2:dxd")."""
        return {
            "trt_profile_min_shapes": format_profile(zip(self.names, self.min)),
            "trt_profile_opt_shapes": format_profile(zip(self.names, self.opt)),
            "trt_profile_max_shapes": format_profile(zip(self.names, self.max)),
        }


def format_profile(shapes: Any) -> str:
    """ "name:2x3x4,other:1x5" from (name, shape) pairs (the format trtexec and ORT share)."""
    parts = []
    for name, shape in shapes:
        if not name or any(c in name for c in ",:"):
            raise BundleError(f"input name {name!r} cannot be written into a TensorRT profile string")
        parts.append(f"{name}:{'x'.join(str(int(d)) for d in shape)}")
    return ",".join(parts)


def parse_profile(text: str) -> dict[str, tuple[int, ...]]:
    """Inverse of `format_profile`: {name: shape}. Raises ValueError on a malformed string."""
    out: dict[str, tuple[int, ...]] = {}
    for part in text.split(","):
        name, sep, dims = part.partition(":")
        if not sep or not name or not dims or name in out:
            raise ValueError(f"malformed profile entry {part!r}")
        out[name] = tuple(int(d) for d in dims.split("x"))
        if any(d < 0 for d in out[name]):
            raise ValueError(f"negative dimension in {part!r}")
    return out


def image_tokens(manifest: Any) -> int:
    """Encoder tokens that come from the image: (image_size / 16)^2 patches plus the class token."""
    size = int(manifest.preprocessing.image_size)
    if size <= 0 or size % PATCH_SIZE:
        raise BundleError(f"image_size {size} is not a positive multiple of the ViT patch size {PATCH_SIZE}")
    return (size // PATCH_SIZE) ** 2 + 1


def dimension_ranges(settings: Any, manifest: Any, tuning: TrtTuning = DEFAULT_TUNING) -> dict[str, DimRange]:
    """Range of every symbolic dimension the bundle's graphs use (present_length is output-only).

    The past length covers the larger of the operator's and the bundle's max_new_tokens: the
    generator decodes up to the bundle's limit unless told otherwise, and an input outside the
    profile fails the run instead of rebuilding.
    """
    if settings.max_batch < 1 or settings.max_prompt_tokens < 1 or settings.max_new_tokens < 1:
        raise BundleError("max_batch, max_prompt_tokens and max_new_tokens must be >= 1 for TensorRT profiles")
    batch = DimRange(1, min(max(tuning.opt_batch, 1), settings.max_batch), settings.max_batch)
    prompt_max = settings.max_prompt_tokens
    prompt = DimRange(1, min(max(tuning.opt_prompt_tokens, 1), prompt_max), prompt_max)
    past_max = max(settings.max_new_tokens, manifest.max_new_tokens)
    past = DimRange(0, min(past_max, round(past_max * tuning.opt_past_fraction)), past_max)
    n = image_tokens(manifest)
    return {
        "batch": batch,
        "prompt_length": prompt,
        "encoder_length": DimRange(n + prompt.min, n + prompt.opt, n + prompt.max),
        "past_length": past,
    }


def profile_shapes(settings: Any, graph: str, manifest: Any, tuning: TrtTuning = DEFAULT_TUNING) -> ProfileShapes:
    """min/opt/max shapes of every input of `graph` that has a symbolic dimension."""
    if graph not in GRAPHS:
        raise BundleError(f"unknown graph {graph!r} (expected one of {GRAPHS})")
    try:
        inputs = manifest.graphs[graph]["inputs"]
    except (KeyError, TypeError):
        raise BundleError(
            f"bundle {manifest.bundle_id}: the manifest does not describe the {graph} inputs, which "
            "TensorRT needs for its optimisation profiles"
        ) from None
    ranges = dimension_ranges(settings, manifest, tuning)
    names: list[str] = []
    shapes: dict[str, list[tuple[int, ...]]] = {"min": [], "opt": [], "max": []}
    for spec in inputs:
        dims = list(spec["shape"])
        if all(isinstance(d, int) for d in dims):
            continue  # a static input needs no profile
        unknown = [d for d in dims if isinstance(d, str) and d not in ranges]
        if unknown:
            raise BundleError(
                f"{graph} input {spec['name']} has symbolic dimension(s) {unknown} "
                "that the TensorRT profiles do not know"
            )
        names.append(str(spec["name"]))
        for which, rows in shapes.items():
            rows.append(tuple(getattr(ranges[d], which) if isinstance(d, str) else int(d) for d in dims))
    return ProfileShapes(tuple(names), tuple(shapes["min"]), tuple(shapes["opt"]), tuple(shapes["max"]))


def engine_cache_dir_for(settings: Any, manifest: Any) -> Path | None:
    """`<engine_cache_dir>/<bundle_id>`, or None when the operator configured no engine cache."""
    if settings.engine_cache_dir is None:
        return None
    bundle_id = str(manifest.bundle_id)
    if not _SAFE_COMPONENT.fullmatch(bundle_id):
        raise BundleError(f"bundle id {bundle_id!r} cannot name an engine cache directory")
    return Path(settings.engine_cache_dir) / bundle_id


def timing_cache_dir_for(settings: Any) -> Path | None:
    """The device-wide TensorRT timing cache (kernel timings only, shared across bundles)."""
    if settings.engine_cache_dir is None:
        return None
    return Path(settings.engine_cache_dir) / TIMING_CACHE_DIR


def cuda_options(settings: Any) -> dict[str, Any]:
    """CUDA execution provider options.

    kSameAsRequested: the decoder's cache tensors grow by one position per step, and doubling the
    arena for them would reserve up to twice the peak on a Jetson whose GPU shares the system RAM.
    HEURISTIC: the only convolution is the ViT's patch embedding; an exhaustive cuDNN search would
    be re-run for every new batch size for no measurable gain. Copies stay on the compute stream
    (the default; separate streams can race, onnxruntime issue #4829).
    """
    return {
        "device_id": int(settings.device_id),
        "arena_extend_strategy": "kSameAsRequested",
        "cudnn_conv_algo_search": "HEURISTIC",
        "do_copy_in_default_stream": True,
    }


def tensorrt_options(settings: Any, graph: str, manifest: Any, *, tuning: TrtTuning = DEFAULT_TUNING) -> dict[str, Any]:
    """TensorRT execution provider options for one graph of a bundle (see the module contract)."""
    options: dict[str, Any] = {
        "device_id": int(settings.device_id),
        "trt_fp16_enable": bool(settings.trt_fp16),
        # T5's RMS norm squares the hidden state (Pow + ReduceMean): in fp16 that overflows once a
        # value exceeds 256, so those layers stay in fp32 whenever fp16 kernels are allowed.
        "trt_layer_norm_fp32_fallback": bool(settings.trt_fp16),
        "trt_max_workspace_size": int(tuning.workspace_bytes),
        "trt_builder_optimization_level": int(tuning.builder_optimization_level),
        **profile_shapes(settings, graph, manifest, tuning).as_options(),
    }
    engines = engine_cache_dir_for(settings, manifest)
    timing = timing_cache_dir_for(settings)
    if engines is not None and timing is not None:
        _ensure_private_dir(engines)
        _ensure_private_dir(timing)
        options.update(
            trt_engine_cache_enable=True,
            trt_engine_cache_path=str(engines),
            trt_engine_cache_prefix=graph,  # readable file names: encoder_<hash>_..., decoder_<hash>_...
            trt_timing_cache_enable=True,
            trt_timing_cache_path=str(timing),
        )
    return options


def _ensure_private_dir(path: Path) -> None:
    try:
        path.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as exc:
        raise BundleError(f"cannot create the TensorRT cache directory {path}: {exc}") from exc


__all__ = [
    "DEFAULT_TUNING",
    "DimRange",
    "ProfileShapes",
    "TrtTuning",
    "cuda_options",
    "dimension_ranges",
    "engine_cache_dir_for",
    "format_profile",
    "image_tokens",
    "parse_profile",
    "profile_shapes",
    "tensorrt_options",
    "timing_cache_dir_for",
]
