"""Documents and their spans, the span-recording builder, and the cast of one document."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date

from training.phi_corpus.sentences import _TERM_MARK

PHI_TYPES: tuple[str, ...] = (
    "PERSON",
    "DATE",
    "AGE",
    "MRN",
    "ACCESSION",
    "ID",
    "SSN",
    "PHONE",
    "EMAIL",
    "URL",
    "IP_ADDRESS",
    "ADDRESS",
    "LOCATION",
    "FACILITY",
)


@dataclass(frozen=True)
class Span:
    """A labelled [start, end) range of a document's text."""

    label: str
    start: int
    end: int


@dataclass(frozen=True)
class Document:
    """One generated text with its gold PHI spans, planted clinical terms and header."""

    kind: str
    text: str
    phi: tuple[Span, ...]
    terms: tuple[Span, ...]
    header: dict[str, str]


class _Builder:
    """Appends text pieces and records the spans of labelled ones."""

    def __init__(self) -> None:
        self.parts: list[str] = []
        self.pos = 0
        self.phi: list[Span] = []
        self.terms: list[Span] = []

    def add(self, text: str, label: str | None = None) -> None:
        if label and text:
            self.phi.append(Span(label, self.pos, self.pos + len(text)))
        self.parts.append(text)
        self.pos += len(text)

    def add_clinical(self, marked: str, kind: str) -> None:
        """Append a [[marked]] sentence, recording each term as a `kind` span."""
        last = 0
        for m in _TERM_MARK.finditer(marked):
            self.add(marked[last : m.start()])
            self.terms.append(Span(kind, self.pos, self.pos + len(m.group(1))))
            self.add(m.group(1))
            last = m.end()
        self.add(marked[last:])

    def text(self) -> str:
        return "".join(self.parts)


@dataclass
class _Person:
    first: str
    middle: str
    last: str

    def pn(self) -> str:
        """DICOM PN value: FAMILY^GIVEN^MIDDLE, upper case as many RIS systems send it."""
        parts = [self.last, self.first] + ([self.middle] if self.middle else [])
        return "^".join(parts).upper()


@dataclass
class _Cast:
    """Everybody and everything one document may mention; the header holds a subset."""

    patient: _Person
    referring: _Person
    radiologist: _Person
    others: list[_Person]
    family: _Person
    facility: str
    outside_facility: str
    street: str
    city: str
    state: tuple[str, str]
    zip_code: str
    phone: str
    mrn: str
    accession: str
    dob: date
    exam_date: date
    age90: int
    header: dict[str, str] = field(default_factory=dict)
