"""The target report never reaches the encoder (the published SecureMed-LLM leak)."""

from __future__ import annotations

import inspect

import pytest

torch = pytest.importorskip("torch")

from tests.conftest import image_dependent_model  # noqa: E402
from training.model import ReportModel, full_config  # noqa: E402
from training.train import batch_loss  # noqa: E402


def _capture_encoder_inputs(model: ReportModel, pixels, labels) -> dict:
    seen: dict = {}

    def hook(module, args, kwargs):
        seen.update(kwargs)

    handle = model.t5.get_encoder().register_forward_pre_hook(hook, with_kwargs=True)
    try:
        batch_loss(model, pixels, labels)
    finally:
        handle.remove()
    return seen


def test_encoder_inputs_carry_no_target_tokens() -> None:
    model = image_dependent_model(vocab_size=300)
    pixels = torch.randn(2, 3, 64, 64)
    labels_a = torch.randint(3, 300, (2, 12))
    labels_b = torch.randint(3, 300, (2, 12))
    seen_a = _capture_encoder_inputs(model, pixels, labels_a)
    seen_b = _capture_encoder_inputs(model, pixels, labels_b)
    # the encoder is driven by embeddings only, never by token ids that could hold the report
    assert seen_a.get("input_ids") is None
    # different reports, same image: bit-identical encoder input
    assert torch.equal(seen_a["inputs_embeds"], seen_b["inputs_embeds"])
    # and that input is exactly image tokens + the empty indication prompt (</s>)
    eos = torch.full((2, 1), model.t5.config.eos_token_id)
    expected, _ = model.join_inputs(model.vision(pixels), eos, torch.ones(2, 1, dtype=torch.long))
    assert torch.equal(seen_a["inputs_embeds"], expected)
    # no row of the encoder input is the embedding of a target token
    table = model.t5.get_input_embeddings().weight
    targets = torch.unique(torch.cat([labels_a, labels_b]))
    targets = targets[targets != model.t5.config.eos_token_id]
    for row in seen_a["inputs_embeds"].reshape(-1, table.shape[1]):
        assert not torch.isclose(row[None, :], table[targets]).all(dim=1).any()


def test_encode_takes_no_report_argument() -> None:
    params = set(inspect.signature(ReportModel.encode).parameters)
    assert params == {"self", "pixel_values", "prompt_ids", "prompt_mask"}


def test_full_size_architecture_is_biomedclip_vit_b16_and_t5_base() -> None:
    cfg = full_config()
    assert (cfg.vision.image_size, cfg.vision.patch_size, cfg.vision.width, cfg.vision.layers) == (224, 16, 768, 12)
    assert cfg.vision.num_tokens == 197
    assert (cfg.t5["d_model"], cfg.t5["num_layers"], cfg.t5["num_heads"], cfg.t5["d_ff"]) == (768, 12, 12, 3072)


def test_biomedclip_checkpoint_loads_by_timm_names(tmp_path) -> None:
    """A checkpoint laid out like open_clip's BiomedCLIP (visual.trunk.*) loads into our ViT."""
    from training.model import load_biomedclip_vision

    source = image_dependent_model(vocab_size=300, seed=3)
    state = {f"visual.trunk.{k}": v for k, v in source.vision.state_dict().items()}
    state["text.transformer.embeddings.word_embeddings.weight"] = torch.zeros(4, 4)  # ignored: text tower
    torch.save(state, tmp_path / "open_clip_pytorch_model.bin")
    target = image_dependent_model(vocab_size=300, seed=4)
    load_biomedclip_vision(target, tmp_path)
    pixels = torch.randn(1, 3, 64, 64)
    assert torch.equal(target.vision(pixels), source.vision(pixels))
    del state["visual.trunk.norm.weight"]
    torch.save(state, tmp_path / "open_clip_pytorch_model.bin")
    with pytest.raises(ValueError, match="norm.weight"):
        load_biomedclip_vision(target, tmp_path)
