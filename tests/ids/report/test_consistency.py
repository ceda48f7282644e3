"""Consistency rules on the labeler: contradiction, laterality mismatch, normal impression over
abnormal findings, and the uncertainty policy (table-driven; each row names the codes expected)."""

from __future__ import annotations

import pytest

from ids.report import (
    Contradiction,
    Draft,
    LateralityMismatch,
    NormalImpressionOverAbnormalFindings,
    ValidationContext,
)

RULES = (Contradiction(), LateralityMismatch(), NormalImpressionOverAbnormalFindings())

CASES: list[tuple[str, str, set[str]]] = [
    # The example: a contradiction within FINDINGS, and a normal impression over it.
    (
        "No pleural effusion. Large right pleural effusion.",
        "Normal chest.",
        {"contradiction", "normal-impression-abnormal-findings"},
    ),
    # The FINDINGS vs IMPRESSION example.
    ("No pneumothorax. Heart size normal.", "Small right pneumothorax.", {"contradiction"}),
    ("Moderate cardiomegaly.", "No cardiomegaly.", {"contradiction"}),
    ("No nodules.", "Left upper lung zone nodule, CT recommended.", {"contradiction"}),
    ("ET tube 4 cm above the carina.", "No endotracheal tube.", {"contradiction"}),
    # Sides: a negation on the other side is no contradiction, one on the same side is.
    ("No left effusion. Small right effusion.", "Small right pleural effusion.", set()),
    ("No right pneumothorax.", "Small right pneumothorax.", {"contradiction"}),
    ("No left effusion.", "Pleural effusion.", set()),
    # Uncertainty: uncertain vs negated is not a contradiction.
    ("No pneumothorax.", "A small right pneumothorax cannot be excluded.", set()),
    ("Possible left lower lobe pneumonia.", "No focal consolidation.", set()),
    # Relative negations deny a change, not the finding.
    ("Right lower lobe consolidation. No new consolidation.", "Right lower lobe pneumonia.", set()),
    # Resolved findings are negated on both sides: nothing asserted.
    ("The right pneumothorax has resolved.", "Resolved right pneumothorax.", set()),
    # Laterality.
    ("Right lower lobe consolidation.", "Left lower lobe pneumonia.", {"laterality-mismatch"}),
    ("Small left pleural effusion.", "Small right pleural effusion.", {"laterality-mismatch"}),
    ("Large right-sided pneumothorax.", "Left pneumothorax.", {"laterality-mismatch"}),
    ("Bilateral pleural effusions.", "Left pleural effusion, larger than the right.", set()),
    ("Bilateral pleural effusions.", "Small left pleural effusion.", set()),
    ("Small right pleural effusion.", "Pleural effusion.", set()),
    ("Consolidation in the right lower lobe.", "Possible left lower lobe pneumonia.", {"laterality-mismatch"}),
    # Normal impression over abnormal findings.
    (
        "Moderate cardiomegaly. Lungs clear.",
        "No acute cardiopulmonary abnormality.",
        {"normal-impression-abnormal-findings"},
    ),
    (
        "A 2.4 cm nodule in the left upper lung zone.",
        "Normal chest radiograph.",
        {"normal-impression-abnormal-findings"},
    ),
    ("Small left pleural effusion.", "Unremarkable study.", {"normal-impression-abnormal-findings"}),
    # ... but not over uncertain findings, minor ones (atelectasis) or devices.
    ("Possible small left effusion.", "No acute cardiopulmonary abnormality.", set()),
    ("Linear atelectasis at the left lung base.", "No acute cardiopulmonary process.", set()),
    ("Right IJ central line with tip in the SVC.", "No acute cardiopulmonary abnormality.", set()),
    # ... nor when the impression itself names the finding.
    ("Small left pleural effusion.", "Small left pleural effusion. No acute abnormality otherwise.", set()),
    # Plain clean reports.
    ("The heart size is normal. No pleural effusion or pneumothorax.", "No acute cardiopulmonary abnormality.", set()),
    ("Mild cardiomegaly. Small right pleural effusion.", "Cardiomegaly. Small right pleural effusion.", set()),
]


@pytest.mark.parametrize(("findings", "impression", "codes"), CASES, ids=[f"{c[0][:30]}|{c[1][:30]}" for c in CASES])
def test_consistency_rules(findings: str, impression: str, codes: set[str]) -> None:
    draft = Draft(findings, impression)
    assert {v.code for rule in RULES for v in rule.check(draft, ValidationContext())} == codes


def test_contradiction_says_where_without_quoting() -> None:
    draft = Draft("No pleural effusion. Large right pleural effusion.", "Heart size normal.")
    (within,) = Contradiction().check(draft, ValidationContext())
    assert "within FINDINGS" in within.reason
    (across,) = Contradiction().check(Draft("No pneumothorax.", "Small right pneumothorax."), ValidationContext())
    assert "between FINDINGS and IMPRESSION" in across.reason
    assert "small" not in across.reason.lower()
