"""The GPU path: TensorRT/CUDA option dictionaries and the install-time engine build.

Everything that needs no GPU runs here on the CPU (option dictionaries derived from a real bundle
manifest, cache layout, the error paths of build_engines). The gpu-marked tests need
onnxruntime-gpu with the TensorRT/CUDA providers and skip without them.
"""

from __future__ import annotations

import dataclasses
import stat
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import onnxruntime as ort
import pytest
from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from runtime import gpu
from runtime.bundle import ModelBundle
from runtime.engines import (
    EngineBuildError,
    TensorRTUnavailable,
    build_engines,
    tensorrt_available,
)
from runtime.errors import BundleError, RuntimeFailure
from runtime.generator import ReportGenerator
from runtime.session import ProviderUnavailable, SessionSettings, available_providers

TRT, CUDA, CPU = "TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"
PRESENT = set(ort.get_available_providers())
needs_trt = pytest.mark.skipif(TRT not in PRESENT, reason="onnxruntime has no TensorrtExecutionProvider (CPU build)")
needs_cuda = pytest.mark.skipif(CUDA not in PRESENT, reason="onnxruntime has no CUDAExecutionProvider (CPU build)")


@pytest.fixture(scope="module")
def bundle(tiny_bundle: Path) -> ModelBundle:
    return ModelBundle.open(tiny_bundle)


def _dynamic_inputs(manifest, graph: str) -> list[dict]:
    return [i for i in manifest.graphs[graph]["inputs"] if any(isinstance(d, str) for d in i["shape"])]


# ---- optimisation profiles ------------------------------------------------------------------


@pytest.mark.parametrize("graph", ["encoder", "decoder"])
def test_profiles_cover_every_dynamic_input_with_the_manifests_fixed_dims(bundle: ModelBundle, graph: str) -> None:
    settings = SessionSettings(max_batch=4, max_new_tokens=40, max_prompt_tokens=16)
    options = gpu.tensorrt_options(settings, graph, bundle.manifest)
    shapes = {k: gpu.parse_profile(options[f"trt_profile_{k}_shapes"]) for k in ("min", "opt", "max")}
    dynamic = _dynamic_inputs(bundle.manifest, graph)
    assert len(dynamic) == len(bundle.manifest.graphs[graph]["inputs"])  # every input has a batch axis
    for which, profile in shapes.items():
        assert list(profile) == [i["name"] for i in dynamic], which
        for spec in dynamic:
            dims = profile[spec["name"]]
            assert len(dims) == len(spec["shape"])
            for got, declared in zip(dims, spec["shape"]):
                if isinstance(declared, int):
                    assert got == declared, (which, spec["name"])
    for spec in dynamic:
        lo, mid, hi = (shapes[k][spec["name"]] for k in ("min", "opt", "max"))
        assert all(a <= b <= c for a, b, c in zip(lo, mid, hi)), spec["name"]


