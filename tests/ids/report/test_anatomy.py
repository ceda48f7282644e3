"""Medical constraints: anatomy and modality terms for the study, device placements (table-driven)."""

from __future__ import annotations

import pytest

from ids.report import AnatomyMismatch, DeviceInconsistent, Draft, ValidationContext

RULES = (AnatomyMismatch(), DeviceInconsistent())


@pytest.mark.parametrize(
    ("findings", "impression", "modality", "body_part", "codes"),
    [
        # The example: a fractured metacarpal on a chest film.
        (
            "Acute transverse fracture of the fourth metacarpal shaft.",
            "Metacarpal fracture.",
            "CR",
            "CHEST",
            {"anatomy-mismatch"},
        ),
        ("Soft tissue swelling over the dorsum of the left hand.", "No fracture.", "DX", "CHEST", {"anatomy-mismatch"}),
        ("Comminuted fracture of the distal radius.", "Wrist fracture.", "CR", "CHEST", {"anatomy-mismatch"}),
        ("Heart normal. Dilated lateral ventricles.", "Hydrocephalus.", "CR", "CHEST", {"anatomy-mismatch"}),
        ("Intracranial hemorrhage.", "Acute bleed.", "DX", "THORAX", {"anatomy-mismatch"}),
        ("Lungs clear. Dilated loops of small bowel.", "Possible obstruction.", "CR", "CHEST", {"anatomy-mismatch"}),
        ("Findings suggest acute appendicitis.", "Appendicitis.", "CR", "CHEST", {"anatomy-mismatch"}),
        ("Enlarged uterus.", "Fibroid uterus.", "CR", "CHEST", {"anatomy-mismatch"}),
        ("Joint effusion of the knee.", "Knee effusion.", "CR", "CHEST", {"anatomy-mismatch"}),
        ("Nondisplaced fracture of the femoral neck.", "Hip fracture.", "CR", "CHEST", {"anatomy-mismatch"}),
        ("Hyperintense signal in the left lower lobe.", "Consolidation.", "CR", "CHEST", {"anatomy-mismatch"}),
        ("Lesion measures 40 Hounsfield units.", "Nodule.", "DX", "CHEST", {"anatomy-mismatch"}),
        # Chest-adjacent anatomy on a chest film is fine.
        (
            "Upper abdomen is unremarkable. No free air under the diaphragm.",
            "No acute abnormality.",
            "CR",
            "CHEST",
            set(),
        ),
        (
            "Degenerative change of both shoulders. Humeral heads and clavicles intact.",
            "No fracture.",
            "CR",
            "CHEST",
            set(),
        ),
        ("Healed left rib fractures. Thoracic spine alignment normal.", "No acute abnormality.", "DX", "CHEST", set()),
        ("Pacemaker with leads in the right atrium and right ventricle.", "Pacemaker.", "CR", "CHEST", set()),
        ("Gastric bubble is normal.", "Normal chest.", "CR", "CHEST", set()),
        # Body parts without a table are not checked.
        ("Fracture of the fourth metacarpal.", "Metacarpal fracture.", "CR", "HAND", set()),
        # Devices where they cannot be.
        (
            "VP shunt tip in the lateral ventricle.",
            "Shunt in place.",
            "CR",
            "CHEST",
            {"anatomy-mismatch", "device-inconsistent"},
        ),
        (
            "Ventriculoperitoneal shunt tubing terminating in the peritoneum.",
            "Shunt.",
            "CR",
            "CHEST",
            {"device-inconsistent"},
        ),
        ("Endotracheal tube tip in the superior vena cava.", "Tube.", "CR", "CHEST", {"device-inconsistent"}),
        ("Right arm PICC with tip in the trachea.", "PICC.", "CR", "CHEST", {"device-inconsistent"}),
        ("Pacemaker leads project over the stomach.", "Pacemaker.", "DX", "CHEST", {"device-inconsistent"}),
        ("Nasogastric tube terminates in the right atrium.", "Tube.", "CR", "CHEST", {"device-inconsistent"}),
        ("Intrauterine device in place.", "IUD.", "CR", "CHEST", {"device-inconsistent"}),
        ("Endotracheal tube 22 cm above the carina.", "Tube.", "CR", "CHEST", {"device-inconsistent"}),
        # Reported malpositions and ordinary positions are findings, not inconsistencies.
        ("Endotracheal tube tip in the right main bronchus.", "Right mainstem intubation.", "CR", "CHEST", set()),
        ("Nasogastric tube coiled in the esophagus.", "Malpositioned enteric tube.", "CR", "CHEST", set()),
        ("Right IJ central line with tip in the right atrium.", "Line tip in the atrium.", "CR", "CHEST", set()),
        (
            "Endotracheal tube 5 cm above the carina, right PICC terminating in the SVC.",
            "Devices.",
            "CR",
            "CHEST",
            set(),
        ),
        ("Ventriculoperitoneal shunt tubing courses along the right chest wall.", "Shunt.", "CR", "CHEST", set()),
        ("ET tube 12 cm above the carina, recommend advancing.", "High tube.", "CR", "CHEST", set()),
    ],
)
def test_anatomy_and_device_rules(
    findings: str, impression: str, modality: str, body_part: str, codes: set[str]
) -> None:
    draft = Draft(findings, impression, modality, body_part)
    assert {v.code for rule in RULES for v in rule.check(draft, ValidationContext())} == codes


def test_reasons_name_the_region_not_the_text() -> None:
    (v,) = AnatomyMismatch().check(Draft("Fracture of the fifth metacarpal.", "Fracture."), ValidationContext())
    assert v.reason == "report describes hand or wrist anatomy on a CR CHEST study"
