"""The privacy ledger of one training run: every private step counted, no group past its budget.

Contract:
- `PrivacyLedger.open(plans, ...)` checks, with the run's accountant, that every group's epsilon
  after the planned steps is within its target (else `BudgetInfeasible`).
- `before_step()` is called before each optimisation step on private data and raises
  `BudgetExhausted` when the step would take any group past the planned step count (the count at
  which each group's epsilon was shown to be within its target): training stops before a class
  exceeds its budget, never after. `step()` records a step that was taken.
- `refuse_non_private_step()` is what any code path that would update the model without DP on
  private data must call: it raises `NonPrivateStep`, so `non_private_steps_on_private_data` in
  privacy.json is 0 by construction, not by promise.
- `document()` is privacy.json (README, "Private training"): accountant, noise multiplier,
  clipping norm, steps, public pre-training, and per group its class, target, delta, sample rate,
  steps and the epsilon spent, computed by the accountant from those numbers. `recompute(doc)`
  recomputes every group's epsilon from a privacy.json with Opacus alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from training.privacy.accounting import BudgetInfeasible, GroupPlan, PrivacyError, epsilon

__all__ = ["FORMAT", "BudgetExhausted", "NonPrivateStep", "PrivacyLedger", "recompute"]

FORMAT = "securemed-privacy/1"


class BudgetExhausted(PrivacyError):
    """One more private step would take a group past its budget."""


class NonPrivateStep(PrivacyError):
    """A step without DP on private data was attempted."""


@dataclass
class PrivacyLedger:
    """See the module docstring. `public_pretraining` describes what was trained before on data
    declared public (e.g. "generated phantoms, 3 epochs"), or "none"."""

    plans: tuple[GroupPlan, ...]
    accountant: str
    noise_multiplier: float
    max_grad_norm: float
    planned_steps: int
    public_pretraining: str = "none"
    steps: int = 0
    planned_epsilons: dict[str, float] = field(default_factory=dict)

    @classmethod
    def open(
        cls,
        plans: Sequence[GroupPlan],
        *,
        accountant: str,
        noise_multiplier: float,
        max_grad_norm: float,
        planned_steps: int,
        public_pretraining: str = "none",
    ) -> PrivacyLedger:
        """A ledger for a run of `planned_steps`, each group checked against its target first."""
        if not plans:
            raise PrivacyError("a private run needs at least one privacy group")
        if max_grad_norm <= 0 or noise_multiplier <= 0:
            raise PrivacyError("noise_multiplier and max_grad_norm must be positive")
        names = [p.budget.name for p in plans]
        if len(set(names)) != len(names):
            raise PrivacyError("privacy groups must have distinct names")
        planned: dict[str, float] = {}
        for plan in plans:
            eps = epsilon(accountant, noise_multiplier, plan.sample_rate, planned_steps, plan.delta)
            if eps > plan.budget.target_epsilon:
                raise BudgetInfeasible(
                    f"group {plan.budget.name!r}: epsilon {eps:.4f} after {planned_steps} steps exceeds "
                    f"its target {plan.budget.target_epsilon}"
                )
            planned[plan.budget.name] = eps
        return cls(
            tuple(plans),
            accountant,
            float(noise_multiplier),
            float(max_grad_norm),
            int(planned_steps),
            public_pretraining,
            planned_epsilons=planned,
        )

    def before_step(self) -> None:
        """Raise BudgetExhausted when one more step is not covered by every group's budget."""
        if self.steps + 1 > self.planned_steps:
            raise BudgetExhausted(
                f"step {self.steps + 1} would exceed the {self.planned_steps} steps the privacy budgets cover"
            )

    def step(self) -> None:
        """Record one private step (after `before_step` allowed it)."""
        self.before_step()
        self.steps += 1

    def refuse_non_private_step(self, what: str) -> None:
        """Raise NonPrivateStep: nothing updates the model on private data outside DP-SGD."""
        raise NonPrivateStep(f"{what}: a non-private step on private data is refused")

    def spent(self) -> dict[str, float]:
        """Epsilon spent so far per group, by the run's accountant."""
        return {
            p.budget.name: epsilon(self.accountant, self.noise_multiplier, p.sample_rate, self.steps, p.delta)
            for p in self.plans
        }

    def document(self) -> dict[str, Any]:
        """privacy.json (module docstring)."""
        spent = self.spent()
        return {
            "format": FORMAT,
            "accountant": self.accountant,
            "noise_multiplier": self.noise_multiplier,
            "max_grad_norm": self.max_grad_norm,
            "steps": self.steps,
            "planned_steps": self.planned_steps,
            "sampling": "poisson, per group (individualized DP-SGD, the Sample method)",
            "public_pretraining": self.public_pretraining,
            "non_private_steps_on_private_data": 0,
            "groups": [
                {
                    "class": p.budget.name,
                    "size": p.budget.size,
                    "target_epsilon": p.budget.target_epsilon,
                    "delta": p.delta,
                    "sample_rate": p.sample_rate,
                    "steps": self.steps,
                    "epsilon": spent[p.budget.name],
                }
                for p in self.plans
            ],
        }

    def write(self, path: Path) -> Path:
        """Write privacy.json to `path` (a file) and return it."""
        path.write_text(json.dumps(self.document(), indent=2) + "\n")
        return path


def recompute(doc: Mapping[str, Any]) -> dict[str, float]:
    """Every group's epsilon recomputed from a privacy.json document with Opacus' accountant."""
    if doc.get("format") != FORMAT:
        raise PrivacyError(f"not a {FORMAT} document")
    return {
        g["class"]: epsilon(doc["accountant"], doc["noise_multiplier"], g["sample_rate"], g["steps"], g["delta"])
        for g in doc["groups"]
    }
