"""Install-time TensorRT engine build: pay the minutes of engine building once, before serving.

Contract: `build_engines(bundle, settings, precision)` creates the bundle's TensorRT sessions with the
same provider options serving uses (runtime.gpu), which makes ONNX Runtime build the engines and
write them into `<settings.engine_cache_dir>/<bundle_id>/`; it then runs one warm-up generation at
the smallest shapes of the optimisation profiles (one study, a one-token prompt, an empty past) and
one at the largest that serving reaches (max_batch studies, max_prompt_tokens, max_new_tokens steps),
and returns an `EngineReport` (files written, seconds). Run again with an unchanged bundle, settings
and device, it loads the cached engines and writes none: the Jetson entrypoint runs it on every start.

Typed errors, all RuntimeFailure: EngineBuildError (nothing to build into, or a precision TensorRT
cannot run), TensorRTUnavailable (also a session.ProviderUnavailable: this onnxruntime has no
TensorRT, or offers it but cannot load libnvinfer), BundleError (the bundle has no such precision).
Each is raised before any session exists, so the error paths run on CPU-only machines.

Warm-up feeds synthetic zero images; nothing here sees patient data.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort

from common.errors import ExitCode
from runtime import gpu
from runtime.bundle import ModelBundle
from runtime.errors import BundleError, RuntimeFailure
from runtime.generator import ReportGenerator
from runtime.session import ProviderUnavailable, SessionSettings

log = logging.getLogger("securemed.runtime.engines")

TRT = "TensorrtExecutionProvider"
CUDA = "CUDAExecutionProvider"
# int8 is dynamic quantisation (MatMulInteger/DynamicQuantizeLinear), a CPU variant: TensorRT
# takes only Q/DQ-quantised graphs, so an int8 bundle would be split into many small engines.
# Other precisions a bundle may add later are tried as they come.
GPU_PRECISIONS = ("fp32", "fp16")


class EngineBuildError(RuntimeFailure):
    """TensorRT engines cannot be built for this bundle with these settings (exit 78)."""

    exit_code = ExitCode.CONFIG


class TensorRTUnavailable(EngineBuildError, ProviderUnavailable):
    """The TensorRT execution provider is missing from, or cannot be loaded by, this onnxruntime (exit 69)."""

    exit_code = ExitCode.UNAVAILABLE


@dataclass(frozen=True)
class EngineFile:
    path: str  # relative to settings.engine_cache_dir
    bytes: int


@dataclass(frozen=True)
class EngineReport:
    bundle_id: str
    precision: str
    cache_dir: Path
    providers: tuple[str, ...]
    written: tuple[EngineFile, ...]  # created or rewritten by this call (engines, profiles, timing cache)
    cached: tuple[EngineFile, ...]  # every file in the bundle's engine directory afterwards
    session_seconds: float  # creating both sessions: the engine build, or loading cached engines
    warmup_seconds: float

    @property
    def engines_built(self) -> tuple[EngineFile, ...]:
        return tuple(f for f in self.written if f.path.endswith(".engine"))

    @property
    def reused(self) -> bool:
        """True when every engine came from the cache (none was built by this call)."""
        return not self.engines_built

    @property
    def seconds(self) -> float:
        return self.session_seconds + self.warmup_seconds


def tensorrt_available() -> bool:
    """Whether this onnxruntime build offers TensorRT (it may still fail to load libnvinfer)."""
    return TRT in ort.get_available_providers()


def build_engines(bundle: ModelBundle, settings: SessionSettings, precision: str = "fp32") -> EngineReport:
    """Build (or load) and warm up the TensorRT engines of one bundle precision; see the module contract."""
    manifest = bundle.manifest
    if precision == "int8":
        raise EngineBuildError(f"precision {precision} is a CPU variant; TensorRT runs {', '.join(GPU_PRECISIONS)}")
    if precision not in bundle.precisions:
        raise BundleError(f"bundle {bundle.bundle_id} has no {precision} variant (has {bundle.precisions})")
    cache_dir = gpu.engine_cache_dir_for(settings, manifest)
    if cache_dir is None:
        raise EngineBuildError("no engine cache directory is configured: engines built now would be lost")
    if not tensorrt_available():
        raise TensorRTUnavailable(
            f"this onnxruntime ({ort.__version__}, providers {', '.join(ort.get_available_providers())}) "
            "has no TensorRT execution provider; install onnxruntime-gpu with TensorRT"
        )

    present = set(ort.get_available_providers())
    providers = (TRT, CUDA) if CUDA in present else (TRT,)
    trt_settings = dataclasses.replace(settings, providers=providers)
    root = Path(settings.engine_cache_dir)  # type: ignore[arg-type]  # not None: cache_dir exists
    before = _snapshot(root)

    started = time.monotonic()
    generator = ReportGenerator(bundle, precision=precision, settings=trt_settings)
    session_seconds = time.monotonic() - started
    for role, session in (("encoder", generator.encoder), ("decoder", generator.decoder)):
        if session.get_providers()[0] != TRT:
            # onnxruntime drops a provider it cannot create (libnvinfer missing, CUDA mismatch)
            # with only a warning; a build that silently ran on CUDA or CPU must not pass.
            raise TensorRTUnavailable(
                f"the {role} session runs on {session.get_providers()}: onnxruntime offers TensorRT "
                "but could not load it (check libnvinfer and the CUDA/TensorRT versions)"
            )

    started = time.monotonic()
    _warm_up(generator, trt_settings)
    warmup_seconds = time.monotonic() - started

    after = _snapshot(root)
    written = tuple(EngineFile(p, size) for p, (size, stamp) in sorted(after.items()) if before.get(p) != (size, stamp))
    prefix = cache_dir.relative_to(root).as_posix() + "/"
    cached = tuple(EngineFile(p, size) for p, (size, _) in sorted(after.items()) if p.startswith(prefix))
    if not any(f.path.endswith(".engine") for f in cached):
        raise EngineBuildError(f"TensorRT took no part of bundle {bundle.bundle_id}: no engine in {cache_dir}")
    report = EngineReport(
        bundle_id=bundle.bundle_id,
        precision=precision,
        cache_dir=cache_dir,
        providers=tuple(generator.decoder.get_providers()),
        written=written,
        cached=cached,
        session_seconds=session_seconds,
        warmup_seconds=warmup_seconds,
    )
    log.info(
        "TensorRT engines for bundle %s (%s): %d built, %d cached, sessions %.1f s, warm-up %.1f s",
        bundle.bundle_id,
        precision,
        len(report.engines_built),
        len(cached),
        session_seconds,
        warmup_seconds,
    )
    return report


def _warm_up(generator: ReportGenerator, settings: SessionSettings) -> None:
    """One generation at the profiles' smallest shapes, one at the largest that serving reaches."""
    m = generator.bundle.manifest
    size = m.preprocessing.image_size
    tok = m.tokenizer
    steps = max(settings.max_new_tokens, m.max_new_tokens)
    for batch, prompt, limit in ((1, 1, 1), (settings.max_batch, settings.max_prompt_tokens, steps)):
        pixels = np.zeros((batch, 3, size, size), dtype=np.float32)
        ids = np.full((batch, prompt), tok.eos_token_id, dtype=np.int64)
        mask = np.ones((batch, prompt), dtype=np.int64)
        # min_new_tokens keeps </s> away so the decoder really reaches the longest past length.
        generator.generate_ids(pixels, ids, mask, max_new_tokens=limit, min_new_tokens=limit)


def _snapshot(root: Path) -> dict[str, tuple[int, int]]:
    if not root.is_dir():
        return {}
    return {
        p.relative_to(root).as_posix(): (p.stat().st_size, p.stat().st_mtime_ns) for p in root.rglob("*") if p.is_file()
    }


__all__ = [
    "GPU_PRECISIONS",
    "EngineBuildError",
    "EngineFile",
    "EngineReport",
    "TensorRTUnavailable",
    "build_engines",
    "tensorrt_available",
]
