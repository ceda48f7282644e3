"""Per-study deny-lists of the free-text redactor (see deid/text/).

`StudyContext` holds the identifying values of one study's DICOM header; the redactor turns it
into a `StudyDenyListRecognizer` that finds those values in the forms free text writes them.

Contract: every deny-list match scores 1.0 and is typed by the header attribute it comes from
(`HEADER_FIELDS`), so it wins over clinical vocabulary: a patient named Foley has "Foley"
redacted in "Foley catheter" too. A name part alone matches only as the header writes it,
capitalised or upper-case ("Rose" but not the "rose" of "temperature rose"). Building a
context from an unknown keyword is an error that names the keyword only when it is shaped like
one; the compiled deny-list lives with its context, never in a module-level cache.
"""

from __future__ import annotations

import re as _stdre
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date
from types import MappingProxyType
from typing import Any

import regex as re
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts
from pydicom.multival import MultiValue

from deid.text.base import (
    ACCESSION,
    ADDRESS,
    DATE,
    DEFAULT_ENTITIES,
    EMAIL,
    FACILITY,
    ID,
    LOCATION,
    MRN,
    PERSON,
    PHONE,
    Recognizer,
    TextRedactionError,
    make_result,
)
from deid.text.lexicon import is_lexical
from deid.text.model import fold
from deid.text.recognizers.dates import MONTH_NAMES
from deid.text.recognizers.places import FACILITY_HEAD, GENERIC_FACILITY_WORDS, US_STATE_NAMES, US_STATES

# -- study context (deny-lists) -----------------------------------------------------------------

#: DICOM keyword -> entity type of its values in the deny-list.
HEADER_FIELDS: Mapping[str, str] = MappingProxyType(
    {
        # people
        "PatientName": PERSON,
        "OtherPatientNames": PERSON,
        "PatientBirthName": PERSON,
        "PatientMotherBirthName": PERSON,
        "ReferringPhysicianName": PERSON,
        "PerformingPhysicianName": PERSON,
        "NameOfPhysiciansReadingStudy": PERSON,
        "OperatorsName": PERSON,
        "RequestingPhysician": PERSON,
        "ScheduledPerformingPhysicianName": PERSON,
        "PhysiciansOfRecord": PERSON,
        "ConsultingPhysicianName": PERSON,
        "ResponsiblePerson": PERSON,
        "PersonName": PERSON,
        "VerifyingObserverName": PERSON,
        "ContentCreatorName": PERSON,
        "ReviewerName": PERSON,
        "EvaluatorName": PERSON,
        "PhysiciansReadingStudyIdentificationSequence": PERSON,
        # identifiers
        "PatientID": MRN,
        "OtherPatientIDs": MRN,
        "MedicalRecordLocator": MRN,
        "AccessionNumber": ACCESSION,
        "StudyID": ID,
        "RequestedProcedureID": ID,
        "ScheduledProcedureStepID": ID,
        "PerformedProcedureStepID": ID,
        "AdmissionID": ID,
        "ServiceEpisodeID": ID,
        "PlacerOrderNumberImagingServiceRequest": ID,
        "FillerOrderNumberImagingServiceRequest": ID,
        "InsurancePlanIdentification": ID,
        # dates
        "PatientBirthDate": DATE,
        "StudyDate": DATE,
        "SeriesDate": DATE,
        "AcquisitionDate": DATE,
        "ContentDate": DATE,
        "AdmittingDate": DATE,
        "InstanceCreationDate": DATE,
        "PerformedProcedureStepStartDate": DATE,
        "ScheduledProcedureStepStartDate": DATE,
        # contact
        "PatientTelephoneNumbers": PHONE,
        "ReferringPhysicianTelephoneNumbers": PHONE,
        "PersonTelephoneNumbers": PHONE,
        "PatientAddress": ADDRESS,
        "ReferringPhysicianAddress": ADDRESS,
        "InstitutionAddress": ADDRESS,
        "PersonAddress": ADDRESS,
        "PersonTelecomInformation": EMAIL,
        "PatientTelecomInformation": EMAIL,
        # places
        "InstitutionName": FACILITY,
        "InstitutionalDepartmentName": FACILITY,
        "IssuerOfPatientID": FACILITY,
        "RegionOfResidence": LOCATION,
        "CountryOfResidence": LOCATION,
    }
)


