"""Shared fixtures of the report rules' tests: one free-text cleaner per session (building it loads
Presidio and the name model), the default validator on it, and clean generated reports."""

from __future__ import annotations

import numpy as np
import pytest

from ids.report import Draft, PhiEntities, ReportValidator
from ids.report.rules import DEFAULT_RULE_TYPES
from training.findings import sample_findings
from training.reports import write_report


@pytest.fixture(scope="session")
def redactor():
    from deid.text import TextRedactor

    return TextRedactor()


@pytest.fixture(scope="session")
def validator(redactor) -> ReportValidator:
    """The default rule set, with the session's redactor shared by the PHI entity rule."""
    rules = [PhiEntities(redactor) if kind is PhiEntities else kind() for kind in DEFAULT_RULE_TYPES]
    return ReportValidator(rules)


def clean_drafts(n: int, seed: int) -> list[Draft]:
    """n ground-truth reports of sampled studies (training.reports), as drafts of a CR chest study."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        report = write_report(sample_findings(rng), rng)
        out.append(Draft(report.findings, report.impression))
    return out
