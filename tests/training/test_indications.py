"""Phantom clinical indications: each kind says what it promises about the study's findings."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.findings import FINDINGS, StudyFindings, sample_findings
from training.indications import KINDS, Indication, all_texts, indication, study_indications

NORMAL = StudyFindings()
LEFT_EFFUSION = StudyFindings(effusion="left")
LINE_AND_RIGHT_PTX = StudyFindings(pneumothorax="right", devices=frozenset({"line"}))
EVERYTHING = StudyFindings(
    cardiomegaly=True,
    effusion="both",
    pneumothorax="left",
    consolidation=("right", "lower"),
    nodule=("left", "upper", 20, "nodule"),
    atelectasis=("right", "lower"),
    devices=frozenset({"line", "tube", "pacemaker"}),
)


def _present(f: StudyFindings) -> set[str]:
    return {name for name, v in zip(FINDINGS, f.labels()) if v}


@pytest.mark.parametrize(
    ("findings", "kind", "allowed_labels"),
    [
        (LEFT_EFFUSION, "consistent", {"effusion_left"}),
        (LEFT_EFFUSION, "inconsistent", set(FINDINGS) - {"effusion_left"}),
        (LINE_AND_RIGHT_PTX, "consistent", {"line", "pneumothorax_right"}),
        (LINE_AND_RIGHT_PTX, "inconsistent", set(FINDINGS) - {"line", "pneumothorax_right"}),
        (NORMAL, "consistent", {None}),  # a reason that asserts no finding
        (NORMAL, "inconsistent", set(FINDINGS)),
        (EVERYTHING, "consistent", set(FINDINGS) - {"pneumothorax_right", "consolidation_left"}),
        (EVERYTHING, "inconsistent", {"pneumothorax_right", "consolidation_left"}),
        (LEFT_EFFUSION, "empty", {None}),
    ],
)
def test_kind_decides_which_findings_may_be_named(findings: StudyFindings, kind: str, allowed_labels: set) -> None:
    rng = np.random.default_rng(0)
    seen = set()
    for _ in range(40):
        ind = indication(findings, kind, rng)
        assert ind.kind == kind and ind.label in allowed_labels
        assert (ind.text == "") == (kind == "empty")
        seen.add(ind.label)
    assert len(seen) == min(len(allowed_labels), 40) or len(seen) > 1  # drawn, not fixed


@pytest.mark.parametrize(
    ("label", "words"),
    [
        ("effusion_left", ("left",)),
        ("effusion_right", ("right",)),
        ("pneumothorax_left", ("left",)),
        ("consolidation_right", ("right",)),
        ("tube", ("ett", "tube")),
        ("line", ("line", "picc", "cvc")),
        ("pacemaker", ("pacemaker", "ppm")),
    ],
)
def test_sided_and_device_indications_name_their_side_or_device(label: str, words: tuple[str, ...]) -> None:
    f = StudyFindings.from_dict({"devices": [label]} if label in ("tube", "line", "pacemaker") else {})
    if "_" in label:
        base, side = label.split("_")
        f = StudyFindings(
            effusion=side if base == "effusion" else None,
            pneumothorax=side if base == "pneumothorax" else None,
            consolidation=(side, "lower") if base == "consolidation" else None,
        )
    rng = np.random.default_rng(1)
    for _ in range(20):
        ind = indication(f, "consistent", rng)
        assert ind.label == label
        assert any(w in ind.text.lower() for w in words), ind.text
        other = {"left": "right", "right": "left"}.get(label.split("_")[-1])
        if other:
            assert other not in ind.text.lower()


def test_short_forms_and_abbreviations_are_used() -> None:
    texts = " ".join(all_texts()).lower()
    for abbreviation in ("r/o", "?", "sob", "f/u", "s/p"):
        assert abbreviation in texts
    assert max(len(t) for t in all_texts()) < 80  # a request line, not a document


def test_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind must be one of"):
        indication(NORMAL, "hostile", np.random.default_rng(0))


@settings(max_examples=80, deadline=None)
@given(st.integers(0, 2**63 - 1))
def test_study_indications_are_deterministic_and_keep_their_promise(seed: int) -> None:
    findings = sample_findings(np.random.default_rng(seed % 2**32))
    first, second = study_indications(findings, seed), study_indications(findings, seed)
    assert first == second and tuple(first) == KINDS
    present = _present(findings)
    assert first["consistent"].label is None or first["consistent"].label in present
    assert first["consistent"].label is not None or not present
    assert first["inconsistent"].label not in present and first["inconsistent"].label is not None
    assert first["empty"] == Indication("empty", "", None)
    assert all(t in all_texts() for t in (first["consistent"].text, first["inconsistent"].text))


def test_different_seeds_give_different_indications() -> None:
    texts = {study_indications(EVERYTHING, s)["consistent"].text for s in range(50)}
    assert len(texts) > 10
