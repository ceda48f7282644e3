"""Structure rules: sections, length, repetition (table-driven, positive and negative rows)."""

from __future__ import annotations

import pytest

from ids.report import Draft, LengthBounds, Repetition, SectionsPresent, ValidationContext

CTX = ValidationContext()


@pytest.mark.parametrize(
    ("rule", "draft", "codes"),
    [
        (SectionsPresent(), Draft("", ""), ["sections-missing", "sections-missing"]),
        (SectionsPresent(), Draft("\n\t", "Stable."), ["sections-missing"]),
        (SectionsPresent(), Draft("Heart normal.", "Normal."), []),
        (LengthBounds(), Draft("Clear.", ""), ["length-short"]),
        (LengthBounds(), Draft("Clear lungs.", "Normal."), []),
        (LengthBounds(min_words=1, max_words=5), Draft("one two three", "four five six"), ["length-long"]),
        (LengthBounds(min_words=1, max_words=6), Draft("one two three", "four five six"), []),
        # The same sentence three times, across sections and differing in case and spacing.
        (
            Repetition(),
            Draft("No pneumothorax. No  pneumothorax.", "NO PNEUMOTHORAX."),
            ["repetition"],
        ),
        # Twice is a normal summary.
        (Repetition(), Draft("Small left pleural effusion. Heart normal.", "Small left pleural effusion."), []),
        # A 4-gram looping inside one run-on sentence.
        (
            Repetition(),
            Draft(
                "There is a small effusion and a small effusion and a small effusion and a small effusion "
                "and a small effusion",
                "Effusion.",
            ),
            ["repetition"],
        ),
        (Repetition(), Draft("The the the the heart is normal.", "Normal."), ["repetition"]),
        (Repetition(), Draft("The the heart is normal.", "Normal."), []),
        # Four repeats of a 4-gram is the bound; three are not flagged.
        (
            Repetition(),
            Draft("A small effusion and a small effusion and a small effusion and a small effusion.", "Effusion."),
            [],
        ),
        (
            Repetition(),
            Draft(
                "Right lower lobe consolidation. Right upper lobe nodule. Right pleural effusion.",
                "Right lower lobe pneumonia. Right upper lobe nodule. Right pleural effusion.",
            ),
            [],
        ),
    ],
)
def test_structure_rules(rule, draft: Draft, codes: list[str]) -> None:
    assert sorted(v.code for v in rule.check(draft, CTX)) == sorted(codes)


def test_repetition_reports_each_kind_once() -> None:
    draft = Draft("Stable. Stable. Stable. Stable. Stable.", "Stable stable stable stable.")
    reasons = [v.reason for v in Repetition().check(draft, CTX)]
    assert any("sentence is repeated" in r for r in reasons)
    assert any("in a row" in r for r in reasons)
    assert all("stable" not in r.lower() for r in reasons)
