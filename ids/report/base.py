"""What a report rule sees and returns: the draft, the study's context, and violations.

A rule is a small class with a stable `code` (the reason code it reports; rules that report
several codes list them in `codes`) and `check(draft, context) -> list[Violation]`. A violation's
`reason` never quotes the report or a header value: reasons are logged, recorded on the job and
sent to clinicians in the "withheld by validator" notice.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from runtime.sections import split_sections

if TYPE_CHECKING:
    from runtime.bundle import ValidationCalibration


@dataclass(frozen=True)
class Draft:
    """A generated report as two sections, with what the generator knows about it.

    token_logprobs: log-softmax of each emitted token (</s> included), empty when unknown.
    finding_probs: the image tower's finding probabilities in the calibration's label order, or None.
    """

    findings: str
    impression: str
    modality: str = "CR"
    body_part: str = "CHEST"
    token_logprobs: tuple[float, ...] = ()
    finding_probs: tuple[float, ...] | None = None

    @property
    def text(self) -> str:
        """Both sections as one string, in the layout the model writes."""
        return f"FINDINGS: {self.findings} IMPRESSION: {self.impression}"

    @classmethod
    def from_text(cls, report: str, modality: str = "CR", body_part: str = "CHEST") -> Draft:
        """A draft from "FINDINGS: ... IMPRESSION: ..." text, split as the generator splits it
        (`runtime.generator.split_sections`: no text is dropped), white space collapsed."""
        findings, impression = split_sections(report)
        return cls(" ".join(findings.split()), " ".join(impression.split()), modality, body_part)


@dataclass(frozen=True)
class ValidationContext:
    """What the validator knows about the study: values that must not appear in the report, and
    the bundle's anomaly thresholds (None: no anomaly checks)."""

    identifying_values: tuple[str, ...] = ()  # patient name parts, IDs, accession, dates, institution
    free_text_values: tuple[str, ...] = ()  # descriptors that could be copied verbatim
    calibration: ValidationCalibration | None = None


@dataclass(frozen=True)
class Violation:
    """One problem of a draft: a stable reason code and a reason that never quotes the report."""

    code: str
    reason: str


class ReportRule(Protocol):
    """A check of the draft; returns one Violation per problem (reasons never quote the text)."""

    @property
    def code(self) -> str: ...

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]: ...


def report_text(draft: Draft) -> str:
    """Both sections joined by a line break (a sentence boundary for the labeler)."""
    return f"{draft.findings}\n{draft.impression}"


def codes_of(rules: Sequence[Any]) -> tuple[str, ...]:
    """Every reason code the rules can report, in rule order (a rule's `codes`, else its `code`)."""
    out: list[str] = []
    for rule in rules:
        for code in getattr(rule, "codes", (rule.code,)):
            if code not in out:
                out.append(code)
    return tuple(out)
