"""Supervised training of the report model on (image, report) pairs, in two phases.

1. Vision warm-up (`pretrain_vision`): the ViT and an auxiliary multi-label finding head on its pooled
   tokens, trained on the image labels alone. A ViT from scratch learns slowly from a few thousand
   images, and a decoder trained jointly from the start learns the report prior first and then
   ignores the image (the demo model collapsed to "normal" for every study that way). For the full
   model, BiomedCLIP's pretrained weights play this role.
2. Report training (`train`): the whole model on the decoder's cross-entropy, with the auxiliary
   loss kept so the vision tower does not drift.

The report is a decoder target only: batches carry `labels` for the decoder and a prompt that is
built from the clinical indication alone (empty here), never from the report. The auxiliary head
(training only, not exported) reads the image alone.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from tokenizers import Tokenizer
from torch import nn

from training.model import ReportModel

log = logging.getLogger("securemed.training")

IGNORE = -100


@dataclass(frozen=True)
class TrainConfig:
    epochs: int = 12
    batch_size: int = 32
    lr: float = 2e-3
    weight_decay: float = 0.01
    warmup_steps: int = 100
    aux_weight: float = 0.5
    max_target_length: int = 128
    seed: int = 0
    threads: int = 2
    time_budget_s: float | None = None  # stop early (between steps) when exceeded


@dataclass(frozen=True)
class VisionWarmup:
    epochs: int = 20
    batch_size: int = 32
    lr: float = 1e-3
    weight_decay: float = 0.05
    seed: int = 0
    threads: int = 2
    time_budget_s: float | None = None


@dataclass
class TrainHistory:
    steps: int = 0
    seconds: float = 0.0
    losses: list[float] = field(default_factory=list)
    stopped_early: bool = False


def encode_targets(tokenizer: Tokenizer, reports: Sequence[str], max_length: int) -> np.ndarray:
    """Decoder labels [N, L] (ending with </s>), padded with -100, truncated to max_length."""
    rows = []
    for text in reports:
        ids = tokenizer.encode(text).ids  # ends with </s>
        if len(ids) > max_length:
            ids = ids[: max_length - 1] + ids[-1:]  # truncated, but still closed by </s>
        rows.append(ids)
    width = max(len(r) for r in rows)
    out = np.full((len(rows), width), IGNORE, dtype=np.int64)
    for i, r in enumerate(rows):
        out[i, : len(r)] = r
    return out


def empty_prompts(batch: int, eos_token_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The prompt of a study without clinical indication: just </s>."""
    return torch.full((batch, 1), eos_token_id, dtype=torch.long), torch.ones((batch, 1), dtype=torch.long)


class AuxiliaryHead(nn.Module):
    """Finding classifier on mean-pooled ViT tokens; used as a training signal only."""

    def __init__(self, width: int, n_labels: int) -> None:
        super().__init__()
        self.linear = nn.Linear(width, n_labels)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.linear(tokens.mean(dim=1))


def batch_loss(
    model: ReportModel,
    pixels: torch.Tensor,
    labels: torch.Tensor,
    *,
    aux: AuxiliaryHead | None = None,
    findings: torch.Tensor | None = None,
    aux_weight: float = 0.0,
) -> torch.Tensor:
    """Loss of one batch. The report (`labels`) goes to the decoder only; the encoder gets the image
    and the empty indication prompt, so nothing of the target can reach it."""
    prompt_ids, prompt_mask = empty_prompts(len(pixels), model.eos_token_id)
    vision_tokens = model.vision(pixels)
    embeds, mask = model.join_inputs(vision_tokens, prompt_ids, prompt_mask)
    loss = model.t5(inputs_embeds=embeds, attention_mask=mask, labels=labels).loss
    if aux is not None and findings is not None:
        loss = loss + aux_weight * nn.functional.binary_cross_entropy_with_logits(aux(vision_tokens), findings)
    return loss


def _one_cycle(optimizer: torch.optim.Optimizer, lr: float, total_steps: int) -> torch.optim.lr_scheduler.LRScheduler:
    return torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=lr, total_steps=max(2, total_steps), pct_start=0.1)


