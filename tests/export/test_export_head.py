"""The finding head as an extra encoder output: in the spec and the manifest only for a model that
has one, within tolerance of PyTorch, kept float32 by the fp16 variant, and harmless to generation."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import pytest
from onnx import TensorProto

torch = pytest.importorskip("torch")

from export.fp16 import compare_fp16, convert_fp16  # noqa: E402
from export.graphs import greedy_with_graphs  # noqa: E402
from export.onnx_export import token_parity, validate_export  # noqa: E402
from export.quality import GraphPair  # noqa: E402
from export.spec import graph_specs  # noqa: E402
from runtime.bundle import MANIFEST, ModelBundle  # noqa: E402
from runtime.generator import ReportGenerator  # noqa: E402
from tests.runtime.conftest import HEAD_LABELS  # noqa: E402


@pytest.mark.parametrize(("fixture", "has_head"), [("tiny_model", False), ("tiny_head_model", True)])
def test_spec_has_the_head_output_only_with_a_head(request, fixture: str, has_head: bool) -> None:
    model = request.getfixturevalue(fixture)
    encoder, _ = graph_specs(model)
    names = [t.name for t in encoder.outputs]
    assert ("finding_logits" in names) == has_head
    if has_head:
        assert names[-1] == "finding_logits"
        assert encoder.outputs[-1].shape == ("batch", len(HEAD_LABELS))


def test_head_graph_matches_torch_and_the_manifest_names_it(tiny_head_model, tiny_head_bundle: Path) -> None:
    checks = validate_export(tiny_head_model, tiny_head_bundle)
    head = [c for c in checks if c.output == "finding_logits"]
    assert head and all(c.within_tolerance for c in checks)
    import json

    manifest = json.loads((tiny_head_bundle / MANIFEST).read_text())
    assert manifest["finding_head"] == {"output": "finding_logits", "labels": list(HEAD_LABELS)}
    assert manifest["graphs"]["encoder"]["outputs"][-1]["name"] == "finding_logits"


def test_generation_with_a_head_is_token_identical_to_torch(tiny_head_model, tiny_head_bundle: Path) -> None:
    generator = ReportGenerator(ModelBundle.open(tiny_head_bundle))
    pixels = np.random.default_rng(4).standard_normal((3, 3, 64, 64)).astype(np.float32)
    ids, mask = generator.encode_prompts(["? left effusion", None, "Post central line insertion, check position"])
    same, total = token_parity(tiny_head_model, generator.generate_ids, pixels, ids, mask, 24)
    assert same == total == 3
    # the graphs' own torch reference reads the caches by position and must skip the head output
    ref = greedy_with_graphs(
        tiny_head_model, torch.from_numpy(pixels), torch.from_numpy(ids), torch.from_numpy(mask), 24
    )
    pad = tiny_head_model.pad_token_id
    want = [[t for t in row[1:] if t != pad] for row in ref.tolist()]
    got = [[t for t in row if t != pad] for row in generator.generate_ids(pixels, ids, mask, 24)]
    assert want == got


def test_the_int8_guards_graph_pair_reads_the_encoder_by_name(tiny_head_bundle: Path) -> None:
    pair = GraphPair(str(tiny_head_bundle / "encoder.onnx"), str(tiny_head_bundle / "decoder.onnx"))
    generator = ReportGenerator(ModelBundle.open(tiny_head_bundle))
    pixels = np.random.default_rng(5).standard_normal((2, 3, 64, 64)).astype(np.float32)
    ids, mask = generator.encode_prompts([None, "Cough"])
    feeds = pair._start(pixels, ids, mask)
    assert "finding_logits" not in feeds
    logits = pair._step(feeds, np.zeros(2, dtype=np.int64))
    assert logits.shape == (2, ModelBundle.open(tiny_head_bundle).manifest.decoder.vocab_size)


def test_fp16_keeps_the_head_output_float32_and_close(tiny_head_bundle: Path, tmp_path: Path) -> None:
    dst = tmp_path / "encoder.fp16.onnx"
    convert_fp16(tiny_head_bundle / "encoder.onnx", dst)
    outputs = {o.name: o.type.tensor_type.elem_type for o in onnx.load(str(dst)).graph.output}
    assert outputs["finding_logits"] == TensorProto.FLOAT
    generator = ReportGenerator(ModelBundle.open(tiny_head_bundle))
    ids, mask = generator.encode_prompts(["cough", None])
    feeds = {
        "pixel_values": np.random.default_rng(6).standard_normal((2, 3, 64, 64)).astype(np.float32),
        "prompt_ids": ids,
        "prompt_mask": mask,
    }
    checks = compare_fp16(tiny_head_bundle / "encoder.onnx", dst, [feeds])
    assert any(c.output == "finding_logits" and c.within_tolerance for c in checks)
