"""Negation-aware rule labeler: free chest X-ray report text -> label vector (FINDINGS order).

One rule per finding family, driven by the `RULES` table: a rule finds mentions of its family's
terms sentence by sentence, drops the negated ones and, for sided families (effusion,
pneumothorax, consolidation), decides the side of each remaining mention.

Policy, stated once:
- Negation (NegEx-style): a pre-trigger ("no", "without", "negative for", "no evidence of",
  "resolution of", "removal of", ...) negates every later term of its sentence up to a
  terminator ("but", "however", ", and", "there is", ...), which covers lists such as
  "No focal consolidation, effusion, or pneumothorax". A post-trigger ("has resolved",
  "is not seen", "removed", ...) negates the term before it in the same clause. Pseudo-triggers
  ("no change in", "cannot exclude") are not negations.
- Uncertain mentions ("possible pneumonia", "cannot exclude a pneumothorax") count as positive.
- Sides: a side word in the term itself or just before it ("small left pleural effusion",
  "right and left effusions", "bibasilar"), else just after it ("effusion on the right",
  "consolidation in the left lower lobe", "effusions, right greater than left"), else the one
  side named in the same sentence, else the sides of the family's other positive mentions in
  the report, else both sides. "Lingula" means left, "middle lobe" means right.
- A label is 1 when at least one mention of it survives; negated mentions never clear a label
  set by another mention.

`FindingRule.all_mentions` also returns the negated mentions (flagged `negated`); the
mention-level view with uncertainty (asserted / negated / uncertain) is `ids.report.mentions`.
Moved here from `training/labeler.py`, which re-exports this module.

Pure Python + numpy; no torch.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np

from ids.report.labels import FINDINGS

# Sentence boundaries: a period that is not a decimal point, semicolons, line breaks, and a colon
# after a section header ("FINDINGS:").
_SENTENCE_SPLIT = re.compile(r"(?<!\d)\.(?!\d)|[;!?\n]|:(?=\s)")

_PRE_NEGATION = re.compile(
    r"\b(?:no|not|without|negative for|free of|clear of|absence of|resolution of|resolved|"
    r"removal of|rule out|ruled out|r/o|evaluate for|assess for|history of|no longer|"
    r"interval removal of)\b"
)
_POST_NEGATION = re.compile(
    r"\b(?:has resolved|have resolved|resolved|(?:is|are) not (?:seen|identified|present|"
    r"visualized|evident)|not (?:seen|identified|present|visualized|evident)|(?:is|are) absent|"
    r"absent|(?:has|have) been removed|removed|no longer (?:seen|visualized|present|identified|"
    r"evident)|(?:has|have) cleared|cleared)\b"
)
# Phrases that contain a trigger word but do not negate what follows.
_PSEUDO_NEGATION = re.compile(
    r"\b(?:no (?:significant |interval |appreciable )?change|not (?:significantly )?changed|"
    r"cannot (?:be )?exclude\w*|can ?not (?:be )?exclude\w*|not (?:be )?excluded|"
    r"not (?:be )?ruled out|cannot rule out|no increase|not only|without change)\b"
)
_TERMINATOR = re.compile(
    r"\b(?:but|however|although|though|except|aside from|apart from|which|whereas|while|yet|"
    r"there is|there are|there has been)\b|,\s*and\b"
)
# Clause breaks limit post-triggers and side words.
_CLAUSE_BREAK = re.compile(r"[,;:()]|\b(?:and|with|but|or|while|whereas|which)\b")

_SIDE = re.compile(
    r"\b(?:(?P<s1>right|left|rt|lt)(?:\s*(?:and|/|&|or)\s*(?P<s2>right|left))?(?:-?sided)?"
    r"|(?P<both>bilateral(?:ly)?|both|bibasilar|bibasal|biapical)"
    r"|(?P<ling>lingula(?:r)?)|(?P<middle>middle lobe))\b"
)
_GREATER_THAN = re.compile(
    r"^\W*(?:\w+\s+){0,2}?(?:right|left)\s+(?:greater|larger|more|worse)\s+than\s+(?:left|right)"
)
_MAX_GAP_WORDS = 4


def _sides_of(match: re.Match[str]) -> frozenset[str]:
    if match.group("both"):
        return frozenset({"left", "right"})
    if match.group("ling"):
        return frozenset({"left"})
    if match.group("middle"):
        return frozenset({"right"})
    found = set()
    for group in ("s1", "s2"):
        word = match.group(group)
        if word:
            found.add("right" if word in ("right", "rt") else "left")
    return frozenset(found)


def _sides_in(text: str) -> frozenset[str]:
    sides: set[str] = set()
    for m in _SIDE.finditer(text):
        sides |= _sides_of(m)
    return frozenset(sides)


def _is_short_gap(gap: str) -> bool:
    return len(gap.split()) <= _MAX_GAP_WORDS and not _CLAUSE_BREAK.search(gap)


def split_sentences(text: str) -> list[str]:
    """Lower-cased sentences of text (decimal points do not split)."""
    return [s.strip() for s in _SENTENCE_SPLIT.split(text.lower()) if s.strip()]


def is_negated(sentence: str, start: int, end: int) -> bool:
    """True when the term at sentence[start:end] is negated (see the module docstring)."""
    pseudo = [m.span() for m in _PSEUDO_NEGATION.finditer(sentence)]

    def real(pos: int) -> bool:
        return not any(ps <= pos < pe for ps, pe in pseudo)

    for trig in _PRE_NEGATION.finditer(sentence, 0, start):
        if real(trig.start()) and not _TERMINATOR.search(sentence, trig.end(), start):
            return True
    post = _POST_NEGATION.search(sentence, end)
    if post is not None and real(post.start()):
        gap = sentence[end : post.start()]
        return not _CLAUSE_BREAK.search(gap) and len(gap.split()) <= 8
    return False


@dataclass(frozen=True)
class Mention:
    """One mention of a family's term; sides is None when the text names no side for it.

    `mentions` returns only the non-negated ones (negated False); `all_mentions` returns both."""

    sentence: str
    start: int
    end: int
    sides: frozenset[str] | None
    negated: bool = False


class FindingRule:
    """A finding family without sides: any non-negated term sets its label.

    terms and excludes are regular expressions over lower-cased text; a term match that
    overlaps an exclude match ("mass effect") is not a mention.
    """

    def __init__(self, label: str, terms: tuple[str, ...], excludes: tuple[str, ...] = ()) -> None:
        self.label = label
        self.terms = terms
        self.excludes = excludes
        self._term_re = re.compile("|".join(f"(?:{t})" for t in terms))
        self._exclude_re = re.compile("|".join(f"(?:{t})" for t in excludes) or r"(?!x)x")

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.label!r})"

    def mentions(self, sentence: str) -> list[Mention]:
        """Non-negated mentions of the family's terms in one lower-cased sentence."""
        return [m for m in self.all_mentions(sentence) if not m.negated]

    def all_mentions(self, sentence: str) -> list[Mention]:
        """Every mention of the family's terms in one lower-cased sentence, negated ones flagged."""
        excluded = [m.span() for m in self._exclude_re.finditer(sentence)]
        found = []
        for m in self._term_re.finditer(sentence):
            if any(es < m.end() and m.start() < ee for es, ee in excluded):
                continue
            negated = is_negated(sentence, m.start(), m.end())
            found.append(Mention(sentence, m.start(), m.end(), self._side(sentence, m), negated))
        return found

    def _side(self, sentence: str, m: re.Match[str]) -> frozenset[str] | None:
        return None

    def apply(self, mentions: list[Mention], labels: dict[str, bool]) -> None:
        if mentions:
            labels[self.label] = True


