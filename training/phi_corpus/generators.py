"""Generators of PHI values (names, places, facilities, phones, identifiers, e-mail, URLs, dates,
ages) and of the cast of one document."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import date, timedelta

from deid.text.model import fold
from training.phi_corpus.documents import _Cast, _Person
from training.phi_corpus.names import NAME_LOCALES, Split, name_pool, split_of
from training.phi_corpus.vocabulary import (
    _CITY_PREFIXES,
    _CITY_SUFFIXES,
    _FACILITY_FORMS,
    _STATES,
    _STREET_SUFFIXES,
    _STREET_WORDS,
    _TLDS,
)


class _Gen:
    """Random PHI values drawn from one split's pools."""

    def __init__(self, rng: random.Random, split: Split) -> None:
        self.rng = rng
        pool = name_pool(split)
        locales = [loc for loc in NAME_LOCALES if pool.first[loc] and pool.last[loc]]
        self.locales = locales
        self.weights = [NAME_LOCALES[loc] for loc in locales]
        self.pool = pool
        self.street_words = [w for w in _STREET_WORDS if split_of(w) == split]

    def pick(self, seq: Sequence[str]) -> str:
        return seq[self.rng.randrange(len(seq))]

    def person(self) -> _Person:
        loc = self.rng.choices(self.locales, self.weights)[0]
        first = self.pick(self.pool.first[loc])
        last = self.pick(self.pool.last[loc])
        if self.rng.random() < 0.12:  # double-barrelled surname
            last = f"{last}-{self.pick(self.pool.last[self.rng.choices(self.locales, self.weights)[0]])}"
        middle = self.pick(self.pool.first[loc]) if self.rng.random() < 0.35 else ""
        return _Person(first, middle, last)

    def any_last(self) -> str:
        return self.pick(self.pool.last[self.rng.choices(self.locales, self.weights)[0]])

    def any_first(self) -> str:
        return self.pick(self.pool.first[self.rng.choices(self.locales, self.weights)[0]])

    def city(self) -> str:
        r = self.rng.random()
        base = self.any_last() if self.rng.random() < 0.6 else self.pick(self.street_words)
        if r < 0.45:
            return base + self.pick(_CITY_SUFFIXES)
        if r < 0.75:
            return f"{self.pick(_CITY_PREFIXES)} {base}"
        return base

    def street(self) -> str:
        num = str(
            self.rng.choice(
                [
                    self.rng.randint(1, 99),
                    self.rng.randint(100, 9999),
                    self.rng.randint(10000, 99999),
                ]
            )
        )
        r = self.rng.random()
        if r < 0.4:
            name = self.any_last()
        elif r < 0.75:
            name = self.pick(self.street_words)
        elif r < 0.85:
            name = f"{self.any_first()} {self.any_last()}"
        else:
            n = self.rng.randint(1, 120)
            name = f"{n}{'th' if 10 <= n % 100 <= 20 else {1: 'st', 2: 'nd', 3: 'rd'}.get(n % 10, 'th')}"
        direction = self.pick(("N ", "S ", "E ", "W ", "North ", "West ", "")) if self.rng.random() < 0.2 else ""
        line = f"{num} {direction}{name} {self.pick(_STREET_SUFFIXES)}"
        if self.rng.random() < 0.3:
            unit = self.pick(("Apt", "Apt.", "Suite", "Ste", "Unit", "#"))
            line += f"{self.pick((', ', ' '))}{unit} {self.rng.randint(1, 999)}{self.pick(('', 'A', 'B'))}"
        return line

    def po_box(self) -> str:
        return f"{self.pick(('PO Box', 'P.O. Box', 'P O Box', 'Post Office Box'))} {self.rng.randint(1, 99999)}"

    def zip_code(self) -> str:
        z = f"{self.rng.randint(1001, 99950):05d}"
        return z + (f"-{self.rng.randint(0, 9999):04d}" if self.rng.random() < 0.2 else "")

    def facility(self, city: str | None = None) -> str:
        form = self.pick(_FACILITY_FORMS)
        return form.format(
            last=self.any_last(),
            last2=self.any_last(),
            first=self.any_first(),
            city=city or self.city(),
        )

    def phone(self) -> str:
        a, b, c = self.rng.randint(201, 989), self.rng.randint(200, 999), self.rng.randint(0, 9999)
        form = self.rng.randrange(7)
        s = [
            f"({a}) {b}-{c:04d}",
            f"{a}-{b}-{c:04d}",
            f"{a}.{b}.{c:04d}",
            f"+1 {a} {b} {c:04d}",
            f"1-{a}-{b}-{c:04d}",
            f"({a}){b}-{c:04d}",
            f"{a} {b} {c:04d}",
        ][form]
        if self.rng.random() < 0.1:
            s += f" {self.pick(('x', 'ext.', 'ext'))}{self.pick(('', ' '))}{self.rng.randint(100, 9999)}"
        return s

    def mrn(self) -> str:
        n = self.rng.randint(6, 10)
        digits = "".join(str(self.rng.randrange(10)) for _ in range(n))
        return self.pick(("", "", "", "E", "M", "MR")) + digits

    def accession(self) -> str:
        y = self.rng.randint(15, 25)
        r = self.rng.randrange(4)
        if r == 0:
            return f"{self.rng.randint(10_000_000, 99_999_999)}"
        if r == 1:
            return f"A{y}{self.rng.randint(100000, 999999)}"
        if r == 2:
            return f"CR-{y}-{self.rng.randint(1000000, 9999999)}"
        return f"RAD{20}{y}{self.rng.randint(10000, 99999)}"

    def other_id(self) -> str:
        r = self.rng.randrange(3)
        if r == 0:
            return f"{self.rng.randint(100_000_000, 999_999_999)}"
        if r == 1:
            return f"{self.pick(('V', 'ENC', 'H', 'XJ'))}{self.rng.randint(1000000, 99999999)}"
        return f"{self.pick(('ABC', 'QXZ', 'HPN', 'MBR'))}{self.rng.randint(100000000, 999999999)}"

    def ssn(self) -> str:
        a, b, c = self.rng.randint(1, 665), self.rng.randint(1, 99), self.rng.randint(1, 9999)
        return self.pick((f"{a:03d}-{b:02d}-{c:04d}", f"{a:03d} {b:02d} {c:04d}", f"{a:03d}{b:02d}{c:04d}"))

    def email(self, p: _Person) -> str:
        user = self.pick((f"{p.first}.{p.last}", f"{p.first[0]}{p.last}", f"{p.last}{self.rng.randint(1, 99)}"))
        domain = self.pick((fold(self.any_last()).replace("'", ""), fold(self.city()).replace(" ", "")))
        return (
            f"{fold(user).replace(chr(39), '')}@{domain}{self.pick(('', 'health', 'med', 'mail'))}.{self.pick(_TLDS)}"
        )

    def url(self) -> str:
        host = fold(self.any_last()).replace("'", "").replace("-", "")
        r = self.rng.randrange(4)
        if r == 0:
            return f"https://portal.{host}health.org/patient/{self.rng.randint(100000, 9999999)}"
        if r == 1:
            return f"www.{host}clinic.com"
        if r == 2:
            return f"http://{host}-imaging.net/results?id={self.rng.randint(10000, 999999)}"
        return f"https://{host}.{self.pick(_TLDS)}/mychart"

    def ip(self) -> str:
        return ".".join(str(self.rng.randint(1, 254)) for _ in range(4))

    def uid(self) -> str:
        return "1.2.840." + ".".join(str(self.rng.randint(1, 99999)) for _ in range(self.rng.randint(4, 7)))

    def date_between(self, start: date, end: date) -> date:
        return start + timedelta(days=self.rng.randrange((end - start).days))


