"""Identifier recognizers of the free-text redactor (see deid/text/).

Contract: `MrnRecognizer` (MRN), `AccessionRecognizer` (ACCESSION) and `IdentifierRecognizer`
(ID) report the value after its label ("MRN: 00123456", "Accession #: A123", "Encounter #:
V1234567"), never the label; `IdentifierRecognizer` also reports DICOM UIDs (0.85) and, at 0.6
(above the redactor's 0.5 threshold but below the 0.85 of a confident detection), unlabelled
long numbers and letter-prefixed number codes that are not measurements. `SsnRecognizer` (SSN)
reports 123-45-6789 / 123 45 6789 anywhere and nine digits after "SSN". Scores are the rule
scores below; none of them uses context words.
"""

from __future__ import annotations

from deid.text.base import ACCESSION, ID, MRN, SSN, PatternRule, RuleRecognizer
from deid.text.lexicon import UNITS

_ID_VALUE = r"(?P<v>(?=[A-Z0-9\-]*\d{3})[A-Z]{0,5}[\-]?\d[A-Z0-9\-]{2,24}(?<!-))"


class MrnRecognizer(RuleRecognizer):
    """Medical record numbers after their label: "MRN: 00123456", "MR# E123456", "Med Rec #"."""

    ENTITY = MRN
    RULES = (
        PatternRule(
            "labelled",
            r"(?i:\b(?:MRN|MR\s?\#|MR\s?No\.?|MR\s?number|medical\s+record(?:\s+(?:number|no\.?|num|\#))?"
            r"|med\.?\s*rec\.?(?:\s*(?:no\.?|\#|number|num))?|hospital\s+(?:number|no\.?|\#)"
            r"|chart\s+(?:number|no\.?|\#)|unit\s+(?:number|no\.?)|patient\s+ID|pt\.?\s*ID|PID)(?![\w])\.?)"
            r"\s*(?:[:\#=]\s*|is\s+)?(?:\#\s*)?" + _ID_VALUE,
            0.95,
        ),
    )


class AccessionRecognizer(RuleRecognizer):
    """Accession numbers after their label: "Accession #: A123", "ACC 2023-1234"."""

    ENTITY = ACCESSION
    RULES = (
        PatternRule(
            "labelled",
            r"(?i:\b(?:accession|acc|accn)\b\.?(?:\s*(?:number|no\.?|num|\#))?)\s*(?:[:\#=]\s*)?(?:\#\s*)?" + _ID_VALUE,
            0.95,
        ),
    )


class IdentifierRecognizer(RuleRecognizer):
    """Other identifiers: labelled ones (encounter, visit, account, insurance, order, study ID,
    plain "ID:"), DICOM UIDs, and unlabelled long numbers or letter-prefixed number codes."""

    ENTITY = ID
    RULES = (
        PatternRule(
            "labelled",
            r"(?i:\b(?:encounter|visit|account|acct|admission|order|requisition|req|study|insurance|member"
            r"|policy|subscriber|claim|specimen|episode|csn|fin|har|billing|patient|device|serial|badge"
            r"|employee|license|licence|npi|dea|passport)\s*(?:id|number|no\.?|num|\#)(?![\w])\.?"
            r"|\bID\b)\s*(?:[:\#=]\s*)?(?:\#\s*)?" + _ID_VALUE,
            0.9,
        ),
        PatternRule("dicom_uid", r"(?<![\w.])(?P<v>[0-2](?:\.(?:0|[1-9]\d*)){4,})(?![\w]|\.\d)", 0.85),
        PatternRule(
            "long_number",
            r"(?<![\w.,/:\-+])(?P<v>\d{6,})(?![\w/%]|[.,]\d|\s*" + UNITS + r"\b)",
            0.6,
        ),
        PatternRule(
            "prefixed_code",
            r"(?<![\w\-])(?P<v>[A-Z]{1,5}-?(?=[\dA-Z\-]*\d{5})\d[\dA-Z\-]{4,})(?![\w\-])",
            0.6,
        ),
    )


class SsnRecognizer(RuleRecognizer):
    """US social security numbers: 123-45-6789 / 123 45 6789 anywhere, nine digits after "SSN"."""

    ENTITY = SSN
    RULES = (
        PatternRule(
            "dashed",
            r"(?<![\d\-])(?P<v>(?!000|666|9\d\d)\d{3}([\s\-])(?!00)\d{2}\2(?!0000)\d{4})(?![\d\-])",
            0.8,
        ),
        PatternRule(
            "labelled",
            r"(?i:\b(?:SSN|SS\#|social\s+security(?:\s+(?:number|no\.?|\#))?)(?![\w])\.?)\s*[:\#]?\s*"
            r"(?P<v>\d{9}|\d{3}[\s\-]\d{2}[\s\-]\d{4})(?!\d)",
            0.95,
        ),
    )
