"""The study's own header values that a report must never repeat (read by the validate stage).

`header_values(ds)` collects, from the original (not de-identified) instance, the identifying
values (names and their parts, IDs, accession number, dates, institution, stations) and the
free-text descriptors that could be copied verbatim. The result is patient data: it stays in
memory and is never logged.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

# Header values that identify the patient or the encounter: the report must not contain them.
IDENTIFYING_KEYWORDS = (
    "PatientName",
    "PatientID",
    "OtherPatientIDs",
    "AccessionNumber",
    "PatientBirthDate",
    "StudyID",
    "InstitutionName",
    "InstitutionAddress",
    "ReferringPhysicianName",
    "PerformingPhysicianName",
    "OperatorsName",
    "PatientAddress",
    "PatientTelephoneNumbers",
    "StationName",
    "StudyDate",
)
# Free-text header fields whose content must not be copied into the report verbatim.
FREE_TEXT_KEYWORDS = (
    "StudyDescription",
    "SeriesDescription",
    "ImageComments",
    "AdditionalPatientHistory",
    "AdmittingDiagnosesDescription",
    "RequestedProcedureDescription",
    "PatientComments",
)


@dataclass(frozen=True)
class HeaderValues:
    """identifying: values (>= 1 character) and, for person names, their parts of 3+ characters;
    free_text: descriptor values. Both in first-seen order without duplicates."""

    identifying: tuple[str, ...] = ()
    free_text: tuple[str, ...] = ()

    def __add__(self, other: HeaderValues) -> HeaderValues:
        return HeaderValues(
            tuple(dict.fromkeys(self.identifying + other.identifying)),
            tuple(dict.fromkeys(self.free_text + other.free_text)),
        )


def _values(ds: Dataset, keywords: Sequence[str]) -> list[str]:
    out: list[str] = []
    for keyword in keywords:
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        items: Iterable[object] = value if isinstance(value, (list, tuple, MultiValue)) else [value]
        for item in items:
            text = str(item)
            out.append(text)
            if keyword.endswith("Name"):
                out += [part for part in text.replace("^", " ").split() if len(part) >= 3]
    return out


def header_values(ds: Dataset) -> HeaderValues:
    """The identifying and free-text values of one original instance."""
    return HeaderValues(
        tuple(dict.fromkeys(_values(ds, IDENTIFYING_KEYWORDS))), tuple(dict.fromkeys(_values(ds, FREE_TEXT_KEYWORDS)))
    )
