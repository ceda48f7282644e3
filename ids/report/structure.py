"""Structure rules: both sections present, length bounds, repetition.

Codes: "sections-missing", "length-short", "length-long", "repetition".
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass

from ids.report.base import Draft, ValidationContext, Violation, report_text


@dataclass(frozen=True)
class SectionsPresent:
    """Both FINDINGS and IMPRESSION are non-blank."""

    code: str = "sections-missing"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        out = []
        if not draft.findings.strip():
            out.append(Violation(self.code, "FINDINGS section is missing or empty"))
        if not draft.impression.strip():
            out.append(Violation(self.code, "IMPRESSION section is missing or empty"))
        return out


@dataclass(frozen=True)
class LengthBounds:
    """The two sections together have min_words..max_words whitespace-separated words."""

    min_words: int = 3
    max_words: int = 400
    code: str = "length-bounds"
    codes: tuple[str, ...] = ("length-short", "length-long")

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        words = len(draft.findings.split()) + len(draft.impression.split())
        if words < self.min_words:
            return [Violation("length-short", f"report has {words} words, fewer than {self.min_words}")]
        if words > self.max_words:
            return [Violation("length-long", f"report has {words} words, more than {self.max_words}")]
        return []


_SENTENCE_END = re.compile(r"(?<!\d)[.!?;\n]+(?!\d)")
_WORD = re.compile(r"[a-z0-9]+")


@dataclass(frozen=True)
class Repetition:
    """A degenerate, looping draft: the same sentence `max_sentence` or more times (either
    section, compared on words only), a word n-gram (`ngram` words) `max_ngram` or more times, or
    a run of `max_run` or more identical consecutive words ("the the the the").

    Why these bounds: a clean report repeats short sentences at most twice (one in FINDINGS, its
    summary in IMPRESSION), and its longest shared 4-grams ("in the right upper") occur at most
    three times even with several sided findings.
    """

    max_sentence: int = 3
    ngram: int = 4
    max_ngram: int = 4
    max_run: int = 4
    code: str = "repetition"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        text = report_text(draft).lower()
        sentences = Counter(key for key in (" ".join(_WORD.findall(s)) for s in _SENTENCE_END.split(text)) if key)
        out = []
        if sentences and max(sentences.values()) >= self.max_sentence:
            out.append(Violation(self.code, f"a sentence is repeated {max(sentences.values())} times"))
        words = _WORD.findall(text)
        grams = Counter(tuple(words[i : i + self.ngram]) for i in range(len(words) - self.ngram + 1))
        if grams and max(grams.values()) >= self.max_ngram:
            out.append(Violation(self.code, f"a {self.ngram}-word phrase is repeated {max(grams.values())} times"))
        run = longest = 1 if words else 0
        for prev, word in zip(words, words[1:]):
            run = run + 1 if word == prev else 1
            longest = max(longest, run)
        if longest >= self.max_run:
            out.append(Violation(self.code, f"a word is repeated {longest} times in a row"))
        return out
