"""The INT8 quality guard: measured on an image-dependent model, it accepts INT8 that keeps the fp32
model's tokens, rejects graphs that do not, and refuses to judge a model that ignores the image."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from export.onnx_export import export_model  # noqa: E402
from export.quality import (  # noqa: E402
    MIN_TOKEN_AGREEMENT,
    GraphPair,
    QualityError,
    agreement,
    choose_int8,
    probe_inputs,
)
from runtime.bundle import ModelBundle  # noqa: E402
from tests.conftest import image_dependent_model  # noqa: E402


def _pair(directory: Path, encoder: str = "encoder.onnx", decoder: str = "decoder.onnx") -> GraphPair:
    return GraphPair(str(directory / encoder), str(directory / decoder))


@pytest.fixture(scope="module")
def probe():
    return probe_inputs(64, 24, seed=3, prompt_ids=(5, 6, 1))


def test_int8_keeps_the_fp32_tokens_of_the_image_dependent_model(tiny_bundle: Path, probe) -> None:
    reference = _pair(tiny_bundle)
    result = agreement(
        reference, _pair(tiny_bundle, "encoder.int8.onnx", "decoder.int8.onnx"), "int8", *probe, steps=12, start=0
    )
    assert result.distinct_sequences >= 6  # different images, different reports
    # Fresh inputs, not the export's probe: allow three standard errors of a 288-token estimate.
    n = result.inputs * result.steps
    margin = 3 * np.sqrt(MIN_TOKEN_AGREEMENT * (1 - MIN_TOKEN_AGREEMENT) / n)
    assert result.token_agreement >= MIN_TOKEN_AGREEMENT - margin
    assert 0.0 < result.logit_rel_error_median < 0.1
    recorded = ModelBundle.open(tiny_bundle).manifest.quantization
    assert recorded["int8"] == "int8"
    assert recorded["candidates"][0]["token_agreement"] >= MIN_TOKEN_AGREEMENT


def test_a_graph_pair_agrees_with_itself_exactly(tiny_bundle: Path, probe) -> None:
    result = agreement(_pair(tiny_bundle), _pair(tiny_bundle), "fp32", *probe, steps=6, start=0)
    assert result.token_agreement == 1.0 and result.identical_sequences == 1.0
    assert result.logit_rel_error_p95 == 0.0


def test_the_guard_rejects_graphs_that_change_the_tokens(
    tiny_bundle: Path, tiny_tokenizer_file, tmp_path: Path, probe
) -> None:
    from tokenizers import Tokenizer

    other = image_dependent_model(Tokenizer.from_file(str(tiny_tokenizer_file)).get_vocab_size(), seed=7)
    export_model(other, tmp_path)
    choice, results = choose_int8(
        _pair(tiny_bundle), [("other-model", lambda: _pair(tmp_path))], probe, steps=8, start=0
    )
    assert choice is None
    assert results[0].token_agreement < 0.5


def test_the_guard_falls_back_to_the_next_candidate(
    tiny_bundle: Path, tmp_path: Path, probe, tiny_tokenizer_file
) -> None:
    from tokenizers import Tokenizer

    other = image_dependent_model(Tokenizer.from_file(str(tiny_tokenizer_file)).get_vocab_size(), seed=7)
    export_model(other, tmp_path)
    choice, results = choose_int8(
        _pair(tiny_bundle),
        [
            ("broken", lambda: _pair(tmp_path)),
            ("decoder-only", lambda: _pair(tiny_bundle, "encoder.onnx", "decoder.int8.onnx")),
        ],
        probe,
        steps=8,
        start=0,
    )
    assert choice == "decoder-only" and [r.candidate for r in results] == ["broken", "decoder-only"]


def test_the_guard_refuses_to_judge_a_model_that_ignores_the_image(tmp_path: Path, probe) -> None:
    from training.model import ReportModel, tiny_config

    torch.manual_seed(0)
    echo = ReportModel(tiny_config(300, image_size=64)).eval()  # transformers' init: one token forever
    export_model(echo, tmp_path)
    with pytest.raises(QualityError, match="does not depend on the image"):
        choose_int8(_pair(tmp_path), [("self", lambda: _pair(tmp_path))], probe, steps=4, start=0)


def test_probe_inputs_vary_only_the_image() -> None:
    pixels, ids, mask = probe_inputs(32, 5, seed=1, prompt_ids=(4, 1))
    assert pixels.shape == (5, 3, 32, 32) and pixels.dtype == np.float32
    assert (ids == ids[0]).all() and mask.all()
    assert len({p.tobytes() for p in pixels}) == 5


def test_a_bundle_whose_int8_cannot_be_judged_ships_without_int8(tmp_path: Path, tiny_tokenizer_file) -> None:
    from export.bundle import write_bundle
    from training.model import ReportModel, tiny_config

    torch.manual_seed(0)
    echo = ReportModel(tiny_config(300, image_size=64)).eval()
    manifest = write_bundle(echo, tiny_tokenizer_file, tmp_path / "b", name="echo", int8=True)
    assert set(manifest["variants"]) == {"fp32"}
    assert manifest["quantization"]["int8"] is None
    assert "does not depend on the image" in manifest["quantization"]["not_judged"]
    assert not list((tmp_path / "b").glob("*.int8.onnx"))
    assert ModelBundle.open(tmp_path / "b").precisions == ("fp32",)
