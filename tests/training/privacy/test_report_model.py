"""Opacus' per-sample gradients on the tiny report model, proven against a per-example loop."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("opacus")

from opacus import GradSampleModule  # noqa: E402
from torch import nn  # noqa: E402

from training.model import ReportModel, tiny_config  # noqa: E402
from training.privacy.report_model import per_example_loss, prepare_for_dp  # noqa: E402

SHARED = "t5.shared.weight"


def _without_dropout(model: nn.Module) -> None:
    # The comparison needs the batched and the one-by-one forward to be the same function; T5's
    # attention applies its dropout functionally, so its rate is set on the attention modules too.
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
        if type(module).__name__ == "T5Attention":
            module.dropout = 0.0  # type: ignore[assignment]


@pytest.fixture(scope="module")
def gradients() -> Iterator[tuple[ReportModel, list[dict[str, torch.Tensor]], list[str]]]:
    torch.manual_seed(0)
    model = ReportModel(tiny_config(64, image_size=32))
    frozen = prepare_for_dp(model)
    _without_dropout(model)
    n = 3
    pixels = torch.randn(n, 3, 32, 32)
    prompt_ids, prompt_mask = torch.tensor([[7, 1], [9, 1], [1, 0]]), torch.tensor([[1, 1], [1, 1], [1, 0]])
    labels = torch.randint(2, 60, (n, 6))
    labels[0, 4:] = -100
    expected = []
    for i in range(n):
        model.zero_grad()
        per_example_loss(
            model, pixels[i : i + 1], prompt_ids[i : i + 1], prompt_mask[i : i + 1], labels[i : i + 1]
        ).sum().backward()
        expected.append({k: p.grad.detach().clone() for k, p in model.named_parameters() if p.requires_grad})
    gsm = GradSampleModule(model, loss_reduction="sum")
    per_example_loss(gsm, pixels, prompt_ids, prompt_mask, labels).sum().backward()
    yield model, expected, frozen
    gsm._close()


def test_the_relative_attention_biases_are_frozen(gradients: tuple) -> None:
    model, _, frozen = gradients
    assert frozen and all("relative_attention_bias" in name for name in frozen)
    assert all(not p.requires_grad for name, p in model.named_parameters() if name in frozen)


def test_per_sample_gradients_of_every_trainable_module_type_match_a_loop(gradients: tuple) -> None:
    model, expected, _ = gradients
    checked: set[str] = set()
    modules = dict(model.named_modules())
    for name, param in model.named_parameters():
        if not param.requires_grad or name == SHARED:
            continue
        for i, want in enumerate(expected):
            torch.testing.assert_close(param.grad_sample[i], want[name], rtol=1e-4, atol=1e-5, msg=name)
        owner = name.rsplit(".", 1)[0]
        checked.add(type(modules[owner]).__name__)
    assert {"Conv2d", "LayerNorm", "T5LayerNorm", "Linear", "VisionTransformer"} <= checked


@pytest.mark.xfail(
    strict=True,
    reason="known, open: T5's shared token embedding is called twice per forward (the prompt in the "
    "encoder, the decoder's input ids) and tied to lm_head; Opacus' per-sample gradient for it is "
    "wrong, so the report model cannot yet be trained privately with it trainable",
)
def test_per_sample_gradients_of_the_shared_token_embedding_match_a_loop(gradients: tuple) -> None:
    model, expected, _ = gradients
    param = dict(model.named_parameters())[SHARED]
    for i, want in enumerate(expected):
        torch.testing.assert_close(param.grad_sample[i], want[SHARED], rtol=1e-4, atol=1e-5)
