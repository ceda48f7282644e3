"""Exported graphs agree with PyTorch within the spec's tolerances, and greedy generation through the
torch-free runtime is token-identical to transformers' `generate` for the fp32 bundle."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from export.onnx_export import ExportError, check_graph, token_parity, validate_export  # noqa: E402
from export.spec import graph_specs  # noqa: E402
from runtime.bundle import ModelBundle  # noqa: E402
from runtime.generator import ReportGenerator  # noqa: E402
from runtime.preprocess import preprocess  # noqa: E402
from tests.conftest import image_dependent_model  # noqa: E402
from training.phantoms import make_phantom  # noqa: E402
from training.train import empty_prompts  # noqa: E402


def test_graphs_match_torch_within_tolerance(tiny_model, tiny_bundle: Path) -> None:
    checks = validate_export(tiny_model, tiny_bundle)
    names = {(c.graph, c.output) for c in checks}
    assert ("decoder", "logits") in names and ("encoder", "cross_key_0") in names
    assert all(c.within_tolerance for c in checks)


def test_validation_catches_a_graph_from_another_model(tiny_tokenizer_file, tiny_bundle: Path) -> None:
    from tokenizers import Tokenizer

    other = image_dependent_model(Tokenizer.from_file(str(tiny_tokenizer_file)).get_vocab_size(), seed=1)
    _, decoder = graph_specs(other)
    checks = check_graph(decoder, other, tiny_bundle / decoder.file)
    assert not all(c.within_tolerance for c in checks)
    with pytest.raises(ExportError, match="beyond tolerance"):
        validate_export(other, tiny_bundle)


def test_runtime_is_token_identical_to_torch_on_20_phantoms(tiny_model, tiny_bundle: Path, tmp_path: Path) -> None:
    bundle = ModelBundle.open(tiny_bundle)
    generator = ReportGenerator(bundle, precision="fp32")
    pixels = np.stack([preprocess(make_phantom(1000 + i).dataset, bundle.manifest.preprocessing) for i in range(20)])
    prompt_ids, prompt_mask = empty_prompts(len(pixels), tiny_model.t5.config.eos_token_id)
    same, total = token_parity(tiny_model, generator.generate_ids, pixels, prompt_ids.numpy(), prompt_mask.numpy(), 24)
    assert (same, total) == (20, 20)
    # the comparison is not vacuous: the phantoms lead to different reports
    outputs = {tuple(r) for r in generator.generate_ids(pixels, prompt_ids.numpy(), prompt_mask.numpy(), 24)}
    assert len(outputs) > 1


def test_runtime_parity_with_indication_prompts_of_different_lengths(tiny_model, tiny_bundle: Path) -> None:
    generator = ReportGenerator(ModelBundle.open(tiny_bundle))
    rng = np.random.default_rng(0)
    pixels = rng.standard_normal((3, 3, 64, 64)).astype(np.float32)
    ids, mask = generator.encode_prompts(["Shortness of breath.", None, "Line placement, check tip position."])
    assert mask.sum(1).tolist()[1] == 1 and len(set(mask.sum(1).tolist())) == 3
    same, total = token_parity(tiny_model, generator.generate_ids, pixels, ids, mask, 24)
    assert same == total == 3
