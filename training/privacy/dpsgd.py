"""Individualized DP-SGD on Opacus: per-class sample rates, one noise multiplier, one ledger.

Contract: `train_private(model, examples_loss, classes, config)` trains `model` in place for
`config.steps` steps and returns the run's `PrivacyLedger`:
- each step draws a Poisson sample: example i is in the batch with the sample rate of its privacy
  class (`training.privacy.accounting.calibrate`), independently; an empty batch is still a step
  (noise only), as the accountant assumes;
- per-example gradients come from Opacus' `GradSampleModule`; Opacus' `DPOptimizer` clips each to
  `max_grad_norm`, sums, adds Gaussian noise of std `noise_multiplier * max_grad_norm` and divides by
  the expected batch size (the sum over groups of size x rate);
- the ledger is asked before every step (`before_step`) and records it after; privacy.json is
  `ledger.document()`.
`examples_loss(model, indices)` returns the per-example losses (shape [len(indices)]) of those
examples; it is never called with an empty index array.

Refused before any step (`PrivacyError`, exit 78): a class without a target epsilon, a target
that no sample rate meets, a module type Opacus cannot compute per-sample gradients for
(BatchNorm, for instance).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

from training.privacy.accounting import GroupBudget, PrivacyError, calibrate
from training.privacy.ledger import PrivacyLedger

__all__ = ["DEFAULT_TARGETS", "DPConfig", "PoissonGroupSampler", "train_private"]

#: The privacy classes' epsilon, as the appliance's classify stage states them
#: (appliance/classify.py; training sits beside the appliance, so a test keeps the two equal).
DEFAULT_TARGETS: Mapping[str, float] = {
    "Head CT": 0.5,
    "Breast MRI": 0.5,
    "Abdomen CT": 1.0,
    "Chest CT": 1.0,
    "Chest X-ray": 2.0,
    "Hand X-ray": 2.0,
}


@dataclass(frozen=True)
class DPConfig:
    """The private part of a run. `delta` None: 0.1 / size of each group."""

    steps: int
    noise_multiplier: float = 1.0
    max_grad_norm: float = 1.0
    accountant: str = "prv"
    delta: float | None = None
    learning_rate: float = 0.1
    seed: int = 0
    targets: Mapping[str, float] = field(default_factory=lambda: dict(DEFAULT_TARGETS))


class PoissonGroupSampler:
    """Poisson sampling with one rate per group: `sample()` includes example i with probability
    `rates[group_of[i]]`, independently of every other example and step."""

    def __init__(self, group_of: Sequence[int], rates: Sequence[float], seed: int) -> None:
        self._p = np.asarray([rates[g] for g in group_of], dtype=np.float64)
        self._rng = np.random.default_rng(seed)

    def sample(self) -> np.ndarray:
        return np.flatnonzero(self._rng.random(self._p.shape[0]) < self._p)


def _groups(classes: Sequence[str], config: DPConfig) -> tuple[list[str], list[int]]:
    names = sorted({str(c) for c in classes})
    missing = [n for n in names if n not in config.targets]
    if missing:
        raise PrivacyError(f"no target epsilon for privacy class(es) {missing}")
    index = {n: i for i, n in enumerate(names)}
    return names, [index[str(c)] for c in classes]


def train_private(
    model: nn.Module,
    examples_loss: Callable[[nn.Module, np.ndarray], torch.Tensor],
    classes: Sequence[str],
    config: DPConfig,
    *,
    public_pretraining: str = "none",
) -> PrivacyLedger:
    """See the module docstring."""
    from opacus import GradSampleModule
    from opacus.optimizers import DPOptimizer
    from opacus.validators import ModuleValidator

    errors = ModuleValidator.validate(model, strict=False)
    if errors:
        raise PrivacyError(f"Opacus cannot train this model privately: {type(errors[0]).__name__}")
    names, group_of = _groups(classes, config)
    sizes = np.bincount(group_of, minlength=len(names))
    budgets = [GroupBudget(n, int(sizes[i]), float(config.targets[n]), config.delta) for i, n in enumerate(names)]
    plans = calibrate(
        budgets, accountant=config.accountant, noise_multiplier=config.noise_multiplier, steps=config.steps
    )
    ledger = PrivacyLedger.open(
        plans,
        accountant=config.accountant,
        noise_multiplier=config.noise_multiplier,
        max_grad_norm=config.max_grad_norm,
        planned_steps=config.steps,
        public_pretraining=public_pretraining,
    )
    expected_batch = sum(p.expected_batch for p in plans)
    torch.manual_seed(config.seed)
    gsm = GradSampleModule(model, loss_reduction="sum")
    params = [p for p in gsm.parameters() if p.requires_grad]
    optimiser = DPOptimizer(
        torch.optim.SGD(params, lr=config.learning_rate),
        noise_multiplier=config.noise_multiplier,
        max_grad_norm=config.max_grad_norm,
        expected_batch_size=max(1, round(expected_batch)),
        loss_reduction="mean",
        generator=torch.Generator().manual_seed(config.seed),
    )
    sampler = PoissonGroupSampler(group_of, [p.sample_rate for p in plans], config.seed)
    gsm.train()
    for _ in range(config.steps):
        ledger.before_step()
        optimiser.zero_grad(set_to_none=True)
        batch = sampler.sample()
        if batch.size:
            examples_loss(gsm, batch).sum().backward()
        else:  # an empty Poisson sample: no gradient, still noise, still a step
            for p in params:
                p.grad_sample = torch.zeros((0, *p.shape), dtype=p.dtype)
        optimiser.step()
        ledger.step()
    gsm.eval()
    gsm._close()
    return ledger
