"""Supervised training of the report model on (image, report) pairs, in two phases.

1. Vision warm-up (`pretrain_vision`): the ViT and an auxiliary multi-label finding head on its pooled
   tokens, trained on the image labels alone. A ViT from scratch learns slowly from a few thousand
   images, and a decoder trained jointly from the start learns the report prior first and then
   ignores the image (the demo model collapsed to "normal" for every study that way). For the full
   model, BiomedCLIP's pretrained weights play this role.
2. Report training (`train`): the whole model on the decoder's cross-entropy, with the auxiliary
   loss kept so the vision tower does not drift.

The report is a decoder target only: batches carry `labels` for the decoder and a prompt that is
built from the clinical indication alone, never from the report. With `prompts` (one row of
candidate indications per example, e.g. training.indications' consistent / inconsistent / empty),
every epoch draws one candidate per example afresh, while the target stays the study's true report:
the image decides, the indication can only help. Without prompts every example gets the empty
prompt. The finding head (training.model.FindingHead, exported with the encoder when the model has
one) reads the image alone.
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

from training.model import FindingHead, ReportModel

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


def encode_prompts(
    tokenizer: Tokenizer, prompts: Sequence[Sequence[str]], eos_token_id: int, pad_token_id: int, max_length: int = 64
) -> tuple[np.ndarray, np.ndarray]:
    """Prompt candidates as (ids [N, K, L], mask [N, K, L]); row i holds the K candidates of example i.

    Each prompt is tokenised as runtime.generator.ReportGenerator.encode_prompts does it: the text's
    ids ending with </s>, just </s> for an empty text, and a prompt over `max_length` tokens keeps its
    beginning and its </s>. Every row must have the same number of candidates.
    """
    if not prompts:
        raise ValueError("no prompts")
    k = len(prompts[0])
    if k == 0 or any(len(row) != k for row in prompts):
        raise ValueError("every example needs the same (non-zero) number of prompt candidates")
    limit = max(max_length, 1)
    encoded = [[tokenizer.encode(t).ids if t else [eos_token_id] for t in row] for row in prompts]
    encoded = [[r if len(r) <= limit else r[: limit - 1] + [eos_token_id] for r in row] for row in encoded]
    width = max(len(r) for row in encoded for r in row)
    ids = np.full((len(prompts), k, width), pad_token_id, dtype=np.int64)
    mask = np.zeros((len(prompts), k, width), dtype=np.int64)
    for i, row in enumerate(encoded):
        for j, r in enumerate(row):
            ids[i, j, : len(r)] = r
            mask[i, j, : len(r)] = 1
    return ids, mask


# The warm-up's head is the model's own finding head (exported with the encoder); the old name stays.
AuxiliaryHead = FindingHead


def batch_loss(
    model: ReportModel,
    pixels: torch.Tensor,
    labels: torch.Tensor,
    *,
    aux: AuxiliaryHead | None = None,
    findings: torch.Tensor | None = None,
    aux_weight: float = 0.0,
    prompt: tuple[torch.Tensor, torch.Tensor] | None = None,
) -> torch.Tensor:
    """Loss of one batch. The report (`labels`) goes to the decoder only; the encoder gets the image
    and the indication prompt (`prompt` = (ids, mask), default the empty one), so nothing of the
    target can reach it."""
    prompt_ids, prompt_mask = prompt if prompt is not None else empty_prompts(len(pixels), model.eos_token_id)
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
    prompts: tuple[np.ndarray, np.ndarray] | None = None,
) -> TrainHistory:
    """Phase 2, in place. images [N,3,S,S] float32 (runtime.preprocess output), targets from
    encode_targets; `aux` is the warm-up's head (default the model's own finding head; a new one is
    made if label_vectors are given and the model has none). `prompts` from encode_prompts: each
    epoch every example gets one of its K candidates, drawn uniformly; None = empty prompts."""
    torch.manual_seed(cfg.seed)
    torch.set_num_threads(cfg.threads)
    rng = np.random.default_rng(cfg.seed)
    n = len(images)
    if aux is None and label_vectors is not None:
        aux = model.finding_head or AuxiliaryHead(model.cfg.vision.width, label_vectors.shape[1])
    if prompts is not None and (prompts[0].shape[0] != n or prompts[0].shape != prompts[1].shape):
        raise ValueError("prompts must be (ids, mask) of shape [N, K, L] for the N images")
    params = list(model.parameters())
    if aux is not None and aux is not model.finding_head:
        params += list(aux.parameters())
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
        # Re-drawn every epoch: each example meets each kind of indication over the run.
        choice = rng.integers(0, prompts[0].shape[1], size=n) if prompts is not None else None
        epoch_loss = 0.0
        for b in range(steps_per_epoch):
            idx = order[b * cfg.batch_size : (b + 1) * cfg.batch_size]
            pixels = torch.from_numpy(images[idx])
            labels = torch.from_numpy(targets[idx])
            labels = labels[:, : int((labels != IGNORE).sum(1).max())].contiguous()
            findings = torch.from_numpy(label_vectors[idx]) if label_vectors is not None else None
            prompt = None
            if prompts is not None and choice is not None:
                ids, mask = prompts[0][idx, choice[idx]], prompts[1][idx, choice[idx]]
                width = max(1, int(mask.sum(1).max()))
                prompt = (torch.from_numpy(ids[:, :width].copy()), torch.from_numpy(mask[:, :width].copy()))
            loss = batch_loss(
                model, pixels, labels, aux=aux, findings=findings, aux_weight=cfg.aux_weight, prompt=prompt
            )
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
