"""The report model (training.model.ReportModel) made fit for Opacus' per-sample gradients.

Contract:
- `prepare_for_dp(model)` freezes T5's `relative_attention_bias` embeddings (their input is a
  [query, key] position grid with no batch dimension, so Opacus' embedding grad sampler computes
  them wrongly) and returns the names it froze; everything else stays trainable. The test
  tests/training/privacy/test_report_model.py proves Opacus' per-sample gradients of every
  remaining trainable parameter (Conv2d, LayerNorm, T5LayerNorm, Linear, Embedding, the ViT's own
  class token and position embedding) against a per-example loop.
- `per_example_loss(model, pixels, prompt_ids, prompt_mask, labels)` is the teacher-forced
  cross-entropy summed over each example's target tokens (labels -100 ignored): shape [batch]. The
  image and the prompt go to the encoder, the report only to the decoder, as in training.train.
"""

from __future__ import annotations

from typing import cast

import torch
from torch import nn

from training.model import ReportModel

__all__ = ["per_example_loss", "prepare_for_dp"]


def prepare_for_dp(model: ReportModel) -> list[str]:
    """Freeze the relative attention biases; returns the frozen parameters' names."""
    frozen = []
    for name, param in model.named_parameters():
        if "relative_attention_bias" in name:
            param.requires_grad_(False)
            frozen.append(name)
    return frozen


def per_example_loss(
    model: nn.Module,
    pixels: torch.Tensor,
    prompt_ids: torch.Tensor,
    prompt_mask: torch.Tensor,
    labels: torch.Tensor,
) -> torch.Tensor:
    """Cross-entropy per example (module docstring). `model` may be wrapped (GradSampleModule)."""
    inner = cast(ReportModel, getattr(model, "_module", model))
    hidden, mask = inner.encode(pixels, prompt_ids, prompt_mask)
    logits = inner.t5(encoder_outputs=(hidden,), attention_mask=mask, labels=labels).logits
    token_loss = nn.functional.cross_entropy(
        logits.reshape(-1, logits.shape[-1]), labels.reshape(-1), ignore_index=-100, reduction="none"
    )
    return token_loss.reshape(labels.shape).sum(dim=1)