class SidedFindingRule(FindingRule):
    """A family labelled per side: label is the left label, right_label the right one."""

    def __init__(self, label: str, right_label: str, terms: tuple[str, ...], excludes: tuple[str, ...] = ()) -> None:
        super().__init__(label, terms, excludes)
        self.right_label = right_label

    def _side(self, sentence: str, m: re.Match[str]) -> frozenset[str] | None:
        inside = _sides_in(m.group(0))
        if inside:
            return inside
        before = sentence[: m.start()]
        candidates = list(_SIDE.finditer(before))
        if candidates and _is_short_gap(before[candidates[-1].end() :]):
            return _sides_of(candidates[-1])
        after = sentence[m.end() :]
        if _GREATER_THAN.search(after):
            return frozenset({"left", "right"})
        first = _SIDE.search(after)
        if first is not None and _is_short_gap(after[: first.start()]):
            return _sides_of(first)
        return None

    def apply(self, mentions: list[Mention], labels: dict[str, bool]) -> None:
        resolved: list[frozenset[str]] = [m.sides for m in mentions if m.sides]
        elsewhere = frozenset().union(*resolved) if resolved else frozenset()
        for m in mentions:
            sides = m.sides
            if not sides:
                in_sentence = _sides_in(m.sentence)
                if len(in_sentence) == 1:
                    sides = in_sentence
                else:
                    sides = elsewhere or frozenset({"left", "right"})
            if "left" in sides:
                labels[self.label] = True
            if "right" in sides:
                labels[self.right_label] = True


