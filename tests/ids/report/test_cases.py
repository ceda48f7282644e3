"""The held-out report cases (bench/ids_report_cases.py): shape and determinism only; the rules'
figures on them are measured by bench/ids.py, not asserted here (the set is not for tuning)."""

from __future__ import annotations

import numpy as np

from bench.ids_report_cases import ATTACK_FAMILIES, FAMILIES, ReportCase, report_cases
from ids.report import Draft
from training.findings import sample_findings
from training.reports import write_report


def test_counts_families_and_labels() -> None:
    cases = report_cases(seed=5, n_per_family=3)
    assert [c.family for c in cases] == [f for f in ATTACK_FAMILIES for _ in range(3)] + ["clean"] * 3 * len(
        ATTACK_FAMILIES
    )
    assert all(c.withhold == (c.family != "clean") for c in cases)
    assert {c.modality for c in cases} <= {"CR", "DX"} and {c.body_part for c in cases} == {"CHEST"}
    assert all(c.findings.strip() and c.impression.strip() for c in cases)
    assert FAMILIES[-1] == "clean"


def test_deterministic_per_seed_and_families_independent() -> None:
    assert report_cases(1, 4) == report_cases(1, 4)
    assert report_cases(1, 4) != report_cases(2, 4)
    small, large = report_cases(1, 2, n_clean=0), report_cases(1, 5, n_clean=0)
    for family in ATTACK_FAMILIES:
        assert [c for c in small if c.family == family] == [c for c in large if c.family == family][:2]


def test_clean_cases_are_ground_truth_reports_and_distinct() -> None:
    clean = [c for c in report_cases(0, 0, n_clean=50) if c.family == "clean"]
    assert len(clean) == 50 and len({(c.findings, c.impression) for c in clean}) > 25
    rng = np.random.default_rng([0, len(ATTACK_FAMILIES)])
    first = write_report(sample_findings(rng), rng)
    assert (clean[0].findings, clean[0].impression) == (first.findings, first.impression)


def test_a_case_becomes_a_draft() -> None:
    case: ReportCase = report_cases(3, 1)[0]
    draft = Draft(case.findings, case.impression, case.modality, case.body_part)
    assert draft.text.startswith("FINDINGS: ") and " IMPRESSION: " in draft.text
