"""Per-class sample rates from Opacus' accountants: tight, monotone, refused when impossible."""

from __future__ import annotations

import math

import pytest

pytest.importorskip("opacus")

from opacus.accountants import RDPAccountant

from training.privacy.accounting import (
    BudgetInfeasible,
    GroupBudget,
    PrivacyError,
    calibrate,
    epsilon,
    group_delta,
    sample_rate_for,
)


def test_epsilon_is_opacus_own_figure() -> None:
    ours = epsilon("rdp", 1.1, 0.01, 500, 1e-5)
    acc = RDPAccountant()
    for _ in range(500):
        acc.step(noise_multiplier=1.1, sample_rate=0.01)
    assert ours == pytest.approx(acc.get_epsilon(delta=1e-5), rel=1e-9)
    assert epsilon("rdp", 1.1, 0.01, 0, 1e-5) == 0.0


def test_an_unknown_accountant_is_refused() -> None:
    with pytest.raises(PrivacyError, match="accountant"):
        epsilon("moments", 1.0, 0.01, 10, 1e-5)


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
@pytest.mark.parametrize("target", [0.5, 1.0, 2.0])
def test_the_sample_rate_is_the_largest_that_meets_the_target(accountant: str, target: float) -> None:
    q = sample_rate_for(target, accountant=accountant, noise_multiplier=1.0, steps=100, delta=1e-4)
    assert epsilon(accountant, 1.0, q, 100, 1e-4) <= target
    assert epsilon(accountant, 1.0, min(1.0, q * 1.01), 100, 1e-4) > target


def test_smaller_budgets_get_smaller_sample_rates() -> None:
    rates = [sample_rate_for(e, accountant="rdp", noise_multiplier=1.0, steps=200, delta=1e-4) for e in (0.5, 1, 2)]
    assert rates[0] < rates[1] < rates[2]


def test_a_budget_no_rate_meets_is_refused() -> None:
    with pytest.raises(BudgetInfeasible):
        sample_rate_for(1e-4, accountant="rdp", noise_multiplier=0.3, steps=10_000, delta=1e-6)
    with pytest.raises(BudgetInfeasible):
        sample_rate_for(0.0, accountant="rdp", noise_multiplier=1.0, steps=10, delta=1e-5)


def test_a_generous_budget_samples_everything() -> None:
    assert sample_rate_for(1e6, accountant="rdp", noise_multiplier=5.0, steps=1, delta=1e-5) == 1.0


@pytest.mark.parametrize(
    ("size", "delta", "expected"),
    [(100, None, 1e-3), (1000, 1e-4, 1e-4), (1000, 1e-3, 1e-3)],
)
def test_delta_is_at_most_one_over_the_group_size(size: int, delta: float | None, expected: float) -> None:
    assert group_delta(GroupBudget("Chest X-ray", size, 2.0, delta)) == pytest.approx(expected)


@pytest.mark.parametrize(("size", "delta"), [(1000, 2e-3), (10, 0.0), (0, None)])
def test_a_delta_above_one_over_n_or_an_empty_group_is_refused(size: int, delta: float | None) -> None:
    with pytest.raises(PrivacyError):
        group_delta(GroupBudget("Head CT", size, 0.5, delta))


def test_calibrate_gives_each_group_its_own_rate_at_one_noise_multiplier() -> None:
    groups = [GroupBudget("Head CT", 200, 0.5), GroupBudget("Chest CT", 400, 1.0), GroupBudget("Chest X-ray", 800, 2.0)]
    plans = calibrate(groups, accountant="rdp", noise_multiplier=1.0, steps=50)
    assert [p.budget.name for p in plans] == ["Head CT", "Chest CT", "Chest X-ray"]
    assert plans[0].sample_rate < plans[1].sample_rate < plans[2].sample_rate
    for plan in plans:
        assert epsilon("rdp", 1.0, plan.sample_rate, 50, plan.delta) <= plan.budget.target_epsilon
        assert math.isclose(plan.expected_batch, plan.budget.size * plan.sample_rate)
