"""Session options and providers are chosen on purpose, and the IO-bound generator decodes exactly
what plain session runs decode."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest

from runtime.bundle import ModelBundle
from runtime.generator import ReportGenerator
from runtime.session import ProviderUnavailable, SessionSettings, resolve_providers, session_options


@pytest.mark.parametrize(
    ("settings", "threads", "spinning"),
    [
        (SessionSettings(), 0, "1"),
        (SessionSettings(intra_op_threads=2, allow_spinning=False), 2, "0"),
        (SessionSettings(intra_op_threads=1, allow_spinning=True), 1, "1"),
    ],
)
def test_session_options_follow_the_settings(settings: SessionSettings, threads: int, spinning: str) -> None:
    options = session_options(settings)
    assert options.intra_op_num_threads == threads
    assert options.inter_op_num_threads == 1
    assert options.get_session_config_entry("session.intra_op.allow_spinning") == spinning
    assert options.graph_optimization_level == ort.GraphOptimizationLevel.ORT_ENABLE_ALL


def test_default_providers_end_with_cpu(tiny_bundle: Path) -> None:
    manifest = ModelBundle.open(tiny_bundle).manifest
    names = [name for name, _ in resolve_providers(SessionSettings(), "decoder", manifest)]
    assert names[-1] == "CPUExecutionProvider"
    assert set(names) <= set(ort.get_available_providers())


def test_a_configured_provider_that_is_missing_is_an_error(tiny_bundle: Path) -> None:
    manifest = ModelBundle.open(tiny_bundle).manifest
    missing = next(
        (p for p in ("TensorrtExecutionProvider", "CUDAExecutionProvider") if p not in ort.get_available_providers()),
        None,
    )
    if missing is None:
        pytest.skip("this onnxruntime has every GPU provider")
    with pytest.raises(ProviderUnavailable, match=missing):
        resolve_providers(SessionSettings(providers=(missing,)), "decoder", manifest)


def _plain_greedy(generator: ReportGenerator, pixels, ids, mask, steps: int) -> list[list[int]]:
    """Greedy decoding with session.run and numpy feeds: the reference for the IO-bound loop."""
    m = generator.bundle.manifest
    names = [o.name for o in generator.encoder.get_outputs()]
    enc = dict(
        zip(names, generator.encoder.run(names, {"pixel_values": pixels, "prompt_ids": ids, "prompt_mask": mask}))
    )
    feeds = {"encoder_attention_mask": enc["encoder_attention_mask"]}
    empty = np.zeros((pixels.shape[0], m.decoder.num_heads, 0, m.decoder.d_kv), np.float32)
    for i in range(m.decoder.num_layers):
        feeds[f"cross_key_{i}"], feeds[f"cross_value_{i}"] = enc[f"cross_key_{i}"], enc[f"cross_value_{i}"]
        feeds[f"past_key_{i}"] = feeds[f"past_value_{i}"] = empty
    tokens = np.full((pixels.shape[0], 1), m.tokenizer.decoder_start_token_id, np.int64)
    out = []
    for _ in range(steps):
        feeds["input_ids"] = tokens
        logits, *present = generator.decoder.run(None, feeds)
        tokens = logits.argmax(-1)[:, None]
        out.append(tokens[:, 0])
        for i in range(m.decoder.num_layers):
            feeds[f"past_key_{i}"], feeds[f"past_value_{i}"] = present[2 * i], present[2 * i + 1]
    return np.stack(out, 1).tolist()


@pytest.mark.parametrize(
    ("fixture", "precision"), [("tiny_bundle", "fp32"), ("tiny_bundle", "int8"), ("tiny_head_bundle", "fp32")]
)
def test_io_bound_generation_equals_plain_runs(request, fixture: str, precision: str) -> None:
    generator = ReportGenerator(
        ModelBundle.open(request.getfixturevalue(fixture)),
        precision=precision,
        settings=SessionSettings(intra_op_threads=1, allow_spinning=False),
    )
    rng = np.random.default_rng(0)
    pixels = rng.standard_normal((4, 3, 64, 64)).astype(np.float32)
    ids, mask = generator.encode_prompts(["cough", None, "fever and cough", None])
    steps = 10
    got = generator.generate_ids(pixels, ids, mask, max_new_tokens=steps, min_new_tokens=steps)
    eos = generator.bundle.manifest.tokenizer.eos_token_id
    want = _plain_greedy(generator, pixels, ids, mask, steps)
    for g, w in zip(got, want):
        # Identical up to the first </s> of the plain run (min_new_tokens suppresses it in `got`).
        cut = w.index(eos) if eos in w else steps
        assert g[:cut] == w[:cut]
        assert len(g) == steps and eos not in g


def test_min_new_tokens_holds_back_the_end_of_sequence() -> None:
    # The trained demo model ends its reports with </s> (a random model never does), so holding it
    # back is observable: the same greedy tokens up to where </s> was, and no </s> before the minimum.
    from runtime.preprocess import preprocess
    from tests.conftest import DEMO_BUNDLE
    from training.phantoms import iter_phantoms

    generator = ReportGenerator(ModelBundle.open(DEMO_BUNDLE))
    eos = generator.bundle.manifest.tokenizer.eos_token_id
    pixels = np.stack(
        [preprocess(p.dataset, generator.bundle.manifest.preprocessing) for p in iter_phantoms(2, seed=5)]
    )
    ids, mask = generator.encode_prompts([None, None])
    free = generator.generate_ids(pixels, ids, mask, max_new_tokens=128)
    assert all(r[-1] == eos and len(r) < 120 for r in free)
    minimum = max(len(r) for r in free) + 4
    forced = generator.generate_ids(pixels, ids, mask, max_new_tokens=minimum + 8, min_new_tokens=minimum)
    for f, g in zip(free, forced):
        assert len(g) >= minimum and eos not in g[:minimum]
        assert g[: len(f) - 1] == f[:-1]


def test_long_indications_are_cut_to_the_profile_length_and_keep_their_end_token(tiny_bundle: Path) -> None:
    generator = ReportGenerator(ModelBundle.open(tiny_bundle), settings=SessionSettings(max_prompt_tokens=6))
    eos = generator.bundle.manifest.tokenizer.eos_token_id
    ids, mask = generator.encode_prompts(["cough " * 40, "cough", None])
    assert ids.shape[1] == 6
    assert ids[0, 5] == eos and mask[0].sum() == 6
    assert mask[2].sum() == 1 and ids[2, 0] == eos
