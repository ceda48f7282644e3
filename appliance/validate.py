"""Report validation before encryption: an unsafe draft is withheld with a reason, never passed silently.

Each rule is a small class with `check(report, context) -> list[Violation]`. The first version covers
structure (both sections present, length bounds), PHI patterns (dates, long digit runs, emails,
phone numbers, honorific + name), and leakage of header values (any identifying header value of the
study, or any longer free-text header value, appearing in the report). Violations carry the rule name
and a reason without the offending text, so they can be logged.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from appliance.pipeline import Report


@dataclass(frozen=True)
class Violation:
    rule: str
    reason: str


@dataclass(frozen=True)
class ValidationContext:
    """What the validator knows about the study: values that must not appear in the report."""

    identifying_values: tuple[str, ...] = ()  # patient name parts, IDs, accession, dates, institution
    free_text_values: tuple[str, ...] = ()  # descriptors that could be copied verbatim


class ValidationRule(Protocol):
    """A check of the draft; returns one Violation per problem (reasons never quote the text)."""

    @property
    def name(self) -> str: ...

    def check(self, report: Report, context: ValidationContext) -> list[Violation]: ...


@dataclass(frozen=True)
class SectionsPresent:
    name: str = "sections-present"

    def check(self, report: Report, context: ValidationContext) -> list[Violation]:
        out = []
        if not report.findings.strip():
            out.append(Violation(self.name, "FINDINGS section is missing or empty"))
        if not report.impression.strip():
            out.append(Violation(self.name, "IMPRESSION section is missing or empty"))
        return out


@dataclass(frozen=True)
class LengthBounds:
    min_words: int = 3
    max_words: int = 400
    name: str = "length-bounds"

    def check(self, report: Report, context: ValidationContext) -> list[Violation]:
        words = len(report.findings.split()) + len(report.impression.split())
        if words < self.min_words:
            return [Violation(self.name, f"report has {words} words, fewer than {self.min_words}")]
        if words > self.max_words:
            return [Violation(self.name, f"report has {words} words, more than {self.max_words}")]
        return []


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
class NoPhiPatterns:
    name: str = "no-phi-patterns"

    def check(self, report: Report, context: ValidationContext) -> list[Violation]:
        text = f"{report.findings}\n{report.impression}"
        kinds = sorted({kind for kind, pattern in _PHI_PATTERNS if pattern.search(text)})
        return [Violation(self.name, f"report contains a {kind} pattern") for kind in kinds]


def _normalise(text: str) -> str:
    return " ".join(re.findall(r"[a-z0-9]+", text.lower()))


@dataclass(frozen=True)
class NoHeaderLeak:
    """No identifying header value (>= 3 characters) and no free-text header value (>= 12 characters)
    of the study appears in the report, compared case- and punctuation-insensitively on word bounds."""

    min_identifying: int = 3
    min_free_text: int = 12
    name: str = "no-header-leak"

    def check(self, report: Report, context: ValidationContext) -> list[Violation]:
        text = f" {_normalise(report.findings + ' ' + report.impression)} "
        out = []
        for values, minimum, what in (
            (context.identifying_values, self.min_identifying, "an identifying header value"),
            (context.free_text_values, self.min_free_text, "text copied from a header field"),
        ):
            for value in values:
                needle = _normalise(value)
                if len(needle.replace(" ", "")) >= minimum and f" {needle} " in text:
                    out.append(Violation(self.name, f"report contains {what}"))
                    break
        return out


DEFAULT_RULES: tuple[ValidationRule, ...] = (SectionsPresent(), LengthBounds(), NoPhiPatterns(), NoHeaderLeak())


@dataclass(frozen=True)
class ReportValidator:
    rules: Sequence[ValidationRule] = field(default_factory=lambda: DEFAULT_RULES)

    def check(self, report: Report, context: ValidationContext) -> list[Violation]:
        return [v for rule in self.rules for v in rule.check(report, context)]