_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)


def format_date(d: date, rng: random.Random, *, with_year: bool = True) -> str:
    """`d` in one of the formats clinical text uses (US, ISO, DICOM, European, spelled out)."""
    m, day, y = d.month, d.day, d.year
    mon = _MONTHS[m - 1]
    if not with_year:
        return rng.choice((f"{m}/{day}", f"{mon} {day}", f"{mon[:3]} {day}"))
    forms = (
        f"{m:02d}/{day:02d}/{y}",
        f"{m}/{day}/{y}",
        f"{m}/{day}/{y % 100:02d}",
        f"{y}-{m:02d}-{day:02d}",
        f"{m:02d}-{day:02d}-{y}",
        f"{day:02d}-{mon[:3].upper()}-{y}",
        f"{day}-{mon[:3]}-{y}",
        f"{mon} {day}, {y}",
        f"{mon[:3]} {day}, {y}",
        f"{mon[:3]}. {day}, {y}",
        f"{day} {mon} {y}",
        f"{y}{m:02d}{day:02d}",
        f"{day:02d}.{m:02d}.{y}",
        f"{mon} {y}",
        f"{mon} {day} {y}",
        f"{day:02d}/{m:02d}/{y % 100:02d}",
        f"{mon[:3]}-{day:02d}-{y}",
        f"{y}/{m:02d}/{day:02d}",
        f"{m}-{day}-{y % 100:02d}",
        f"the {day}{_ordinal(day)} of {mon}, {y}",
        f"{mon} of {y}",
    )
    return rng.choice(forms)


