"""Identifier recognizers (deid/text/recognizers/identifiers.py): MRN, accession, other IDs, SSN."""

from __future__ import annotations

import pytest

from deid.text import ACCESSION, ID, MRN, SSN, TextRedactor
from deid.text.base import RuleRecognizer
from deid.text.recognizers.identifiers import (
    AccessionRecognizer,
    IdentifierRecognizer,
    MrnRecognizer,
    SsnRecognizer,
)
from tests.deid.text.helpers import best_score, covered, detect, found

#: (recognizer, text, every (type, span) it reports). Empty: clinical text it must leave alone.
CASES: list[tuple[type[RuleRecognizer], str, list[tuple[str, str]]]] = [
    (MrnRecognizer, "MRN: 00123456", [(MRN, "00123456")]),
    (MrnRecognizer, "MR# E123456 seen today", [(MRN, "E123456")]),
    (MrnRecognizer, "Medical record number 7654321.", [(MRN, "7654321")]),
    (MrnRecognizer, "Med Rec #: 000756", [(MRN, "000756")]),
    (MrnRecognizer, "Patient ID is 88812345.", [(MRN, "88812345")]),
    (MrnRecognizer, "Chart no. 4455667", [(MRN, "4455667")]),
    (MrnRecognizer, "MRN pending; MRI of the brain at 3 T.", []),
    (MrnRecognizer, "MRN: 12", []),  # too short to be a record number
    (AccessionRecognizer, "Accession #: A16527841", [(ACCESSION, "A16527841")]),
    (AccessionRecognizer, "ACC 2023-12345", [(ACCESSION, "2023-12345")]),
    (AccessionRecognizer, "Acc: CR-23-0012345 |", [(ACCESSION, "CR-23-0012345")]),
    (AccessionRecognizer, "Accessory fissure. According to the history.", []),
    (AccessionRecognizer, "Accession number pending", []),
    (IdentifierRecognizer, "Encounter #: V1234567", [(ID, "V1234567")]),
    (IdentifierRecognizer, "Insurance ID: ABC302812909.", [(ID, "ABC302812909")]),
    (IdentifierRecognizer, "Study UID 1.2.840.113619.2.55.3.604688.", [(ID, "1.2.840.113619.2.55.3.604688")]),
    (IdentifierRecognizer, "Reference 12345678 on file.", [(ID, "12345678")]),
    (IdentifierRecognizer, "Specimen XR-1234567 sent", [(ID, "XR-1234567")]),
    (IdentifierRecognizer, "COVID-19 pneumonia. T12 compression. L4-L5 disc.", []),
    (IdentifierRecognizer, "SpO2 92% on 2 L. Metoprolol 100 mg daily.", []),
    (IdentifierRecognizer, "Mass measures 3.5 x 2.1 x 1.2 cm.", []),
    (IdentifierRecognizer, "Heparin 1000000 units infused.", []),  # a dose, not an identifier
    (IdentifierRecognizer, "Version 2.1.0 installed", []),
    (SsnRecognizer, "SSN: 123-45-6789", [(SSN, "123-45-6789")]),
    (SsnRecognizer, "social security number 123456789", [(SSN, "123456789")]),
    (SsnRecognizer, "SSN 123 45 6789", [(SSN, "123 45 6789")]),
    (SsnRecognizer, "Area 000-12-3456", []),  # never issued
    (SsnRecognizer, "Code 666-12-3456", []),
    (SsnRecognizer, "Call 123-456-7890", []),
    (SsnRecognizer, "BP 120/80, HR 88, RR 18.", []),
]


@pytest.mark.parametrize(
    ("recognizer", "text", "expected"),
    CASES,
    ids=[f"{cls.__name__}-{i}" for i, (cls, _, _) in enumerate(CASES)],
)
def test_identifier_recognizers(recognizer: type[RuleRecognizer], text: str, expected: list[tuple[str, str]]) -> None:
    assert detect(recognizer(), text) == expected


#: (recognizer, text, span, its best raw score). Unlabelled numbers stay below the 0.85 of a
#: confident detection, so that a longer confident detection types an overlapping cluster.
SCORES: list[tuple[type[RuleRecognizer], str, str, float]] = [
    (MrnRecognizer, "MRN: 00123456", "00123456", 0.95),
    (AccessionRecognizer, "ACC 2023-12345", "2023-12345", 0.95),
    (IdentifierRecognizer, "Encounter #: V1234567", "V1234567", 0.9),
    (IdentifierRecognizer, "Study UID 1.2.840.113619.2.55.3.604688.", "1.2.840.113619.2.55.3.604688", 0.85),
    (IdentifierRecognizer, "Reference 12345678 on file.", "12345678", 0.6),
    (IdentifierRecognizer, "Specimen XR-1234567 sent", "XR-1234567", 0.6),
    (SsnRecognizer, "SSN: 123-45-6789", "123-45-6789", 0.95),
    (SsnRecognizer, "Ref 123-45-6789", "123-45-6789", 0.8),
]


@pytest.mark.parametrize(
    ("recognizer", "text", "span", "score"), SCORES, ids=[f"{c.__name__}-{s}" for c, _, s, _ in SCORES]
)
def test_identifier_scores(recognizer: type[RuleRecognizer], text: str, span: str, score: float) -> None:
    assert best_score(recognizer(), text, span) == pytest.approx(score)


# -- through the redactor -------------------------------------------------------------------------

POSITIVES: list[tuple[str, str, str]] = [
    # (text, the PHI in it, recognizer family: for the test id only)
    ("MRN: 00123456", "00123456", "mrn"),
    ("MR# E123456 seen today", "E123456", "mrn"),
    ("Medical record number 7654321.", "7654321", "mrn"),
    ("Med Rec #: 000756", "000756", "mrn"),
    ("Accession #: A16527841", "A16527841", "accession"),
    ("ACC 2023-12345", "2023-12345", "accession"),
    ("Acc: CR-23-0012345 |", "CR-23-0012345", "accession"),
    ("Encounter #: V1234567", "V1234567", "id"),
    ("Insurance ID: ABC302812909.", "ABC302812909", "id"),
    ("Study UID 1.2.840.113619.2.55.3.604688.", "1.2.840.113619.2.55.3.604688", "id"),
    ("Reference 12345678 on file.", "12345678", "id"),
    ("SSN: 123-45-6789", "123-45-6789", "ssn"),
    ("social security number 123456789", "123456789", "ssn"),
]

NEGATIVES: list[tuple[str, str]] = [
    ("MRN pending; MRI of the brain at 3 T.", "mrn"),
    ("Accessory fissure. According to the history.", "accession"),
    ("COVID-19 pneumonia. T12 compression. L4-L5 disc.", "id"),
    ("SpO2 92% on 2 L. Metoprolol 100 mg daily.", "id"),
    ("Mass measures 3.5 x 2.1 x 1.2 cm.", "id"),
]


@pytest.mark.parametrize(
    ("text", "phi"),
    [(t, p) for t, p, _ in POSITIVES],
    ids=[f"{k}-{i}" for i, (_, _, k) in enumerate(POSITIVES)],
)
def test_redactor_finds_identifiers(redactor: TextRedactor, text: str, phi: str) -> None:
    assert covered(redactor, text, phi), found(redactor, text)


@pytest.mark.parametrize(("text", "why"), NEGATIVES, ids=[w for _, w in NEGATIVES])
def test_redactor_leaves_clinical_numbers(redactor: TextRedactor, text: str, why: str) -> None:
    assert found(redactor, text) == []