def pretrain_vision(
    model: ReportModel, aux: AuxiliaryHead, images: np.ndarray, label_vectors: np.ndarray, cfg: VisionWarmup
) -> TrainHistory:
    """Phase 1: train model.vision and `aux` in place on the finding labels (BCE)."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    params = list(model.vision.parameters()) + list(aux.parameters())
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(len(images) / cfg.batch_size)
    scheduler = _one_cycle(optimizer, cfg.lr, cfg.epochs * steps_per_epoch)
    history = TrainHistory()
    start = time.monotonic()
    model.vision.train()
    for epoch in range(cfg.epochs):
        order = rng.permutation(len(images))
        total = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            logits = aux(model.vision(torch.from_numpy(images[idx])))
            loss = nn.functional.binary_cross_entropy_with_logits(logits, torch.from_numpy(label_vectors[idx]))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if history.steps + 1 < cfg.epochs * steps_per_epoch:
                scheduler.step()
            history.steps += 1
            total += loss.item()
        history.losses.append(total / steps_per_epoch)
        log.info(
            "vision warm-up epoch %d/%d loss %.4f (%.0f s)",
            epoch + 1,
            cfg.epochs,
            history.losses[-1],
            time.monotonic() - start,
        )
        if cfg.time_budget_s is not None and time.monotonic() - start > cfg.time_budget_s:
            history.stopped_early = True
            log.warning("vision warm-up stopped by its time budget after %d epochs", epoch + 1)
            break
    history.seconds = time.monotonic() - start
    model.vision.eval()
    return history


def train(
    model: ReportModel,
    images: np.ndarray,
    targets: np.ndarray,
    label_vectors: np.ndarray | None,
    cfg: TrainConfig,
    aux: AuxiliaryHead | None = None,
) -> TrainHistory:
    """Phase 2, in place. images [N,3,S,S] float32 (runtime.preprocess output), targets from
    encode_targets; `aux` is the warm-up's head (a new one is made if label_vectors are given)."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    n = len(images)
    if aux is None and label_vectors is not None:
        aux = AuxiliaryHead(model.cfg.vision.width, label_vectors.shape[1])
    params = list(model.parameters()) + (list(aux.parameters()) if aux else [])
    optimizer = torch.optim.AdamW(params, lr=cfg.lr, weight_decay=cfg.weight_decay)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    total = cfg.epochs * steps_per_epoch

    def lr_at(step: int) -> float:
        if step < cfg.warmup_steps:
            return (step + 1) / cfg.warmup_steps
        progress = (step - cfg.warmup_steps) / max(1, total - cfg.warmup_steps)
        return 0.5 * (1 + math.cos(math.pi * min(1.0, progress)))

    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, lr_at)
    history = TrainHistory()
    start = time.monotonic()
    model.train()
    for epoch in range(cfg.epochs):
        order = rng.permutation(n)
        epoch_loss = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            pixels = torch.from_numpy(images[idx])
            labels = torch.from_numpy(targets[idx])
            labels = labels[:, : int((labels != IGNORE).sum(1).max())].contiguous()
            findings = torch.from_numpy(label_vectors[idx]) if label_vectors is not None else None
            loss = batch_loss(model, pixels, labels, aux=aux, findings=findings, aux_weight=cfg.aux_weight)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            optimizer.step()
            scheduler.step()
            history.steps += 1
            epoch_loss += loss.item()
            if cfg.time_budget_s is not None and time.monotonic() - start > cfg.time_budget_s:
                history.stopped_early = True
                break
        history.losses.append(epoch_loss / max(1, b + 1))
        log.info("epoch %d/%d loss %.4f (%.0f s)", epoch + 1, cfg.epochs, history.losses[-1], time.monotonic() - start)
        if history.stopped_early:
            log.warning("time budget reached after %d steps", history.steps)
            break
    history.seconds = time.monotonic() - start
    model.eval()
    return history
