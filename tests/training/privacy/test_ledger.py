"""The ledger fails closed, privacy.json recomputes with Opacus, and non-private steps are refused."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("opacus")

from training.privacy.accounting import BudgetInfeasible, GroupBudget, GroupPlan, calibrate
from training.privacy.ledger import (
    FORMAT,
    BudgetExhausted,
    NonPrivateStep,
    PrivacyLedger,
    recompute,
)

GROUPS = [GroupBudget("Head CT", 100, 0.5), GroupBudget("Chest X-ray", 500, 2.0)]


def _ledger(steps: int = 20, accountant: str = "rdp") -> PrivacyLedger:
    plans = calibrate(GROUPS, accountant=accountant, noise_multiplier=1.0, steps=steps)
    return PrivacyLedger.open(
        plans, accountant=accountant, noise_multiplier=1.0, max_grad_norm=1.0, planned_steps=steps,
        public_pretraining="generated phantoms (declared public), 2 epochs",
    )  # fmt: skip


def test_the_ledger_stops_before_any_class_exceeds_its_budget() -> None:
    ledger = _ledger(steps=5)
    for _ in range(5):
        ledger.before_step()
        ledger.step()
    with pytest.raises(BudgetExhausted):
        ledger.before_step()
    with pytest.raises(BudgetExhausted):
        ledger.step()
    assert ledger.steps == 5
    for name, spent in ledger.spent().items():
        target = {g.name: g.target_epsilon for g in GROUPS}[name]
        assert 0 < spent <= target


def test_a_plan_whose_rates_exceed_the_targets_is_refused_before_training() -> None:
    too_fast = [GroupPlan(GROUPS[0], 1e-3, 0.9)]
    with pytest.raises(BudgetInfeasible, match="Head CT"):
        PrivacyLedger.open(too_fast, accountant="rdp", noise_multiplier=1.0, max_grad_norm=1.0, planned_steps=100)


def test_a_non_private_step_on_private_data_is_refused() -> None:
    with pytest.raises(NonPrivateStep):
        _ledger().refuse_non_private_step("fine-tuning without DP")


@pytest.mark.parametrize("accountant", ["rdp", "prv"])
def test_privacy_json_recomputes_to_the_recorded_epsilon(accountant: str, tmp_path: Path) -> None:
    ledger = _ledger(steps=12, accountant=accountant)
    for _ in range(9):
        ledger.step()
    path = ledger.write(tmp_path / "privacy.json")
    doc = json.loads(path.read_text())
    assert doc["format"] == FORMAT and doc["accountant"] == accountant
    assert doc["steps"] == 9 and doc["non_private_steps_on_private_data"] == 0
    assert doc["public_pretraining"].startswith("generated phantoms")
    recomputed = recompute(doc)
    for group in doc["groups"]:
        assert group["delta"] <= 1 / group["size"]
        assert group["epsilon"] <= group["target_epsilon"]
        assert recomputed[group["class"]] == pytest.approx(group["epsilon"], rel=1e-6)


def test_a_document_of_another_format_is_not_recomputed() -> None:
    with pytest.raises(Exception, match="securemed-privacy"):
        recompute({"format": "something-else", "groups": []})


def test_duplicate_groups_and_bad_parameters_are_refused() -> None:
    plans = calibrate(GROUPS, accountant="rdp", noise_multiplier=1.0, steps=5)
    with pytest.raises(Exception, match="distinct"):
        PrivacyLedger.open(
            [plans[0], plans[0]], accountant="rdp", noise_multiplier=1.0, max_grad_norm=1.0, planned_steps=5
        )
    with pytest.raises(Exception, match="positive"):
        PrivacyLedger.open(plans, accountant="rdp", noise_multiplier=1.0, max_grad_norm=0.0, planned_steps=5)
