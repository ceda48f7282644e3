"""Mention-level view of the labeler: family, status (asserted / negated / uncertain), sides."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ids.report.labeler import label_report
from ids.report.labels import FAMILY_OF, FINDINGS
from ids.report.mentions import find_mentions
from tests.training.test_findings import study_findings
from training.findings import StudyFindings
from training.reports import write_report

L, R, BOTH = frozenset({"left"}), frozenset({"right"}), frozenset({"left", "right"})


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("No pleural effusion.", [("effusion", "negated", None)]),
        ("Moderate left pleural effusion.", [("effusion", "asserted", L)]),
        ("Possible small right effusion.", [("effusion", "uncertain", R)]),
        ("A left pneumothorax cannot be excluded.", [("pneumothorax", "uncertain", L)]),
        ("Cannot exclude early pneumonia in the right lower lobe.", [("consolidation", "uncertain", R)]),
        ("Opacity at the left base may represent atelectasis.", [("atelectasis", "uncertain", None)]),
        ("No right effusion; trace left effusion.", [("effusion", "negated", R), ("effusion", "asserted", L)]),
        ("Bilateral pleural effusions.", [("effusion", "asserted", BOTH)]),
        ("Cardiomegaly.", [("cardiomegaly", "asserted", None)]),
        ("No new nodules.", [("nodule", "negated", None)]),
        (
            "No pneumothorax, but there is questionable left effusion.",
            [("pneumothorax", "negated", None), ("effusion", "uncertain", L)],
        ),
        ("The lungs are clear.", []),
    ],
)
def test_mentions(text: str, expected: list[tuple[str, str, frozenset[str] | None]]) -> None:
    assert [(m.family, m.status, m.sides) for m in find_mentions(text)] == expected


@pytest.mark.parametrize(
    ("text", "relative"),
    [
        ("No new consolidation.", True),
        ("No other nodules are seen.", True),
        ("No increasing effusion.", True),
        ("No consolidation.", False),
        ("No focal consolidation.", False),
    ],
)
def test_relative_negations(text: str, relative: bool) -> None:
    (mention,) = find_mentions(text)
    assert mention.status == "negated" and mention.relative == relative


@given(study_findings(), st.integers(0, 2**32 - 1))
@settings(max_examples=200, deadline=None)
def test_non_negated_mentions_are_the_labelers_positive_families(f: StudyFindings, seed: int) -> None:
    """The mention view agrees with label_report on which families are present."""
    text = write_report(f, np.random.default_rng(seed)).text
    present = {m.family for m in find_mentions(text) if m.status != "negated"}
    labelled = {FAMILY_OF[name] for name, v in zip(FINDINGS, label_report(text)) if v}
    assert present == labelled, text
