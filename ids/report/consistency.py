"""Consistency of the draft with itself, read by the negation-aware labeler (ids.report.mentions).

Codes:
- "contradiction": one finding family both asserted and negated on an overlapping side, within a
  section ("No pleural effusion. Large right pleural effusion.") or between FINDINGS and IMPRESSION.
  A negation without a side covers both sides; an asserted mention without a side conflicts only
  with such a side-less negation ("No left effusion. Pleural effusion." is not flagged).
- "laterality-mismatch": a sided family (effusion, pneumothorax, consolidation) whose non-negated
  mentions name sides in both sections, and the sides named in FINDINGS and in IMPRESSION are
  disjoint (right only in one, left only in the other). A bilateral finding summarised by one
  side is not a mismatch.
- "normal-impression-abnormal-findings": an impression that calls the study normal ("normal chest",
  "no acute cardiopulmonary abnormality", "unremarkable study", ...) and asserts no significant
  finding itself, over FINDINGS that assert a significant finding (SIGNIFICANT: cardiomegaly,
  effusion, pneumothorax, consolidation, nodule; atelectasis and devices are compatible with a
  "no acute" impression).

Uncertainty policy (mentions.py decides the status): an uncertain mention ("possible", "cannot
exclude", "may represent") is neither an assertion nor a negation. Uncertain vs negated is not a
contradiction; a normal impression over only uncertain findings is not flagged; an uncertain
mention's side does count for laterality (a hedge still names a side). A "relative" negation ("no
new consolidation") contradicts nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ids.report.base import Draft, ValidationContext, Violation
from ids.report.labels import FAMILIES, SIDED_FAMILIES
from ids.report.mentions import FindingMention, find_mentions

SIGNIFICANT: frozenset[str] = frozenset({"cardiomegaly", "effusion", "pneumothorax", "consolidation", "nodule"})


def _overlap(asserted: FindingMention, negated: FindingMention) -> bool:
    if negated.sides is None:
        return True
    return asserted.sides is not None and bool(asserted.sides & negated.sides)


def _where(sections: set[str]) -> str:
    if sections == {"FINDINGS", "IMPRESSION"}:
        return "between FINDINGS and IMPRESSION"
    return f"within {sections.pop()}"


@dataclass(frozen=True)
class Contradiction:
    """The same finding asserted and negated (see the module docstring)."""

    code: str = "contradiction"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        tagged = [("FINDINGS", m) for m in find_mentions(draft.findings)]
        tagged += [("IMPRESSION", m) for m in find_mentions(draft.impression)]
        out = []
        for family in FAMILIES:
            asserted = [(s, m) for s, m in tagged if m.family == family and m.status == "asserted"]
            negated = [(s, m) for s, m in tagged if m.family == family and m.status == "negated" and not m.relative]
            pairs = [(sa, sn) for sa, a in asserted for sn, n in negated if _overlap(a, n)]
            if pairs:
                # Prefer naming a FINDINGS vs IMPRESSION conflict when there is one.
                cross = [p for p in pairs if p[0] != p[1]]
                sa, sn = (cross or pairs)[0]
                out.append(Violation(self.code, f"{family} is both asserted and negated {_where({sa, sn})}"))
        return out


def _named_sides(mentions: list[FindingMention], family: str) -> frozenset[str]:
    sides: set[str] = set()
    for m in mentions:
        if m.family == family and m.status != "negated" and m.sides:
            sides |= m.sides
    return frozenset(sides)


@dataclass(frozen=True)
class LateralityMismatch:
    """A sided finding on one side in FINDINGS and only on the other side in IMPRESSION."""

    code: str = "laterality-mismatch"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        findings, impression = find_mentions(draft.findings), find_mentions(draft.impression)
        out = []
        for family in SIDED_FAMILIES:
            left, right = _named_sides(findings, family), _named_sides(impression, family)
            if left and right and not left & right:
                out.append(
                    Violation(
                        self.code,
                        f"{family} is on the {'/'.join(sorted(left))} in FINDINGS "
                        f"and on the {'/'.join(sorted(right))} in IMPRESSION",
                    )
                )
        return out


_NORMAL_IMPRESSION = re.compile(
    r"\b(?:normal (?:chest|study|exam|examination|radiograph|chest radiograph|chest x-?ray|chest film|film)"
    r"|no acute (?:\w+ ){0,2}?(?:abnormalit(?:y|ies)|process|disease|findings?|pathology|change)"
    r"|no (?:radiographic |significant |cardiopulmonary |intrathoracic )?abnormalit(?:y|ies)"
    r"|unremarkable (?:chest|study|exam|examination|radiograph)|(?:chest|study|exam|radiograph) is unremarkable"
    r"|within normal limits)\b"
    r"|^\W*(?:normal|negative|unremarkable)\W*$"
)


@dataclass(frozen=True)
class NormalImpressionOverAbnormalFindings:
    """A normal impression over significant asserted findings (see the module docstring)."""

    code: str = "normal-impression-abnormal-findings"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        if not _NORMAL_IMPRESSION.search(draft.impression.lower()):
            return []
        impression = find_mentions(draft.impression)
        if any(m.family in SIGNIFICANT and m.status != "negated" for m in impression):
            return []
        families = sorted(
            {m.family for m in find_mentions(draft.findings) if m.family in SIGNIFICANT and m.status == "asserted"}
        )
        if not families:
            return []
        return [Violation(self.code, f"impression is normal but FINDINGS assert {', '.join(families)}")]
