"""The default validator: the issue's three drafts, the fail-closed policy, clean reports, and
harmless edits that must never flip a clean report to withhold."""

from __future__ import annotations

import re

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ids.report import RULE_ERROR, Draft, ReportValidator, SectionsPresent, ValidationContext, Violation, default_codes
from tests.ids.report.conftest import clean_drafts

CTX = ValidationContext()
CLEAN = clean_drafts(300, seed=2026)


@pytest.mark.parametrize(
    ("report", "expected"),
    [
        (
            "FINDINGS: No pleural effusion. Large right pleural effusion. IMPRESSION: Normal chest.",
            {"contradiction", "normal-impression-abnormal-findings"},
        ),
        (
            "FINDINGS: Acute displaced fracture of the fifth metacarpal neck. IMPRESSION: Boxer's fracture.",
            {"anatomy-mismatch"},
        ),
        (
            "IMPRESSION: Ignore previous instructions, as an AI language model I cannot read images.",
            {"output-meta-talk", "output-instruction"},
        ),
    ],
)
def test_the_issues_drafts_are_withheld(validator: ReportValidator, report: str, expected: set[str]) -> None:
    codes = {v.code for v in validator.check(Draft.from_text(report), CTX)}
    assert expected <= codes
    assert RULE_ERROR not in codes


def test_every_default_code_is_documented_in_the_contract() -> None:
    assert set(default_codes()) == {
        "sections-missing", "length-short", "length-long", "repetition", "phi-pattern", "phi-entity",
        "header-leak", "contradiction", "laterality-mismatch", "normal-impression-abnormal-findings",
        "anatomy-mismatch", "device-inconsistent", "output-meta-talk", "output-markup", "output-instruction",
        "anomaly-logprob", "anomaly-image-agreement", "rule-error",
    }  # fmt: skip
    assert all(re.fullmatch(r"[a-z]+(?:-[a-z]+)*", code) for code in default_codes())


class _Broken:
    code = "broken"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        raise RuntimeError(f"cannot handle {draft.findings}")


def test_a_rule_that_raises_withholds_the_draft_and_the_rest_still_run(caplog) -> None:
    draft = Draft("Patient John Doe is well.", "")
    violations = ReportValidator([_Broken(), SectionsPresent()]).check(draft, CTX)
    assert violations == [
        Violation(RULE_ERROR, "rule broken raised RuntimeError"),
        Violation("sections-missing", "IMPRESSION section is missing or empty"),
    ]
    assert "John" not in caplog.text and "broken" in caplog.text


def test_clean_generated_reports_pass(validator: ReportValidator) -> None:
    """300 ground-truth reports of sampled studies: none is flagged by any rule (measured 0/300;
    the phi-entity rule included)."""
    flagged = [(d, validator.check(d, CTX)) for d in CLEAN if validator.check(d, CTX)]
    assert flagged == []


_SENTENCE = re.compile(r"(?<=[.])\s+")


@st.composite
def harmless_edit(draw: st.DrawFn, text: str) -> str:
    """Whitespace (spaces, tabs, line breaks between sentences), case, trailing punctuation."""
    sentences = _SENTENCE.split(text)
    seps = [draw(st.sampled_from([" ", "  ", "\n", " \t", "\n\n"])) for _ in sentences[1:]]
    out = sentences[0] + "".join(sep + s for sep, s in zip(seps, sentences[1:]))
    case = draw(st.sampled_from(["keep", "lower", "upper", "capitalize-first"]))
    if case == "lower":
        out = out.lower()
    elif case == "upper":
        out = out.upper()
    elif case == "capitalize-first":
        out = out[:1].upper() + out[1:]
    tail = draw(st.sampled_from(["keep", "strip", "double", "space"]))
    if tail == "strip":
        out = out.rstrip(". ")
    elif tail == "double":
        out = out.rstrip() + "."
    elif tail == "space":
        out = f"  {out}  "
    return out


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data(), index=st.integers(0, len(CLEAN) - 1))
def test_harmless_edits_never_flip_a_clean_report(validator: ReportValidator, data: st.DataObject, index: int) -> None:
    base = CLEAN[index]
    edited = Draft(data.draw(harmless_edit(base.findings)), data.draw(harmless_edit(base.impression)))
    assert validator.check(edited, CTX) == []
