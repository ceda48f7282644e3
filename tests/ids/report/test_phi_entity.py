"""PHI entities in the draft, found by the project's free-text cleaner (deid.text.TextRedactor)."""

from __future__ import annotations

import pytest

from ids.report import Draft, PhiEntities, ValidationContext
from tests.ids.report.conftest import clean_drafts

CTX = ValidationContext()


@pytest.mark.parametrize(
    ("findings", "impression", "kinds"),
    [
        ("Heart normal. Findings discussed with Maria Gonzalez by telephone.", "Normal.", {"PERSON"}),
        ("Report reviewed by Priya Raman MD.", "Stable.", {"PERSON"}),
        ("Patient MRN 7730291 identified.", "Stable.", {"MRN"}),
        ("Patient was seen at Saint Luke's Hospital.", "Stable.", {"FACILITY"}),
        ("Compared with the radiograph of June 2018.", "Stable.", {"DATE"}),
        ("Reachable at 415-555-0147.", "Stable.", {"PHONE"}),
        ("Copy to radiology.desk@example.net.", "Stable.", {"EMAIL"}),
        ("Home address 48 Birch Avenue.", "Stable.", {"ADDRESS"}),
        # Clinical vocabulary, eponyms and ages are not PHI entities.
        ("Kerley B lines. Swan-Ganz catheter in the right pulmonary artery. Westermark sign.", "Edema.", set()),
        ("Golden S sign of right upper lobe collapse. Deep sulcus sign.", "Collapse.", set()),
        ("Hickman catheter tip in the SVC. Port-A-Cath in the left chest wall.", "Devices.", set()),
        ("RIGHT IJ CENTRAL LINE WITH TIP IN THE SVC.", "LINE IN PLACE.", set()),
        # Capitals: clinical runs are not places, names still are.
        ("LEFT LOWER LUNG ZONE NODULE, CT RECOMMENDED.", "RIGHT LOWER LUNG ZONE ATELECTASIS.", set()),
        ("FINDINGS DISCUSSED WITH JOHN SMITH BY TELEPHONE.", "STABLE.", {"PERSON"}),
    ],
)
def test_phi_entity(redactor, findings: str, impression: str, kinds: set[str]) -> None:
    violations = PhiEntities(redactor).check(Draft(findings, impression), CTX)
    assert {v.code for v in violations} <= {"phi-entity"}
    assert {v.reason.removeprefix("report contains a ").removesuffix(" entity") for v in violations} == kinds


def test_reasons_never_quote_the_entity(redactor) -> None:
    violations = PhiEntities(redactor).check(Draft("Discussed with Maria Gonzalez.", "Stable."), CTX)
    assert violations and all("Gonzalez" not in v.reason and "Maria" not in v.reason for v in violations)


def test_the_redactor_is_built_once_on_first_use(redactor) -> None:
    built: list[object] = []

    def factory():
        built.append(redactor)
        return redactor

    rule = PhiEntities(factory=factory)
    assert built == []
    for _ in range(3):
        rule.check(Draft("Heart normal.", "Normal."), CTX)
    assert built == [redactor]


def test_no_phi_entity_in_clean_generated_reports(redactor) -> None:
    """Measured: 0 of 400 ground-truth reports (training.reports) flagged; the rule must stay at 0."""
    rule = PhiEntities(redactor)
    flagged = [d for d in clean_drafts(400, seed=11) if rule.check(d, CTX)]
    assert flagged == []
