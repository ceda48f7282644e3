"""Rule labeler: a table of report sentences (ours and other radiologists' phrasing), the rule
table itself, and the round trip from generated reports."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.training.test_findings import study_findings
from training.findings import FINDINGS, StudyFindings
from training.labeler import (
    RULES,
    SidedFindingRule,
    is_negated,
    label_report,
    split_sentences,
)
from training.reports import write_report

CASES: list[tuple[str, set[str]]] = [
    # Normal studies and plain negatives.
    ("The lungs are clear. The heart size is normal.", set()),
    ("No acute cardiopulmonary abnormality.", set()),
    ("No pleural effusion or pneumothorax.", set()),
    ("There is no focal consolidation, pleural effusion, or pneumothorax.", set()),
    ("Lungs are clear without consolidation or effusion.", set()),
    ("No evidence of pneumonia.", set()),
    ("Negative for pneumothorax.", set()),
    ("Free of focal airspace disease.", set()),
    ("No cardiomegaly.", set()),
    ("The heart is not enlarged.", set()),
    ("Heart size is upper limits of normal.", set()),
    ("No suspicious pulmonary nodules or masses.", set()),
    ("The right pneumothorax has resolved.", set()),
    ("Interval resolution of the left pleural effusion.", set()),
    ("Interval removal of the endotracheal tube.", set()),
    ("The PICC has been removed.", set()),
    ("Pneumothorax is no longer seen.", set()),
    ("No pericardial effusion.", set()),
    ("Small pericardial effusion.", set()),
    ("No mass effect on the trachea.", set()),
    ("Support devices in standard position.", set()),
    ("Portable AP upright view of the chest.", set()),
    ("History of pneumonia, now clear.", set()),
    # Cardiomegaly synonyms.
    ("Mild cardiomegaly.", {"cardiomegaly"}),
    ("The cardiac silhouette is moderately enlarged.", {"cardiomegaly"}),
    ("Enlarged cardiac silhouette.", {"cardiomegaly"}),
    ("Enlargement of the cardiac silhouette is again noted.", {"cardiomegaly"}),
    ("Stable cardiac enlargement.", {"cardiomegaly"}),
    ("Heart size is mildly enlarged.", {"cardiomegaly"}),
    ("Enlarged heart with pulmonary vascular congestion.", {"cardiomegaly"}),
    # Effusions and sides.
    ("Small left pleural effusion.", {"effusion_left"}),
    ("Moderate right-sided pleural effusion.", {"effusion_right"}),
    ("Bilateral pleural effusions.", {"effusion_left", "effusion_right"}),
    ("Small bilateral effusions, larger on the right.", {"effusion_left", "effusion_right"}),
    ("Pleural effusions, right greater than left.", {"effusion_left", "effusion_right"}),
    ("Right and left pleural effusions.", {"effusion_left", "effusion_right"}),
    ("Effusion on the left.", {"effusion_left"}),
    ("Layering pleural fluid on the right.", {"effusion_right"}),
    ("Blunting of the left costophrenic angle.", {"effusion_left"}),
    ("The right costophrenic angle is blunted.", {"effusion_right"}),
    ("Pleural effusion.", {"effusion_left", "effusion_right"}),
    ("No left effusion. Small right effusion.", {"effusion_right"}),
    ("No change in the small right pleural effusion.", {"effusion_right"}),
    # Pneumothorax.
    ("Small right apical pneumothorax.", {"pneumothorax_right"}),
    ("Large left-sided pneumothorax with mediastinal shift.", {"pneumothorax_left"}),
    ("Tiny pneumothorax on the right.", {"pneumothorax_right"}),
    ("Bilateral pneumothoraces.", {"pneumothorax_left", "pneumothorax_right"}),
    ("A small left PTX is present.", {"pneumothorax_left"}),
    ("Right pneumothorax cannot be excluded.", {"pneumothorax_right"}),
    ("Right hydropneumothorax.", {"pneumothorax_right", "effusion_right"}),
    # Consolidation.
    ("Right lower lobe consolidation.", {"consolidation_right"}),
    ("Consolidation in the left lower lobe.", {"consolidation_left"}),
    ("Patchy airspace opacity in the right upper lobe concerning for pneumonia.", {"consolidation_right"}),
    ("Lingular pneumonia.", {"consolidation_left"}),
    ("Middle lobe consolidation.", {"consolidation_right"}),
    ("Left lower lobe infiltrate.", {"consolidation_left"}),
    ("Bibasilar airspace disease.", {"consolidation_left", "consolidation_right"}),
    ("Right lower lobe pneumonia with a small adjacent effusion.", {"consolidation_right", "effusion_right"}),
    ("Left lower lobe consolidation and right pleural effusion.", {"consolidation_left", "effusion_right"}),
    ("Possible early pneumonia at the left base.", {"consolidation_left"}),
    (
        "Right lower lobe consolidation, concerning for pneumonia. No pneumothorax.",
        {"consolidation_right"},
    ),
    # Nodules and masses.
    ("A 2.1 cm nodule in the right upper lung zone.", {"nodule"}),
    ("Spiculated mass in the left upper lobe.", {"nodule"}),
    ("Nodular opacity projecting over the left mid lung.", {"nodule"}),
    ("Multiple pulmonary nodules.", {"nodule"}),
    # Atelectasis.
    ("Bibasilar atelectasis.", {"atelectasis"}),
    ("Plate-like atelectasis in the left mid lung zone.", {"atelectasis"}),
    ("Left lower lobe collapse.", {"atelectasis"}),
    ("Subsegmental atelectatic changes at the right base.", {"atelectasis"}),
    ("Mild volume loss in the right upper lobe.", {"atelectasis"}),
    ("No lobar collapse.", set()),
    # Devices.
    ("Right internal jugular central venous catheter with tip in the SVC.", {"line"}),
    ("Left subclavian central line terminates in the mid SVC.", {"line"}),
    ("Right upper extremity PICC with tip at the cavoatrial junction.", {"line"}),
    ("Right chest port catheter tip in the right atrium.", {"line"}),
    ("A Port-A-Cath is present.", {"line"}),
    ("Right IJ line in place.", {"line"}),
    ("Endotracheal tube 4 cm above the carina.", {"tube"}),
    ("ETT tip at the thoracic inlet.", {"tube"}),
    ("The patient is intubated.", {"tube"}),
    ("Tracheostomy tube in place.", {"tube"}),
    ("Left chest wall pacemaker with leads in the right atrium and right ventricle.", {"pacemaker"}),
    ("Dual-chamber pacer in unchanged position.", {"pacemaker"}),
    ("Left-sided AICD with a single lead in the right ventricle.", {"pacemaker"}),
    ("Cardiac conduction device leads are intact.", {"pacemaker"}),
    ("Nasogastric tube courses below the diaphragm.", set()),
    ("There is a small pleural line at the right apex.", set()),
    # Several findings at once, negations limited to their scope.
    (
        "Small left pleural effusion without pneumothorax. Heart size is normal.",
        {"effusion_left"},
    ),
    ("No pneumothorax, but there is a small right effusion.", {"effusion_right"}),
    ("No pneumothorax; small right effusion.", {"effusion_right"}),
    (
        (
            "FINDINGS: ET tube 5 cm above the carina. Right PICC terminating in the SVC. Moderate "
            "cardiomegaly. No effusion. IMPRESSION: Cardiomegaly. Support devices as described."
        ),
        {"tube", "line", "cardiomegaly"},
    ),
]


@pytest.mark.parametrize(("text", "positives"), CASES, ids=[c[0][:60] for c in CASES])
def test_label_report(text: str, positives: set[str]) -> None:
    labels = label_report(text)
    assert labels.dtype == np.float32
    assert labels.shape == (len(FINDINGS),)
    assert {name for name, v in zip(FINDINGS, labels) if v} == positives


def test_rules_cover_every_label_once() -> None:
    covered: list[str] = []
    for rule in RULES:
        covered.append(rule.label)
        if isinstance(rule, SidedFindingRule):
            covered.append(rule.right_label)
    assert sorted(covered) == sorted(FINDINGS)


@pytest.mark.parametrize(
    ("sentence", "term", "negated"),
    [
        ("no pleural effusion", "effusion", True),
        ("no consolidation, effusion, or pneumothorax", "pneumothorax", True),
        ("no pneumothorax, and the effusion is unchanged", "effusion", False),
        ("no change in the effusion", "effusion", False),
        ("the effusion has resolved", "effusion", True),
        ("the effusion is stable and the pneumothorax has resolved", "effusion", False),
        ("pneumothorax cannot be excluded", "pneumothorax", False),
        ("cannot exclude pneumothorax", "pneumothorax", False),
    ],
)
def test_negation_scope(sentence: str, term: str, negated: bool) -> None:
    start = sentence.index(term)
    assert is_negated(sentence, start, start + len(term)) == negated


def test_sentences_do_not_split_on_decimal_points() -> None:
    assert split_sentences("A 2.5 cm nodule. No effusion.") == ["a 2.5 cm nodule", "no effusion"]


@given(study_findings(), st.integers(0, 2**32 - 1))
@settings(max_examples=400, deadline=None)
def test_labels_of_generated_reports_are_the_findings(f: StudyFindings, seed: int) -> None:
    text = write_report(f, np.random.default_rng(seed)).text
    assert np.array_equal(label_report(text), f.labels()), text