RULES: tuple[FindingRule, ...] = (
    FindingRule(
        "cardiomegaly",
        terms=(
            r"cardiomegaly",
            r"cardiac enlargement",
            r"enlarge(?:d|ment of the) (?:cardiac silhouette|heart|cardiac contour)",
            r"enlarged (?:cardiac|heart) (?:silhouette|size|shadow)",
            (
                r"(?:heart|cardiac silhouette|cardiac size|heart size|cardiac contour|"
                r"cardiomediastinal silhouette)\s+(?:is|appears|remains|are)\s+"
                r"(?:(?:again|still|now|mildly|moderately|markedly|severely|slightly|minimally|"
                r"massively|borderline)\s+)*enlarged"
            ),
        ),
    ),
    SidedFindingRule(
        "effusion_left",
        right_label="effusion_right",
        terms=(
            r"(?<!pericardial )\beffusions?\b",
            r"pleural fluid",
            r"hydrothorax",
            r"hydropneumothora(?:x|ces)",
            r"blunt(?:ed|ing)? (?:of )?(?:the )?(?:\w+ ){0,2}costophrenic (?:angles?|sulc\w+)",
            r"costophrenic (?:angles?|sulc\w+) (?:is |are )?(?:\w+ )?blunt\w*",
        ),
    ),
    SidedFindingRule(
        "pneumothorax_left",
        right_label="pneumothorax_right",
        terms=(r"pneumothora(?:x|ces)", r"\bptx\b"),
    ),
    SidedFindingRule(
        "consolidation_left",
        right_label="consolidation_right",
        terms=(
            r"\bconsolidat\w*",
            r"\bair-?space (?:opacit\w+|disease|opacification|process)",
            r"\b(?:broncho)?pneumonias?\b",
            r"\binfiltrat(?:e|es|ion)\b",
        ),
    ),
    FindingRule(
        "nodule",
        terms=(
            r"\bnodul(?:e|es|ar|arity)\b",
            r"\bmass(?:es)?\b",
            r"\b(?:pulmonary|lung|cavitary|spiculated|suspicious) lesions?\b",
            r"\btumou?rs?\b",
            r"\bneoplasms?\b",
        ),
        excludes=(r"\bmass effect\b",),
    ),
    FindingRule(
        "atelectasis",
        terms=(
            r"\batelecta\w*",
            r"\b(?:lobar|lobe|segmental|subsegmental) collapse\b",
            r"\bcollapse of the (?:\w+ ){0,3}lobe\b",
            r"\bvolume loss\b",
        ),
    ),
    FindingRule(
        "line",
        terms=(
            r"\bcentral venous catheters?\b",
            r"\bcentral (?:venous )?lines?\b",
            r"\bcvcs?\b",
            r"\bpiccs?\b",
            r"\bperipherally inserted central (?:venous )?catheters?\b",
            r"\bport-?a-?caths?\b",
            r"\bmedi-?ports?\b",
            r"\bports?\b",
            r"\bhickman\b",
            r"\bswan-?ganz\b",
            r"\bpulmonary artery catheters?\b",
            (
                r"\b(?:internal jugular|ij|subclavian|dialysis|hemodialysis|tunnell?ed|"
                r"triple-lumen|venous) (?:\w+ ){0,2}?(?:catheters?|lines?)\b"
            ),
        ),
    ),
    FindingRule(
        "tube",
        terms=(
            r"\bendotracheal\b",
            r"\bet tubes?\b",
            r"\betts?\b",
            r"\btracheostomy\b",
            r"\btrach(?:eal)? tubes?\b",
            r"\bintubated\b",
        ),
    ),
    FindingRule(
        "pacemaker",
        terms=(
            r"\bpacemakers?\b",
            r"\bpacers?\b",
            r"\bpacing (?:device|leads?|wires?|generator)s?\b",
            r"\ba?icds?\b",
            r"\bdefibrillators?\b",
            r"\b(?:cardiac|implantable) (?:\w+ ){0,2}?devices?\b",
            r"\bcrt-?[dp]\b",
            r"\bcied\b",
        ),
    ),
)


def label_report(text: str) -> np.ndarray:
    """Label free report text; float32 0/1 vector aligned with FINDINGS."""
    sentences = split_sentences(text)
    labels = dict.fromkeys(FINDINGS, False)
    for rule in RULES:
        mentions = [m for s in sentences for m in rule.mentions(s)]
        rule.apply(mentions, labels)
    return np.array([labels[name] for name in FINDINGS], dtype=np.float32)
