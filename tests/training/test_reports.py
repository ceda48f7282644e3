"""Ground-truth reports: content per finding, negatives, determinism, variety and length."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.training.test_findings import study_findings
from training.findings import FINDINGS, FindingDetails, StudyFindings, sample_findings
from training.labeler import label_report
from training.reports import Report, write_report

NORMAL_IMPRESSIONS = {
    "No acute cardiopulmonary abnormality.",
    "No acute cardiopulmonary process.",
    "No acute intrathoracic abnormality.",
    "Normal chest radiograph.",
}


def _texts(f: StudyFindings, details: FindingDetails | None = None, n: int = 30) -> list[str]:
    return [write_report(f, np.random.default_rng(s), details=details).text for s in range(n)]


def test_text_joins_sections() -> None:
    r = Report(findings="The lungs are clear.", impression="Normal chest radiograph.")
    assert r.text == "FINDINGS: The lungs are clear. IMPRESSION: Normal chest radiograph."


def test_same_findings_and_seed_give_the_same_report() -> None:
    f = StudyFindings(effusion="left", devices=frozenset({"tube"}))
    a = write_report(f, np.random.default_rng(9))
    b = write_report(f, np.random.default_rng(9))
    assert a == b


@pytest.mark.parametrize(
    ("findings", "details", "patterns"),
    [
        (
            StudyFindings(consolidation=("right", "lower")),
            None,
            [r"right lower lobe", r"consolidation|pneumonia"],
        ),
        (StudyFindings(consolidation=("right", "middle")), None, [r"right middle lobe"]),
        (StudyFindings(consolidation=("left", "upper")), None, [r"left upper lobe"]),
        (StudyFindings(effusion="both"), None, [r"bilateral"]),
        (StudyFindings(effusion="right"), None, [r"right(-sided)? pleural effusion"]),
        (StudyFindings(pneumothorax="left"), None, [r"left(-sided)?( apical)? pneumothorax"]),
        (
            StudyFindings(nodule=("left", "upper", 22, "nodule")),
            None,
            [r"nodule", r"left upper lung zone", r"(22 mm|2\.2 cm)"],
        ),
        (StudyFindings(nodule=("right", "lower", 48, "mass")), None, [r"\bmass\b", r"right lower lung zone"]),
        (StudyFindings(atelectasis=("left", "lower")), None, [r"atelectasis", r"left"]),
        (StudyFindings(cardiomegaly=True), None, [r"cardiomegaly|enlarge"]),
        (
            StudyFindings(devices=frozenset({"tube"})),
            FindingDetails(ctr=0.45, tube_cm=4),
            [r"(endotracheal|ET) tube", r"4 cm above the carina"],
        ),
        (
            StudyFindings(devices=frozenset({"line"})),
            FindingDetails(ctr=0.45, line_kind="right_ij_cvc", line_tip="svc"),
            [r"right (internal jugular|IJ)", r"SVC|superior vena cava"],
        ),
        (
            StudyFindings(devices=frozenset({"line"})),
            FindingDetails(ctr=0.45, line_kind="left_picc", line_tip="cavoatrial_junction"),
            [r"left.*PICC", r"cavoatrial junction"],
        ),
        (
            StudyFindings(devices=frozenset({"pacemaker"})),
            FindingDetails(ctr=0.45, pacemaker_side="left", pacemaker_leads=2),
            [r"left(-sided| chest wall)", r"pacemaker", r"atri"],
        ),
    ],
)
def test_report_states_the_finding(
    findings: StudyFindings, details: FindingDetails | None, patterns: list[str]
) -> None:
    for text in _texts(findings, details):
        for pattern in patterns:
            assert re.search(pattern, text, re.IGNORECASE), (pattern, text)


def test_normal_study_reports_negatives() -> None:
    for text in _texts(StudyFindings(), n=60):
        lower = text.lower()
        assert re.search(r"no (pleural )?effusion|no pneumothorax or pleural effusion", lower)
        assert "pneumothorax" in lower
        assert re.search(r"heart size|cardiac silhouette|cardiomediastinal", lower)
        assert text.split("IMPRESSION: ")[1] in NORMAL_IMPRESSIONS


def test_devices_only_study_has_a_normal_impression_and_mentions_devices() -> None:
    f = StudyFindings(devices=frozenset({"line"}))
    for s in range(20):
        r = write_report(f, np.random.default_rng(s))
        first = r.impression.split(". ")[0] + "."
        assert first in NORMAL_IMPRESSIONS - {"Normal chest radiograph."}
        assert "Support devices" in r.impression


def test_phrasing_varies() -> None:
    f = StudyFindings(effusion="left", pneumothorax="right", consolidation=("left", "lower"))
    assert len(set(_texts(f, n=40))) >= 10


def test_reports_are_short() -> None:
    rng = np.random.default_rng(3)
    counts = []
    for _ in range(2000):
        r = write_report(sample_findings(rng), rng)
        counts.append(len(r.findings.split()) + len(r.impression.split()))
    assert np.percentile(counts, 95) <= 70
    assert max(counts) <= 110


@given(study_findings(), st.integers(0, 2**32 - 1))
@settings(max_examples=150)
def test_impression_summarises_every_positive(f: StudyFindings, seed: int) -> None:
    r = write_report(f, np.random.default_rng(seed))
    expected = f.labels()
    expected[FINDINGS.index("line") :] = 0  # devices are summarised as "support devices"
    assert np.array_equal(label_report(r.impression), expected), r.impression