def test_profile_ranges_follow_the_settings_and_the_image_tokens(bundle: ModelBundle) -> None:
    m = bundle.manifest
    settings = SessionSettings(max_batch=6, max_new_tokens=m.max_new_tokens + 10, max_prompt_tokens=20)
    tokens = (m.preprocessing.image_size // 16) ** 2 + 1
    enc = gpu.profile_shapes(settings, "encoder", m)
    dec = gpu.profile_shapes(settings, "decoder", m)

    def at(p: gpu.ProfileShapes, which: str, name: str) -> tuple[int, ...]:
        return dict(zip(p.names, getattr(p, which)))[name]

    assert at(enc, "min", "pixel_values")[0] == 1 and at(enc, "max", "pixel_values")[0] == 6
    assert at(enc, "min", "prompt_ids") == (1, 1) and at(enc, "max", "prompt_ids") == (6, 20)
    assert at(dec, "min", "encoder_attention_mask") == (1, tokens + 1)
    assert at(dec, "max", "encoder_attention_mask") == (6, tokens + 20)
    assert at(dec, "max", "cross_key_0")[2] == tokens + 20
    assert at(dec, "min", "past_key_0")[2] == 0  # the first step has an empty cache
    assert at(dec, "max", "past_value_0")[2] == m.max_new_tokens + 10
    assert at(dec, "min", "input_ids") == (1, 1) and at(dec, "max", "input_ids") == (6, 1)


def test_past_length_covers_the_bundles_limit_when_the_operator_asks_for_less(bundle: ModelBundle) -> None:
    m = bundle.manifest
    settings = SessionSettings(max_new_tokens=1)
    dec = gpu.profile_shapes(settings, "decoder", m)
    assert dict(zip(dec.names, dec.max))["past_key_0"][2] == m.max_new_tokens


@hsettings(max_examples=60, deadline=None)
@given(batch=st.integers(1, 64), new=st.integers(1, 1024), prompt=st.integers(1, 512))
def test_profiles_are_well_formed_for_any_settings(bundle: ModelBundle, batch: int, new: int, prompt: int) -> None:
    settings = SessionSettings(max_batch=batch, max_new_tokens=new, max_prompt_tokens=prompt)
    for graph in gpu.GRAPHS:
        p = gpu.profile_shapes(settings, graph, bundle.manifest)
        for lo, mid, hi in zip(p.min, p.opt, p.max):
            assert all(0 <= a <= b <= c for a, b, c in zip(lo, mid, hi))
        for key, text in p.as_options().items():
            assert gpu.format_profile(gpu.parse_profile(text).items()) == text, key


@given(
    st.dictionaries(
        st.from_regex(r"[A-Za-z_][A-Za-z0-9_.]{0,20}", fullmatch=True),
        st.lists(st.integers(0, 100_000), min_size=1, max_size=5).map(tuple),
        min_size=1,
        max_size=8,
    )
)
def test_profile_strings_round_trip(shapes: dict[str, tuple[int, ...]]) -> None:
    assert gpu.parse_profile(gpu.format_profile(shapes.items())) == shapes


@pytest.mark.parametrize("text", ["", "a", "a:", ":1x2", "a:1x", "a:1xb", "a:1,a:2", "a:-1"])
def test_malformed_profile_strings_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        gpu.parse_profile(text)


@pytest.mark.parametrize("name", ["a,b", "a:b", ""])
def test_input_names_that_break_the_profile_format_are_refused(name: str) -> None:
    with pytest.raises(BundleError):
        gpu.format_profile([(name, (1, 2))])


def test_unknown_symbolic_dimension_or_missing_graph_description_is_an_error(bundle: ModelBundle) -> None:
    m = bundle.manifest
    frames = {"name": "x", "dtype": "float32", "shape": ["batch", "frames"]}
    odd = dataclasses.replace(m, graphs={"encoder": {"inputs": [frames]}})
    with pytest.raises(BundleError, match="frames"):
        gpu.profile_shapes(SessionSettings(), "encoder", odd)
    with pytest.raises(BundleError, match="does not describe the decoder"):
        gpu.profile_shapes(SessionSettings(), "decoder", odd)
    with pytest.raises(BundleError, match="unknown graph"):
        gpu.tensorrt_options(SessionSettings(), "vision", m)


@pytest.mark.parametrize("size, tokens", [(224, 197), (64, 17), (384, 577)])
def test_image_tokens_follow_the_vit_patch_grid(size: int, tokens: int) -> None:
    assert gpu.image_tokens(SimpleNamespace(preprocessing=SimpleNamespace(image_size=size))) == tokens


@pytest.mark.parametrize("size", [0, 100, -16])
def test_image_size_off_the_patch_grid_is_refused(size: int) -> None:
    with pytest.raises(BundleError):
        gpu.image_tokens(SimpleNamespace(preprocessing=SimpleNamespace(image_size=size)))


# ---- precision, workspace, caches -----------------------------------------------------------


@pytest.mark.parametrize("fp16", [True, False])
def test_fp16_flag_and_layer_norm_fallback_follow_the_settings(bundle: ModelBundle, fp16: bool) -> None:
    options = gpu.tensorrt_options(SessionSettings(trt_fp16=fp16, device_id=0), "decoder", bundle.manifest)
    assert options["trt_fp16_enable"] is fp16
    assert options["trt_layer_norm_fp32_fallback"] is fp16
    assert options["trt_max_workspace_size"] > 0 and options["device_id"] == 0


def test_without_a_cache_directory_no_cache_is_configured(bundle: ModelBundle) -> None:
    settings = SessionSettings(engine_cache_dir=None)
    assert gpu.engine_cache_dir_for(settings, bundle.manifest) is None
    options = gpu.tensorrt_options(settings, "encoder", bundle.manifest)
    assert not any("cache" in key for key in options)


def test_each_bundle_gets_its_own_private_engine_directory(bundle: ModelBundle, tmp_path: Path) -> None:
    root = tmp_path / "state" / "engines"  # parents do not exist yet
    settings = SessionSettings(engine_cache_dir=root)
    other = dataclasses.replace(bundle.manifest, bundle_id="tiny-test-0123456789abcdef")
    mine, theirs = gpu.engine_cache_dir_for(settings, bundle.manifest), gpu.engine_cache_dir_for(settings, other)
    assert mine != theirs and mine.parent == theirs.parent == root
    assert mine.name == bundle.bundle_id
    for graph in gpu.GRAPHS:
        options = gpu.tensorrt_options(settings, graph, bundle.manifest)
        assert options["trt_engine_cache_enable"] is True and options["trt_timing_cache_enable"] is True
        assert Path(options["trt_engine_cache_path"]) == mine
        assert options["trt_engine_cache_prefix"] == graph
        assert Path(options["trt_timing_cache_path"]).parent == root  # timings are shared per device
    for made in (mine, Path(gpu.timing_cache_dir_for(settings))):
        assert made.is_dir() and stat.S_IMODE(made.stat().st_mode) == 0o700


@pytest.mark.parametrize("bundle_id", ["../escape", "a/b", ".", "..", "", "x" * 200, "id with space"])
def test_bundle_ids_that_are_not_one_safe_path_component_are_refused(
    bundle: ModelBundle, tmp_path: Path, bundle_id: str
) -> None:
    odd = dataclasses.replace(bundle.manifest, bundle_id=bundle_id)
    with pytest.raises(BundleError, match="engine cache"):
        gpu.engine_cache_dir_for(SessionSettings(engine_cache_dir=tmp_path), odd)


def test_cuda_options_use_documented_values() -> None:
    options = gpu.cuda_options(SessionSettings(device_id=1))
    assert options["device_id"] == 1
    assert options["arena_extend_strategy"] in ("kNextPowerOfTwo", "kSameAsRequested")
    assert options["cudnn_conv_algo_search"] in ("EXHAUSTIVE", "HEURISTIC", "DEFAULT")
    assert options["do_copy_in_default_stream"] is True


# ---- build_engines error paths (any machine) ------------------------------------------------


@pytest.mark.skipif(TRT in PRESENT, reason="TensorRT is available here: the missing-provider path cannot happen")
def test_build_engines_without_tensorrt_raises_a_typed_error(bundle: ModelBundle, tmp_path: Path) -> None:
    assert not tensorrt_available()
    with pytest.raises(TensorRTUnavailable, match="no TensorRT") as caught:
        build_engines(bundle, SessionSettings(engine_cache_dir=tmp_path))
    assert isinstance(caught.value, (ProviderUnavailable, EngineBuildError, BundleError, RuntimeFailure))
    assert list(tmp_path.iterdir()) == []  # nothing half-built


def test_build_engines_needs_a_cache_directory(bundle: ModelBundle) -> None:
    with pytest.raises(EngineBuildError, match="no engine cache directory"):
        build_engines(bundle, SessionSettings(engine_cache_dir=None))


def test_build_engines_refuses_the_cpu_int8_variant_and_unknown_precisions(bundle: ModelBundle, tmp_path: Path) -> None:
    settings = SessionSettings(engine_cache_dir=tmp_path)
    with pytest.raises(EngineBuildError, match="CPU variant"):
        build_engines(bundle, settings, "int8")
    with pytest.raises(BundleError, match="no bf16 variant"):
        build_engines(bundle, settings, "bf16")


# ---- on a GPU -------------------------------------------------------------------------------


def _studies(generator: ReportGenerator, n: int, seed: int = 3) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    size = generator.bundle.manifest.preprocessing.image_size
    images = np.random.default_rng(seed).standard_normal((n, 3, size, size)).astype(np.float32)
    ids, mask = generator.encode_prompts(["cough", None, "fever and cough", None][:n])
    return images, ids, mask


def _first_step_logits(generator: ReportGenerator, images: np.ndarray, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Logits of the first decoding step, through the generator's own sessions (plain run, host IO)."""
    m = generator.bundle.manifest
    enc_names = [o.name for o in generator.encoder.get_outputs()]
    feeds_in = {"pixel_values": images, "prompt_ids": ids, "prompt_mask": mask}
    enc = dict(zip(enc_names, generator.encoder.run(enc_names, feeds_in)))
    cache = np.float16 if "float16" in generator.decoder.get_inputs()[2].type else np.float32
    empty = np.zeros((len(images), m.decoder.num_heads, 0, m.decoder.d_kv), dtype=cache)
    feeds: dict[str, np.ndarray] = {
        "input_ids": np.full((len(images), 1), m.tokenizer.decoder_start_token_id, dtype=np.int64),
        "encoder_attention_mask": enc["encoder_attention_mask"],
    }
    for i in range(m.decoder.num_layers):
        for kind in ("key", "value"):
            feeds[f"past_{kind}_{i}"] = empty
            feeds[f"cross_{kind}_{i}"] = enc[f"cross_{kind}_{i}"]
    return generator.decoder.run(["logits"], feeds)[0].astype(np.float64)


def _agreement(want: list[list[int]], got: list[list[int]]) -> float:
    """Share of the reference's token positions that the candidate reproduces."""
    total = sum(len(w) for w in want)
    return sum(sum(a == b for a, b in zip(w, g)) for w, g in zip(want, got)) / total


def assert_parity(reference: ReportGenerator, candidate: ReportGenerator, *, rtol: float, min_agreement: float) -> None:
    images, ids, mask = _studies(reference, 4)
    want_logits = _first_step_logits(reference, images, ids, mask)
    got_logits = _first_step_logits(candidate, images, ids, mask)
    assert np.abs(got_logits - want_logits).max() <= rtol * np.abs(want_logits).max()
    want = reference.generate_ids(images, ids, mask)
    got = candidate.generate_ids(images, ids, mask)
    assert [g[0] for g in got] == [w[0] for w in want]
    assert _agreement(want, got) >= min_agreement


@pytest.mark.gpu
@needs_trt
def test_engines_are_built_once_then_loaded_from_the_cache(bundle: ModelBundle, tmp_path: Path) -> None:
    settings = SessionSettings(
        engine_cache_dir=tmp_path,
        trt_fp16=False,
        max_batch=2,
        max_prompt_tokens=8,
        max_new_tokens=bundle.manifest.max_new_tokens,
    )
    first = build_engines(bundle, settings)
    names = {Path(f.path).name for f in first.engines_built}
    assert any(n.startswith("encoder") for n in names) and any(n.startswith("decoder") for n in names)
    assert any(f.path.endswith(".profile") for f in first.cached)
    assert all(f.path.startswith(bundle.bundle_id + "/") for f in first.cached)
    second = build_engines(bundle, settings)
    assert second.reused and {f.path for f in second.cached} >= {f.path for f in first.engines_built}
    # where the provider builds (session creation or first run) depends on the partition: compare both
    assert second.seconds < first.seconds / 2, (first.seconds, second.seconds)


@pytest.mark.gpu
@needs_trt
@pytest.mark.parametrize("fp16, rtol, agreement", [(False, 1e-2, 0.9), (True, 5e-2, 0.75)])
def test_tensorrt_tokens_match_cpu_fp32(
    bundle: ModelBundle, tmp_path: Path, fp16: bool, rtol: float, agreement: float
) -> None:
    cpu = ReportGenerator(bundle, providers=[CPU])
    settings = SessionSettings(
        providers=tuple(available_providers((TRT, CUDA))),
        engine_cache_dir=tmp_path,
        trt_fp16=fp16,
        max_batch=4,
        max_prompt_tokens=16,
    )
    trt = ReportGenerator(bundle, settings=settings)
    assert trt.device == "cuda" and trt.providers[0] == TRT
    assert_parity(cpu, trt, rtol=rtol, min_agreement=agreement)


@pytest.mark.gpu
@needs_cuda
def test_cuda_tokens_match_cpu_fp32(bundle: ModelBundle) -> None:
    cpu = ReportGenerator(bundle, providers=[CPU])
    cuda = ReportGenerator(bundle, providers=[CUDA])
    assert cuda.device == "cuda"
    assert_parity(cpu, cuda, rtol=1e-2, min_agreement=0.9)  # TF32 matmuls on Ampere and later
