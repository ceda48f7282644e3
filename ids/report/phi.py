"""PHI in the draft: identifier patterns, the study's own header values, and entities found by the
project's free-text cleaner (Presidio with the project's recognizers, `deid.text.TextRedactor`).

Codes: "phi-pattern", "header-leak", "phi-entity". Reasons name the kind of PHI, never the value.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from ids.report.base import Draft, ValidationContext, Violation

if TYPE_CHECKING:
    from deid.text import TextRedactor

_PHI_PATTERNS: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("date", re.compile(r"\b\d{1,4}[/.-]\d{1,2}[/.-]\d{2,4}\b")),
    ("date", re.compile(r"\b(?:19|20)\d{6}\b")),
    (
        "date",
        re.compile(r"\b(?:Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Sept|Oct|Nov|Dec)[a-z]*\.? \d{1,2},? \d{4}\b", re.I),
    ),
    ("identifier", re.compile(r"\b\d{6,}\b")),
    ("identifier", re.compile(r"\b[A-Z]{1,4}\d{5,}\b")),
    ("email", re.compile(r"\b[\w.+-]+@[\w-]+\.[\w.]+\b")),
    ("phone", re.compile(r"\(?\b\d{3}\)?[ .-]\d{3}[ .-]\d{4}\b")),
    ("person", re.compile(r"\b(?:Mr|Mrs|Ms|Miss|Dr)\.? [A-Z][a-z]+")),
)


@dataclass(frozen=True)
class PhiPatterns:
    """Dates, long digit runs and letter+digit identifiers, emails, phone numbers, honorific + name."""

    code: str = "phi-pattern"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        text = f"{draft.findings}\n{draft.impression}"
        kinds = sorted({kind for kind, pattern in _PHI_PATTERNS if pattern.search(text)})
        return [Violation(self.code, f"report contains a {kind} pattern") for kind in kinds]


def _words(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


@dataclass(frozen=True)
class HeaderLeak:
    """No identifying header value (>= 3 characters) and no free-text header value (>= 12 characters)
    of the study appears in the report, compared case- and punctuation-insensitively on word bounds."""

    min_identifying: int = 3
    min_free_text: int = 12
    code: str = "header-leak"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        text = f" {_words(draft.findings + ' ' + draft.impression)} "
        out = []
        for values, minimum, what in (
            (context.identifying_values, self.min_identifying, "an identifying header value"),
            (context.free_text_values, self.min_free_text, "text copied from a header field"),
        ):
            for value in values:
                needle = _words(value)
                if len(needle.replace(" ", "")) >= minimum and f" {needle} " in text:
                    out.append(Violation(self.code, f"report contains {what}"))
                    break
        return out


def _build_redactor() -> TextRedactor:
    from deid.text import TextRedactor

    return TextRedactor()


@dataclass
class PhiEntities:
    """Any PHI entity (PERSON, DATE, AGE, MRN, ACCESSION, ID, SSN, PHONE, EMAIL, URL, IP_ADDRESS,
    ADDRESS, LOCATION, FACILITY: `deid.text.DEFAULT_ENTITIES`) that the free-text cleaner finds in
    either section; one violation per entity type.

    redactor: a built TextRedactor to share; None builds one on first use (seconds: Presidio and the
    name model load), once per rule object, thread-safe. The study's header values are checked by
    HeaderLeak, so the cleaner runs without a study context here.

    A name-like entity (PERSON, LOCATION, FACILITY) whose every word is clinical vocabulary or a
    function word (deid.text.lexicon.is_lexical) is not counted. Why: reports written in capitals (a
    common RIS style) lose the capitalisation cues of the recognizers, and runs of clinical words
    ("LEFT LOWER LUNG ZONE NODULE") then come back as LOCATION; a real name ("JOHN SMITH", "St.
    Mary's Hospital") always has a non-lexical word.
    """

    redactor: TextRedactor | None = None
    factory: Callable[[], TextRedactor] = _build_redactor
    code: str = "phi-entity"
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def _redactor(self) -> TextRedactor:
        with self._lock:
            if self.redactor is None:
                self.redactor = self.factory()
            return self.redactor

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        redactor = self._redactor()
        kinds = sorted(
            {
                entity.type
                for section in (draft.findings, draft.impression)
                for entity in redactor.analyze(section)
                if not _only_vocabulary(entity.type, section[entity.start : entity.end])
            }
        )
        return [Violation(self.code, f"report contains a {kind} entity") for kind in kinds]


_NAME_LIKE = frozenset({"PERSON", "LOCATION", "FACILITY"})


def _only_vocabulary(kind: str, span: str) -> bool:
    from deid.text.lexicon import is_lexical

    words = re.findall(r"[^\W\d_]+(?:['-][^\W\d_]+)*", span)
    return kind in _NAME_LIKE and bool(words) and all(is_lexical(word) for word in words)
