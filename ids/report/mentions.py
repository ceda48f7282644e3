"""Mention-level view of a report: each finding mention with its family, assertion status and sides.

    find_mentions("No pneumothorax. Possible small right effusion.")
    -> [FindingMention("pneumothorax", "negated", None, 0),
        FindingMention("effusion", "uncertain", frozenset({"right"}), 1)]

Built on the labeler's rule table (`ids.report.labeler.RULES`), so terms, negation scope and sides
are exactly the labeler's. Status policy:
- "negated": the labeler's negation (NegEx-style pre- and post-triggers, pseudo-triggers excluded).
- "uncertain": not negated, and hedged by a cue: before the term in its sentence with no
  terminator between ("possible", "possibly", "probable", "questionable", "suspected",
  "equivocal", "cannot exclude", "cannot rule out", "may represent", "could be", "differential
  includes", ...), or after it in the same clause ("... cannot be excluded", "... is not excluded",
  "... not ruled out", "... is questioned"). The labeler counts these as positive labels; the
  consistency rules (ids.report.consistency) do not treat them as assertions.
- "asserted": every other mention.
- relative: a negated mention whose negation is of a change or of further instances ("no new
  consolidation", "no other nodules", "no additional effusion", "no increasing effusion") is
  flagged `relative`: it does not deny that the finding is present, so it contradicts nothing.
Sides (sided families only): the labeler's side of the mention itself, else, for a non-negated
mention, the one side named in its sentence, else None (the report names no side for it; a negation
without a side covers both sides: "No pneumothorax, but a left effusion" negates both pneumothoraces).

Pure Python; no torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from ids.report.labeler import _TERMINATOR, RULES, _sides_in, split_sentences
from ids.report.labels import FAMILY_OF, SIDED_FAMILIES

Status = Literal["asserted", "negated", "uncertain"]

_UNCERTAIN_BEFORE = re.compile(
    r"\b(?:possible|possibly|probable|probably|questionable|question of|suspected|suspicion of|"
    r"equivocal|indeterminate|cannot (?:be )?exclude\w*|can ?not (?:be )?exclude\w*|"
    r"cannot rule out|can ?not rule out|may (?:represent|reflect|be|indicate)|"
    r"might (?:represent|reflect|be)|could (?:represent|reflect|be)|"
    r"differential (?:diagnosis )?includes?|versus|vs|or less likely)\b"
)
_RELATIVE = re.compile(
    r"\b(?:no|without|negative for) (?:\w+ ){0,2}?(?:new|other|additional|further|increas\w*|worsen\w*|"
    r"enlarg\w+|progressi\w+|interval (?:increase|worsening|enlargement|development))\b"
)
_UNCERTAIN_AFTER = re.compile(
    r"^[^,;:()]{0,40}?\b(?:cannot (?:be )?(?:excluded|ruled out)|can ?not (?:be )?(?:excluded|ruled out)|"
    r"(?:is |are )?not (?:be )?(?:excluded|ruled out)|(?:is |are )?questioned|(?:is |are )?suspected|"
    r"(?:is |are )?(?:possible|questionable|equivocal))\b"
)


@dataclass(frozen=True)
class FindingMention:
    """One mention: finding family (labels.FAMILIES), status, sides (None: none named), sentence index."""

    family: str
    status: Status
    sides: frozenset[str] | None
    sentence: int
    relative: bool = False


def _cue_before(cue: re.Pattern[str], sentence: str, start: int) -> bool:
    """A cue earlier in the sentence whose scope reaches `start` (no terminator between)."""
    return any(not _TERMINATOR.search(sentence, m.end(), start) for m in cue.finditer(sentence, 0, start))


def _is_uncertain(sentence: str, start: int, end: int) -> bool:
    return _cue_before(_UNCERTAIN_BEFORE, sentence, start) or _UNCERTAIN_AFTER.search(sentence[end:]) is not None


def find_mentions(text: str) -> list[FindingMention]:
    """Every finding mention of free report text, in text order."""
    out: list[FindingMention] = []
    for index, sentence in enumerate(split_sentences(text)):
        named = _sides_in(sentence)
        found: list[tuple[int, FindingMention]] = []
        for rule in RULES:
            family = FAMILY_OF[rule.label]
            for m in rule.all_mentions(sentence):
                if m.negated:
                    status: Status = "negated"
                elif _is_uncertain(sentence, m.start, m.end):
                    status = "uncertain"
                else:
                    status = "asserted"
                relative = m.negated and _cue_before(_RELATIVE, sentence, m.start)
                sides = m.sides or (named if len(named) == 1 and not m.negated else None)
                if family not in SIDED_FAMILIES:
                    sides = None
                found.append((m.start, FindingMention(family, status, sides, index, relative)))
        out.extend(mention for _, mention in sorted(found, key=lambda item: item[0]))
    return out
