from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.pipeline import Report
from appliance.validate import (
    LengthBounds,
    NoHeaderLeak,
    NoPhiPatterns,
    ReportValidator,
    SectionsPresent,
    ValidationContext,
)

GOOD = Report(
    "The heart size is normal. No pleural effusion. No pneumothorax.", "No acute cardiopulmonary abnormality."
)
CTX = ValidationContext(
    identifying_values=("DOE", "JOHN", "PID12345", "ACC998877", "19600102", "General Hospital"),
    free_text_values=("Shortness of breath after fall at home",),
)


def test_a_normal_report_passes() -> None:
    assert ReportValidator().check(GOOD, CTX) == []


@pytest.mark.parametrize(
    "rule, report, reason",
    [
        (SectionsPresent(), Report("", "Normal."), "FINDINGS section is missing"),
        (SectionsPresent(), Report("Normal heart.", "  "), "IMPRESSION section is missing"),
        (LengthBounds(), Report("Ok.", "Ok."), "fewer than 3"),
        (LengthBounds(max_words=10), Report("word " * 8, "word " * 8), "more than 10"),
        (NoPhiPatterns(), Report("Compared with 01/02/2020.", "Stable."), "date"),
        (NoPhiPatterns(), Report("Compared with March 3, 2021.", "Stable."), "date"),
        (NoPhiPatterns(), Report("MRN 12345678 noted.", "Stable."), "identifier"),
        (NoPhiPatterns(), Report("Call 555-123-4567.", "Stable."), "phone"),
        (NoPhiPatterns(), Report("Discussed with Dr. Smith.", "Stable."), "person"),
        (NoPhiPatterns(), Report("Send to a@b.org please.", "Stable."), "email"),
        (NoHeaderLeak(), Report("Patient John Doe has effusion.", "Effusion."), "identifying header value"),
        (NoHeaderLeak(), Report("Heart normal.", "Shortness of breath after fall at home."), "copied from a header"),
        (NoHeaderLeak(), Report("Seen at general hospital today.", "Normal."), "identifying header value"),
    ],
)
def test_each_rule_catches_its_case(rule, report, reason) -> None:
    violations = rule.check(report, CTX)
    assert violations and reason in violations[0].reason
    assert violations[0].rule == rule.name


@pytest.mark.parametrize(
    "rule, report",
    [
        (NoPhiPatterns(), Report("Endotracheal tube 4 cm above the carina. 5 mm nodule.", "Tube in place.")),
        (NoPhiPatterns(), Report("T10 compression deformity, stable. Level 2 of 3.", "No acute change.")),
        (NoHeaderLeak(), Report("The heart size is normal; no effusion, no johnson sign.", "Normal.")),
    ],
)
def test_rules_do_not_fire_on_clinical_text(rule, report) -> None:
    assert rule.check(report, CTX) == []


def test_violation_reasons_never_quote_the_report() -> None:
    report = Report("Patient John Doe 01/02/2020 MRN 12345678.", "Shortness of breath after fall at home.")
    for v in ReportValidator().check(report, CTX):
        assert "John" not in v.reason and "12345678" not in v.reason and "breath" not in v.reason


@settings(max_examples=100, deadline=None)
@given(value=st.from_regex(r"[A-Z][a-z]{3,10}", fullmatch=True), before=st.sampled_from(["", "Seen ", "Note: "]))
def test_any_identifying_value_is_caught_in_any_case(value: str, before: str) -> None:
    ctx = ValidationContext(identifying_values=(value,))
    report = Report(f"{before}{value.upper()} has a small effusion.", "Effusion.")
    assert NoHeaderLeak().check(report, ctx)
