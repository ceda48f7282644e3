"""Per-class privacy budgets for individualized DP-SGD, computed with Opacus' own accountants.

The "Sample" method (Boenisch et al., "Have it your way: individualized privacy assignment for
DP-SGD", NeurIPS 2023): every example belongs to a privacy group (here, its privacy class); all
groups share one noise multiplier sigma, one clipping norm and the same number of steps T; each
group g is Poisson-sampled at its own rate q_g, the largest rate at which the subsampled Gaussian
mechanism (q_g, sigma) composed T times stays within the group's target epsilon at the group's
delta. A member of group g is then (epsilon_g, delta_g)-DP: the accountant of each group sees only
(sigma, q_g, T), which `privacy.json` records so that anyone can recompute epsilon_g with Opacus.

Contract:
- `epsilon(accountant, noise_multiplier, sample_rate, steps, delta)` is Opacus' epsilon for that
  history ("prv": the PRV accountant's upper bound; "rdp": the RDP accountant).
- `sample_rate_for(...)` is the largest q in [MIN_SAMPLE_RATE, 1] (to a relative 1e-3) with
  epsilon(q) <= target; `BudgetInfeasible` when even MIN_SAMPLE_RATE exceeds the target.
- `calibrate(groups, ...)` returns one `GroupPlan` per group with its sample rate and delta
  (delta <= 1/n of the group: a configured delta above that is refused; None gives 0.1/n).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from common.errors import ExitCode, SecureMedError

__all__ = [
    "ACCOUNTANTS",
    "MIN_SAMPLE_RATE",
    "BudgetInfeasible",
    "GroupBudget",
    "GroupPlan",
    "PrivacyError",
    "calibrate",
    "epsilon",
    "sample_rate_for",
]

ACCOUNTANTS = ("prv", "rdp")
MIN_SAMPLE_RATE = 1e-6


class PrivacyError(SecureMedError):
    """A privacy requirement cannot be met or was about to be broken (fail closed)."""

    exit_code = ExitCode.CONFIG


class BudgetInfeasible(PrivacyError):
    """No sample rate meets a group's target epsilon with this noise multiplier and step count."""


@dataclass(frozen=True)
class GroupBudget:
    """A privacy group: its name (a privacy class), its size and its target epsilon; delta None
    means 0.1 / size."""

    name: str
    size: int
    target_epsilon: float
    delta: float | None = None


@dataclass(frozen=True)
class GroupPlan:
    """What a run does with one group: the group, its delta and its Poisson sample rate."""

    budget: GroupBudget
    delta: float
    sample_rate: float

    @property
    def expected_batch(self) -> float:
        return self.budget.size * self.sample_rate


def epsilon(accountant: str, noise_multiplier: float, sample_rate: float, steps: int, delta: float) -> float:
    """Opacus' epsilon after `steps` subsampled Gaussian steps (module docstring)."""
    from opacus.accountants import create_accountant

    if accountant not in ACCOUNTANTS:
        raise PrivacyError(f"accountant {accountant!r} is not one of {ACCOUNTANTS}")
    if steps <= 0:
        return 0.0
    acc = create_accountant(accountant)
    acc.history = [(float(noise_multiplier), float(sample_rate), int(steps))]
    return float(acc.get_epsilon(delta=delta))


def sample_rate_for(
    target_epsilon: float, *, accountant: str, noise_multiplier: float, steps: int, delta: float
) -> float:
    """The largest sample rate whose epsilon stays within `target_epsilon` (module docstring)."""
    if target_epsilon <= 0:
        raise BudgetInfeasible(f"target epsilon {target_epsilon} is not positive")

    def fits(q: float) -> bool:
        return epsilon(accountant, noise_multiplier, q, steps, delta) <= target_epsilon

    if fits(1.0):
        return 1.0
    if not fits(MIN_SAMPLE_RATE):
        raise BudgetInfeasible(
            f"epsilon {target_epsilon} cannot be met in {steps} steps at noise multiplier {noise_multiplier}"
        )
    low, high = math.log(MIN_SAMPLE_RATE), 0.0  # bisection on log q: rates span orders of magnitude
    while high - low > 1e-3:
        mid = (low + high) / 2
        if fits(math.exp(mid)):
            low = mid
        else:
            high = mid
    return math.exp(low)


def group_delta(budget: GroupBudget) -> float:
    """The group's delta: as configured (refused above 1/size), else 0.1/size."""
    if budget.size <= 0:
        raise PrivacyError(f"group {budget.name!r} has no examples")
    bound = 1.0 / budget.size
    if budget.delta is None:
        return 0.1 * bound
    if not 0.0 < budget.delta <= bound:
        raise PrivacyError(f"group {budget.name!r}: delta {budget.delta} is not in (0, 1/n = {bound:.3g}]")
    return budget.delta


def calibrate(
    groups: Sequence[GroupBudget], *, accountant: str, noise_multiplier: float, steps: int
) -> list[GroupPlan]:
    """One plan per group (module docstring); groups of equal target, size and delta are computed once."""
    cache: dict[tuple[float, float], float] = {}
    plans = []
    for budget in groups:
        delta = group_delta(budget)
        key = (budget.target_epsilon, delta)
        if key not in cache:
            cache[key] = sample_rate_for(
                budget.target_epsilon,
                accountant=accountant,
                noise_multiplier=noise_multiplier,
                steps=steps,
                delta=delta,
            )
        plans.append(GroupPlan(budget, delta, cache[key]))
    return plans
