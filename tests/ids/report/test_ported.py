"""The four rules carried over from appliance/validate.py: same cases, same behaviour, new codes."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ids.report import (
    Draft,
    HeaderLeak,
    LengthBounds,
    PhiPatterns,
    ReportRule,
    ReportValidator,
    SectionsPresent,
    ValidationContext,
)

GOOD = Draft("The heart size is normal. No pleural effusion. No pneumothorax.", "No acute cardiopulmonary abnormality.")
CTX = ValidationContext(
    identifying_values=("DOE", "JOHN", "PID12345", "ACC998877", "19600102", "General Hospital"),
    free_text_values=("Shortness of breath after fall at home",),
)
PORTED: list[ReportRule] = [SectionsPresent(), LengthBounds(), PhiPatterns(), HeaderLeak()]


def test_a_normal_report_passes() -> None:
    assert ReportValidator(PORTED).check(GOOD, CTX) == []


@pytest.mark.parametrize(
    ("rule", "draft", "code", "reason"),
    [
        (SectionsPresent(), Draft("", "Normal."), "sections-missing", "FINDINGS section is missing"),
        (SectionsPresent(), Draft("Normal heart.", "  "), "sections-missing", "IMPRESSION section is missing"),
        (LengthBounds(), Draft("Ok.", "Ok."), "length-short", "fewer than 3"),
        (LengthBounds(max_words=10), Draft("word " * 8, "word " * 8), "length-long", "more than 10"),
        (PhiPatterns(), Draft("Compared with 01/02/2020.", "Stable."), "phi-pattern", "date"),
        (PhiPatterns(), Draft("Compared with March 3, 2021.", "Stable."), "phi-pattern", "date"),
        (PhiPatterns(), Draft("MRN 12345678 noted.", "Stable."), "phi-pattern", "identifier"),
        (PhiPatterns(), Draft("Call 555-123-4567.", "Stable."), "phi-pattern", "phone"),
        (PhiPatterns(), Draft("Discussed with Dr. Smith.", "Stable."), "phi-pattern", "person"),
        (PhiPatterns(), Draft("Send to a@b.org please.", "Stable."), "phi-pattern", "email"),
        (HeaderLeak(), Draft("Patient John Doe has effusion.", "Effusion."), "header-leak", "identifying header value"),
        (
            HeaderLeak(),
            Draft("Heart normal.", "Shortness of breath after fall at home."),
            "header-leak",
            "copied from a header",
        ),
        (HeaderLeak(), Draft("Seen at general hospital today.", "Normal."), "header-leak", "identifying header value"),
    ],
)
def test_each_rule_catches_its_case(rule, draft: Draft, code: str, reason: str) -> None:
    violations = rule.check(draft, CTX)
    assert violations and reason in violations[0].reason
    assert violations[0].code == code


@pytest.mark.parametrize(
    ("rule", "draft"),
    [
        (PhiPatterns(), Draft("Endotracheal tube 4 cm above the carina. 5 mm nodule.", "Tube in place.")),
        (PhiPatterns(), Draft("T10 compression deformity, stable. Level 2 of 3.", "No acute change.")),
        (HeaderLeak(), Draft("The heart size is normal; no effusion, no johnson sign.", "Normal.")),
        (LengthBounds(), Draft("Heart normal.", "Normal.")),
        (SectionsPresent(), Draft("Heart normal.", "Normal.")),
    ],
)
def test_rules_do_not_fire_on_clinical_text(rule, draft: Draft) -> None:
    assert rule.check(draft, CTX) == []


def test_violation_reasons_never_quote_the_report() -> None:
    draft = Draft("Patient John Doe 01/02/2020 MRN 12345678.", "Shortness of breath after fall at home.")
    violations = ReportValidator(PORTED).check(draft, CTX)
    assert {v.code for v in violations} == {"phi-pattern", "header-leak"}
    for v in violations:
        assert "John" not in v.reason and "12345678" not in v.reason and "breath" not in v.reason


@settings(max_examples=100, deadline=None)
@given(value=st.from_regex(r"[A-Z][a-z]{3,10}", fullmatch=True), before=st.sampled_from(["", "Seen ", "Note: "]))
def test_any_identifying_value_is_caught_in_any_case(value: str, before: str) -> None:
    ctx = ValidationContext(identifying_values=(value,))
    draft = Draft(f"{before}{value.upper()} has a small effusion.", "Effusion.")
    assert HeaderLeak().check(draft, ctx)