@dataclass(frozen=True)
class StudyContext:
    """Identifying values of one study, from its DICOM header, as (entity type, value) pairs.

    Build it with `from_dataset(ds)` (walks sequences too) or `from_mapping({"PatientName":
    "DOE^JOHN", "PatientID": "123", ...})` (DICOM keywords as in HEADER_FIELDS; a value may be a
    list). The redactor turns it into a deny-list recognizer matching each value in the forms
    texts use: names as "John A. Doe" / "Doe, John" / "DOE^JOHN" / "J. Doe" / each part alone /
    dotted initials; IDs with or without separators; dates in every usual format; phone numbers
    by their digits; addresses by their comma-separated parts and ZIP; institutions with and
    without their generic head words.
    """

    values: tuple[tuple[str, str], ...] = ()
    # The compiled deny-list lives and dies with its context (no module-level cache of PHI).
    _cache: dict[str, Any] = field(default_factory=dict, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        for item in self.values:
            if (
                not isinstance(item, tuple)
                or len(item) != 2
                or item[0] not in DEFAULT_ENTITIES
                or not isinstance(item[1], str)
            ):
                raise TextRedactionError("StudyContext values must be (entity type, string) pairs")

    @classmethod
    def from_mapping(cls, mapping: Mapping[str, Any]) -> StudyContext:
        """From DICOM keywords to values (str, or a list of str). Unknown keywords are an error
        (a typo would silently drop a deny-list); empty values are ignored."""
        if not isinstance(mapping, Mapping):
            raise TextRedactionError("context must be a mapping of DICOM keywords to values")
        values: list[tuple[str, str]] = []
        for key, raw in mapping.items():
            etype = HEADER_FIELDS.get(key) if isinstance(key, str) else None
            if etype is None:
                # Name the key only when it is shaped like a keyword (never echo arbitrary text).
                shown = f" {key}" if isinstance(key, str) and _stdre.fullmatch(r"[A-Za-z]{1,64}", key) else ""
                raise TextRedactionError(f"context: unknown DICOM keyword{shown}")
            items = raw if isinstance(raw, (list, tuple)) else [raw]
            for v in items:
                if v is None:
                    continue
                if not isinstance(v, (str, int)):
                    raise TextRedactionError(f"context: {key} must be a string or a list of strings")
                s = str(v).strip()
                if s:
                    values.append((etype, s))
        return cls(tuple(dict.fromkeys(values)))

    @classmethod
    def from_dataset(cls, ds: Any) -> StudyContext:
        """From a pydicom Dataset: every HEADER_FIELDS attribute at any depth (sequence items
        included), PN values as their DICOM string, multi-valued attributes value by value."""
        values: list[tuple[str, str]] = []

        def walk(d: Any) -> None:
            for tag in list(d.keys()):
                try:
                    elem = d[tag]
                except Exception:  # pydicom raises many types on a value it cannot decode
                    # Such an element is refused by the header engine, which names it; the deny-list
                    # has nothing to take from it.
                    continue
                if elem.VR == "SQ":
                    for item in elem.value or ():
                        walk(item)
                    continue
                etype = HEADER_FIELDS.get(elem.keyword)
                if etype is None or elem.value is None or elem.value == "":
                    continue
                raw = elem.value
                items = list(raw) if isinstance(raw, (list, tuple, MultiValue)) else [raw]
                for v in items:
                    if isinstance(v, bytes):
                        v = v.decode("latin-1", errors="replace")
                    s = str(v).strip()
                    if s:
                        values.append((etype, s))

        walk(ds)
        return cls(tuple(dict.fromkeys(values)))

    def __bool__(self) -> bool:
        return bool(self.values)

    def recognizer(self) -> StudyDenyListRecognizer:
        """The deny-list recognizer of this context, compiled on first use and kept with it."""
        rec = self._cache.get("recognizer")
        if rec is None:
            rec = self._cache["recognizer"] = StudyDenyListRecognizer(self)
        return rec


def _flex(phrase: str) -> str:
    """Regex for `phrase` with any run of blanks/punctuation between its words."""
    words = [w for w in re.split(r"[\s,^]+", phrase) if w]
    return r"[\s,.\-^]*".join(re.escape(w.rstrip(".")) + r"\.?" for w in words)


def _bounded(body: str) -> str:
    """`body` as a whole token: no letter or digit right before or after it."""
    return rf"(?<![\p{{L}}\p{{N}}])(?:{body})(?![\p{{L}}\p{{N}}])"


def _name_patterns(value: str) -> list[tuple[str, bool]]:
    """(regex, case_sensitive) for every written form of one PN ("DOE^JOHN^A") or plain name
    ("John A Doe", "Doe, John"). Full forms match in any case (forms with an initial only as written,
    capitalised or upper-case); a part alone matches as written
    in the header, capitalised or upper-case (so a patient named Rose does not take the "rose"
    out of "temperature rose")."""
    alphabetic = value.split("=")[0]  # drop ideographic/phonetic groups
    if "^" in alphabetic:
        comps = [c.strip() for c in alphabetic.split("^")]
        family, given, middle = (comps + ["", "", ""])[:3]
    else:
        if "," in alphabetic:
            family, _, rest = alphabetic.partition(",")
            parts = rest.split()
            given, middle = (parts + ["", ""])[0], " ".join(parts[1:])
        else:
            parts = alphabetic.split()
            if len(parts) >= 2:
                given, family, middle = parts[0], parts[-1], " ".join(parts[1:-1])
            else:
                given, family, middle = "", (parts[0] if parts else ""), ""
    family, given, middle = family.strip(), given.strip(), middle.strip()
    out: list[tuple[str, bool]] = []
    full_forms: list[str] = []
    if family and given:
        gi, mi = given[0], middle[0] if middle else ""
        full_forms += [
            f"{given} {family}",
            f"{family} {given}",
            f"{gi} {family}",
            f"{family} {gi}",
        ]
        if middle:
            full_forms += [
                f"{given} {middle} {family}",
                f"{given} {mi} {family}",
                f"{family} {given} {middle}",
                f"{family} {given} {mi}",
                f"{gi} {mi} {family}",
            ]
    for form in full_forms:
        words = form.split()
        initials = any(len(w) == 1 for w in words)
        # A form with an initial matches only as written, Capitalised or UPPER-CASE: in any case,
        # "A Small" (ANNA SMALL) would take the "a small" out of "a small nodule".
        variants = (
            sorted({form, " ".join(w[:1].upper() + w[1:].lower() for w in words), form.upper()}) if initials else [form]
        )
        pattern = _bounded("|".join(_flex(v) for v in variants))
        if len(words[-1]) == 1:
            pattern += r"(?!\.?[ \t]?\p{Lu}\.)"  # "Doe J" but not the "Doe, M" of "Doe, M.D."
        out.append((pattern, initials))
    # Every part alone (and each half of a double-barrelled part).
    alone: list[str] = []
    for p in (family, given, middle):
        for sub in [p, *re.split(r"[\s\-]+", p)]:
            sub = sub.strip(" .")
            if len(sub) >= 2 and sub not in alone:
                alone.append(sub)
    for p in alone:
        forms = {p, p[:1].upper() + p[1:].lower(), p.upper()}
        alternation = "|".join(re.escape(f).replace(r"\-", r"[\-\s]?") for f in sorted(forms, key=len, reverse=True))
        out.append((_bounded(alternation), True))
    # Dotted initials "J.D." / "J. A. D." (undotted ones are too often abbreviations).
    letters = [x[0] for x in (given, middle, family) if x]
    if len(letters) >= 2:
        out.append((_bounded(r"\.?\s?".join(re.escape(c) for c in letters) + r"\."), True))
    return out


def _id_patterns(value: str) -> list[str]:
    """An identifier with or without separators between its characters, and its digits alone
    (leading zeros optional) when they are a distinctive number."""
    chars = [c for c in value if c.isalnum()]
    # Very short IDs ("7", "123") would redact ordinary numbers everywhere.
    if len(chars) < 4 or (all(c.isdigit() for c in chars) and len("".join(chars).lstrip("0")) < 4):
        return []
    pats = [_bounded(r"[\s\-./]?".join(re.escape(c) for c in chars))]
    digits = "".join(c for c in chars if c.isdigit())
    core = digits.lstrip("0")
    if len(core) >= 5 and core != "".join(chars):
        pats.append(rf"(?<![\p{{N}}])0*{re.escape(core)}(?![\p{{N}}])")
    return pats


def _date_patterns(value: str) -> list[str]:
    """A DICOM date (YYYYMMDD) in every usual written form. Not "m/d" without a year, which
    is too often a ratio ("2/6 murmur"); the date rules catch it after a date word."""
    m = _stdre.fullmatch(r"(\d{4})(\d{2})(\d{2})", value.replace("-", "").replace(".", "").strip()[:8])
    if not m:
        return []
    try:
        d = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return []
    y4, y2 = f"{d.year}", f"{d.year % 100:02d}"
    mo, dy = rf"0?{d.month}", rf"0?{d.day}"
    spellings = set(MONTH_NAMES[d.month - 1]) | {n.upper() for n in MONTH_NAMES[d.month - 1]}
    names = "|".join(sorted(spellings, key=len, reverse=True))
    mon = rf"(?:{names})\.?"
    ordn = rf"{dy}(?:st|nd|rd|th)?"
    sep = r"[/.\-]"
    forms = [
        rf"{mo}{sep}{dy}{sep}(?:{y4}|{y2})",
        rf"{dy}{sep}{mo}{sep}(?:{y4}|{y2})",
        rf"{y4}{sep}{mo}{sep}{dy}",
        rf"{y4}{d.month:02d}{d.day:02d}",
        rf"{ordn}(?:\s+of)?[\s\-]+{mon}(?:[\s\-,]+(?:{y4}|'?{y2}))?",
        rf"{mon}[\s\-]+{ordn}(?:(?:,?\s+|[\-/])(?:{y4}|'?{y2}))?",
        rf"{mon}(?:,?\s+|\s+of\s+|[\-/]){y4}",
    ]
    return [rf"(?<![\w/.\-])(?:{f})(?![\w]|[/.\-]\d)" for f in forms]


def _phone_patterns(value: str) -> list[str]:
    """A phone number by its digits, any punctuation between them, with or without +1, and
    its seven-digit local part."""
    digits = [c for c in value if c.isdigit()]
    if len(digits) == 11 and digits[0] == "1":
        digits = digits[1:]
    if len(digits) < 7:
        return []
    gap = r"[\s.\-()]*"
    pats = [rf"(?<!\d)(?:\+?1{gap})?\(?" + gap.join(digits) + r"(?!\d)"]
    if len(digits) == 10:
        pats.append(r"(?<![\d\-])" + gap.join(digits[3:]) + r"(?![\d\-])")
    return pats


def _address_patterns(value: str) -> list[tuple[str, str, bool]]:
    """(type, regex, case_sensitive) for each comma-separated part of an address (street as
    ADDRESS, city as LOCATION, state dropped) and its ZIP code."""
    out: list[tuple[str, str, bool]] = []
    for part in re.split(r"[,\n^;]+", value):
        part = part.strip()
        if len(part) < 3:
            continue
        for z in re.findall(r"\b\d{5}(?:-\d{4})?\b", part):
            out.append((ADDRESS, rf"(?<!\d){re.escape(z)}(?![\d])", False))
        words = part.split()
        if words and words[-1] in US_STATES:
            words = words[:-1]
        words = [w for w in words if not _stdre.fullmatch(r"\d{5}(?:-\d{4})?", w)]
        if not words or all(w.upper() in US_STATES or re.fullmatch(US_STATE_NAMES, w) for w in words):
            continue
        phrase = " ".join(words)
        if len(phrase) < 3:
            continue
        etype = ADDRESS if any(ch.isdigit() for ch in phrase) else LOCATION
        # A city that is also a word ("Small", "Mercy") keeps its capital letter.
        wordy = all(is_lexical(w) for w in words if not w.isdigit())
        out.append((etype, _bounded(_flex(phrase)), wordy))
        if etype == ADDRESS and words[0].isdigit() and len(words) >= 3:
            out.append((ADDRESS, _bounded(_flex(" ".join(words[1:]))), wordy))
    return out


def _facility_patterns(value: str) -> list[str]:
    """An institution name as written, with "St." spelled "Saint", without its generic head
    ("Mercy General" of "Mercy General Hospital"), and its distinctive words alone."""
    pats = [_bounded(_flex(value))]
    saint = re.sub(r"\bSt\.?\s", "Saint ", value)
    if saint != value:
        pats.append(_bounded(_flex(saint)))
    words = value.split()
    distinctive = [w for w in words if fold(w) not in GENERIC_FACILITY_WORDS and not is_lexical(w.rstrip("."))]
    head = re.search(FACILITY_HEAD, value)
    if head and head.start() > 0:
        stem = value[: head.start()].strip(" ,-")
        stem_words = stem.split()
        if stem_words and (len(stem_words) >= 2 or (len(stem) >= 5 and distinctive)):
            pats.append(_bounded(_flex(stem)))
    for w in distinctive:
        if len(w) >= 5:
            pats.append(_bounded(re.escape(w)))
    return pats


class StudyDenyListRecognizer(Recognizer):
    """The per-study deny-list (built from a `StudyContext`); score 1.0. Adjacent matches of
    name parts ("Doe" "," "John") merge into one span."""

    def __init__(self, context: StudyContext) -> None:
        patterns: list[tuple[str, re.Pattern[str]]] = []
        for etype, value in context.values:
            if etype == PERSON:
                for pat, case_sensitive in _name_patterns(value):
                    patterns.append((PERSON, re.compile(pat, 0 if case_sensitive else re.IGNORECASE)))
            elif etype in (MRN, ACCESSION, ID):
                patterns += [(etype, re.compile(p, re.IGNORECASE)) for p in _id_patterns(value)]
            elif etype == DATE:
                patterns += [(DATE, re.compile(p)) for p in _date_patterns(value)]
            elif etype == PHONE:
                patterns += [(PHONE, re.compile(p)) for p in _phone_patterns(value)]
            elif etype == ADDRESS:
                patterns += [(t, re.compile(p, 0 if cs else re.IGNORECASE)) for t, p, cs in _address_patterns(value)]
            elif etype == FACILITY:
                patterns += [(FACILITY, re.compile(p, re.IGNORECASE)) for p in _facility_patterns(value)]
            elif etype == EMAIL:
                for e in re.findall(r"[\w.+\-]+@[\w\-.]+\w", value):
                    patterns.append((EMAIL, re.compile(re.escape(e), re.IGNORECASE)))
            elif etype == LOCATION:
                patterns.append((LOCATION, re.compile(_bounded(_flex(value)), re.IGNORECASE)))
        self._patterns = patterns
        super().__init__(supported_entities=sorted({t for t, _ in patterns} or {PERSON}), name="StudyDenyList")

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        spans: list[tuple[str, int, int]] = []
        for etype, rx in self._patterns:
            if etype not in entities:
                continue
            spans += [(etype, m.start(), m.end()) for m in rx.finditer(text) if m.end() > m.start()]
        spans.sort(key=lambda t: (t[1], -t[2]))
        merged: list[list[Any]] = []
        for etype, s, e in spans:
            if (
                merged
                and merged[-1][0] == etype
                and (
                    s <= merged[-1][2]
                    or (etype == PERSON and _stdre.fullmatch(r"[\s,^.]{1,3}", text[merged[-1][2] : s]))
                )
            ):
                merged[-1][2] = max(merged[-1][2], e)
            else:
                merged.append([etype, s, e])
        return [make_result(self, t, s, e, 1.0) for t, s, e in merged]