def _ordinal(n: int) -> str:
    return "th" if 10 <= n % 100 <= 20 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")


def format_name(p: _Person, rng: random.Random, *, allow_single: bool = False) -> str:
    """A mention of `p` in one of the usual written forms."""
    forms = [
        f"{p.first} {p.last}",
        f"{p.first} {p.last}",
        f"{p.last}, {p.first}",
        f"{p.first[0]}. {p.last}",
        f"{p.last.upper()}, {p.first.upper()}",
    ]
    if p.middle:
        forms += [
            f"{p.first} {p.middle[0]}. {p.last}",
            f"{p.first} {p.middle} {p.last}",
            f"{p.last}, {p.first} {p.middle[0]}",
        ]
    if allow_single:
        forms += [p.last, p.last]
    return rng.choice(forms)


def _age90(rng: random.Random) -> int:
    return rng.choice((90, 91, 92, 93, 94, 95, 96, 97, 98, 99, 100, 101, 102, 104))


_TENS_WORDS = {90: "ninety", 100: "one hundred"}
_UNIT_WORDS = ("", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


def _age_words(age: int) -> str:
    if age >= 100:
        return "one hundred" + (f" and {_UNIT_WORDS[age - 100]}" if age > 100 and age < 110 else "")
    return "ninety" + (f"-{_UNIT_WORDS[age - 90]}" if age > 90 else "")


def _age_text(rng: random.Random, age: int) -> tuple[str, str]:
    """(age, rest) so that the age number alone is the PHI span."""
    if rng.random() < 0.07 and age < 110:
        words = _age_words(age)
        return (words.capitalize() if rng.random() < 0.3 else words), "-year-old"
    return str(age), rng.choice(
        ("-year-old", " year old", "-year-old", " y/o", " yo", "yo", " years old", "-yr-old", " YO")
    )


def _make_cast(g: _Gen) -> _Cast:
    rng = g.rng
    patient = g.person()
    exam = g.date_between(date(2015, 1, 1), date(2025, 12, 31))
    old = rng.random() < 0.3
    age90 = _age90(rng)
    if old:
        dob = exam - timedelta(days=age90 * 365 + rng.randrange(300))
    else:
        dob = g.date_between(date(1930, 1, 1), date(2005, 1, 1))
    city = g.city()
    facility = g.facility(city if rng.random() < 0.5 else None)
    cast = _Cast(
        patient=patient,
        referring=g.person(),
        radiologist=g.person(),
        others=[g.person() for _ in range(3)],
        family=_Person(g.any_first(), "", patient.last if rng.random() < 0.5 else g.any_last()),
        facility=facility,
        outside_facility=g.facility(),
        street=g.street(),
        city=city,
        state=rng.choice(_STATES),
        zip_code=g.zip_code(),
        phone=g.phone(),
        mrn=g.mrn(),
        accession=g.accession(),
        dob=dob,
        exam_date=exam,
        age90=age90,
    )
    header = {
        "PatientName": patient.pn(),
        "PatientID": cast.mrn,
        "AccessionNumber": cast.accession,
        "PatientBirthDate": dob.strftime("%Y%m%d"),
        "StudyDate": exam.strftime("%Y%m%d"),
        "ReferringPhysicianName": cast.referring.pn(),
        "InstitutionName": facility,
    }
    if rng.random() < 0.6:
        header["PatientAddress"] = f"{cast.street}, {cast.city}, {cast.state[0]} {cast.zip_code}"
        header["PatientTelephoneNumbers"] = cast.phone
    if rng.random() < 0.5:
        header["NameOfPhysiciansReadingStudy"] = cast.radiologist.pn()
    if rng.random() < 0.3:
        header["OtherPatientIDs"] = g.other_id()
    cast.header = header
    return cast
