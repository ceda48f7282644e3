"""Synthetic clinical texts with planted PHI and gold spans, for training and measuring the
free-text redactor (deid/text/).

Three kinds of document: radiology reports (header block, history, comparison, findings,
communication, signature, footer), clinical notes (ED / admission style) and DICOM free-text
descriptors (Study Description, Image Comments, Additional Patient History: short, often upper
case). Every document carries

* `phi`: gold spans of every planted identifier, typed PERSON, DATE, AGE (> 89), MRN, ACCESSION,
  ID, SSN, PHONE, EMAIL, URL, IP_ADDRESS, ADDRESS, LOCATION, FACILITY;
* `terms`: spans of planted clinical terms that must survive redaction, marked "known" (built
  from vocabulary the redactor ships) or "held_out" (eponyms, organisms, drugs and devices that
  appear in none of the redactor's word lists: they measure what happens to unseen vocabulary);
* `header`: the DICOM header values of the same study (PatientName as PN "LAST^FIRST^MIDDLE",
  PatientID, AccessionNumber, PatientBirthDate, ...), for the per-study deny-lists.

Disjointness. Names and places come from Faker's per-locale first/last-name lists (read
directly from the provider modules, no Faker instance, so generation is deterministic). Every
token is assigned to the "train" or "eval" half by a hash of its folded spelling
(`split_of`): the name model is trained on the train half only, the evaluation corpus draws
from the eval half only, and street/city names are built from those same halves. A token that
appears in several locales lands in the same half everywhere; `tests/deid/test_text.py`
asserts that the halves do not intersect.

Needs Faker (a dev/train dependency); the appliance does not import this module.
"""

from __future__ import annotations

import hashlib
import importlib
import random
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta
from functools import lru_cache
from typing import Literal

from deid.text.model import fold

Split = Literal["train", "eval"]

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

#: Locales whose name lists are Latin script, with the share of patients drawn from each (a
#: US hospital population with a long tail).
NAME_LOCALES: dict[str, float] = {
    "en_US": 0.34,
    "en_GB": 0.05,
    "en_IE": 0.05,
    "en_NZ": 0.03,
    "es_MX": 0.08,
    "es_ES": 0.03,
    "es_CO": 0.03,
    "en_IN": 0.05,
    "en_PK": 0.02,
    "fr_FR": 0.02,
    "fr_CA": 0.02,
    "de_DE": 0.03,
    "it_IT": 0.03,
    "pt_BR": 0.02,
    "nl_NL": 0.02,
    "pl_PL": 0.01,
    "sv_SE": 0.01,
    "fi_FI": 0.01,
    "cs_CZ": 0.01,
    "tr_TR": 0.01,
    "id_ID": 0.01,
    "yo_NG": 0.02,
    "tw_GH": 0.01,
    "sw": 0.01,
    "zu_ZA": 0.01,
    "zh_TW": 0.03,
    "zh_CN": 0.02,
    "ja_JP": 0.01,
}

_NAME_TOKEN = re.compile(r"^[A-Z\u00C0-\u00DE][A-Za-z\u00C0-\u024F'\u2019-]+$")


def split_of(token: str) -> Split:
    """The half a name token belongs to: a hash of its folded spelling, so "José" and "Jose"
    share a half in every locale."""
    digest = hashlib.blake2b(fold(token).encode("utf-8"), digest_size=8).digest()
    return "train" if digest[0] % 2 == 0 else "eval"


def _provider_names(locale: str) -> tuple[list[str], list[str]]:
    provider = importlib.import_module(f"faker.providers.person.{locale}").Provider
    if locale in ("zh_CN", "zh_TW", "ja_JP"):
        first = list(getattr(provider, "first_romanized_names", ()))
        last = list(getattr(provider, "last_romanized_names", ()))
    else:
        first = list(getattr(provider, "first_names", ()))
        last = list(getattr(provider, "last_names", ()))
    return first, last


@dataclass(frozen=True)
class NamePool:
    """Single-token first and last names of one split, per locale (sorted, deduplicated)."""

    split: Split
    first: dict[str, tuple[str, ...]]
    last: dict[str, tuple[str, ...]]

    def tokens(self) -> frozenset[str]:
        """Every folded token of the pool."""
        out: set[str] = set()
        for names in (*self.first.values(), *self.last.values()):
            out.update(fold(n) for n in names)
        return frozenset(out)


@lru_cache(maxsize=2)
def name_pool(split: Split) -> NamePool:
    """The `split` half of the Latin-script single-token names of NAME_LOCALES."""
    first: dict[str, tuple[str, ...]] = {}
    last: dict[str, tuple[str, ...]] = {}
    for locale in NAME_LOCALES:
        f, l_ = _provider_names(locale)
        keep = lambda names: tuple(
            sorted(
                {
                    n
                    for n in names
                    if _NAME_TOKEN.match(n) and len(fold(n)) >= 2 and split_of(n) == split
                }
            )
        )
        first[locale], last[locale] = keep(f), keep(l_)
    return NamePool(split, first, last)


# -- vocabulary for places ------------------------------------------------------------------------

#: Generic street words (Main, Oak, ...), split by the same hash as names.
_STREET_WORDS = (  # noqa: SIM905 - a word list reads better as one string
    "Main Oak Maple Cedar Elm Pine Walnut Chestnut Birch Willow Spruce Poplar Sycamore Hickory "
    "Magnolia Dogwood Laurel Juniper Aspen Cypress Park Lake Hill River Spring Meadow Valley "
    "Ridge Forest Highland Sunset Sunrise Church Mill School Market Bridge Water Union Center "
    "Liberty Franklin Lincoln Jefferson Madison Monroe Adams Jackson Washington Harrison Grant "
    "Cleveland Prospect Orchard Garden Grove Summit Fairview Pleasant Broad High Front Cherry "
    "Peach Locust Mulberry Hawthorn Beacon Harbor Bay Canyon Mesa Prairie Sierra Vista Colonial "
    "Heritage Commerce Industrial Airport Railroad Depot Academy College University Stadium Canal"
).split()
#: USPS street suffixes used in generated addresses (the recognizer knows the full USPS list).
_STREET_SUFFIXES = (  # noqa: SIM905 - a word list reads better as one string
    "Street St Avenue Ave Road Rd Boulevard Blvd Lane Ln Drive Dr Court Ct Way Place Pl Terrace "
    "Ter Parkway Pkwy Circle Cir Highway Hwy Trail Trl Square Sq Crossing Xing Loop Run Row Path "
    "Pike Alley Plaza Point Pt Ridge Heights Hts Commons Crescent Glen Green Grove Hollow Landing "
    "Meadows Park Pass Spur Turnpike Walk Expressway Freeway"
).split()
_CITY_PREFIXES = ("North", "South", "East", "West", "New", "Lake", "Port", "Fort", "Mount", "Saint")
_CITY_SUFFIXES = (
    "ton",
    "ville",
    "burg",
    "borough",
    "bury",
    "field",
    "ford",
    "haven",
    "mouth",
    "port",
    "side",
    "view",
    "wood",
    "land",
    "chester",
    "dale",
    "mont",
    "stead",
    "shire",
    "berg",
    " Falls",
    " Springs",
    " Heights",
    " City",
    " Beach",
    " Park",
    " Hills",
    " Valley",
    " Junction",
)
_STATES = (
    ("AL", "Alabama"),
    ("AK", "Alaska"),
    ("AZ", "Arizona"),
    ("AR", "Arkansas"),
    ("CA", "California"),
    ("CO", "Colorado"),
    ("CT", "Connecticut"),
    ("DE", "Delaware"),
    ("FL", "Florida"),
    ("GA", "Georgia"),
    ("HI", "Hawaii"),
    ("ID", "Idaho"),
    ("IL", "Illinois"),
    ("IN", "Indiana"),
    ("IA", "Iowa"),
    ("KS", "Kansas"),
    ("KY", "Kentucky"),
    ("LA", "Louisiana"),
    ("ME", "Maine"),
    ("MD", "Maryland"),
    ("MA", "Massachusetts"),
    ("MI", "Michigan"),
    ("MN", "Minnesota"),
    ("MS", "Mississippi"),
    ("MO", "Missouri"),
    ("MT", "Montana"),
    ("NE", "Nebraska"),
    ("NV", "Nevada"),
    ("NH", "New Hampshire"),
    ("NJ", "New Jersey"),
    ("NM", "New Mexico"),
    ("NY", "New York"),
    ("NC", "North Carolina"),
    ("ND", "North Dakota"),
    ("OH", "Ohio"),
    ("OK", "Oklahoma"),
    ("OR", "Oregon"),
    ("PA", "Pennsylvania"),
    ("RI", "Rhode Island"),
    ("SC", "South Carolina"),
    ("SD", "South Dakota"),
    ("TN", "Tennessee"),
    ("TX", "Texas"),
    ("UT", "Utah"),
    ("VT", "Vermont"),
    ("VA", "Virginia"),
    ("WA", "Washington"),
    ("WV", "West Virginia"),
    ("WI", "Wisconsin"),
    ("WY", "Wyoming"),
)
_FACILITY_FORMS = (
    "{last} Memorial Hospital",
    "{city} General Hospital",
    "{city} Community Hospital",
    "{city} Regional Medical Center",
    "St. {first}'s Hospital",
    "Saint {first} Medical Center",
    "{last} Medical Center",
    "{city} Imaging Center",
    "{last} Family Clinic",
    "{city} Health System",
    "University of {city} Hospital",
    "{last}-{last2} Hospital",
    "{city} Nursing and Rehabilitation Center",
    "{last} Cancer Center",
    "{city} Urgent Care",
    "{last} Children's Hospital",
    "{city} Radiology Associates",
    "{last} Skilled Nursing Facility",
)
_TLDS = ("org", "com", "net", "edu", "health", "us")


# -- clinical vocabulary --------------------------------------------------------------------------
# Sentences with [[term]] markers. KNOWN sentences use vocabulary the redactor ships in its
# clinical lexicon (plus numbers and units); HELD_OUT ones name eponyms, organisms, drugs and
# devices that are in none of its word lists.

KNOWN_SENTENCES: tuple[str, ...] = (
    "[[Right lower lobe consolidation]].",
    "[[No pneumothorax]].",
    "[[No pleural effusion]] or [[pneumothorax]].",
    "History of [[Parkinson disease]].",
    "History of [[Hodgkin lymphoma]] status post [[mediastinal radiation]].",
    "[[Down syndrome]] with [[atrioventricular canal]] repair.",
    "[[Foley catheter]] in place.",
    "[[Swan-Ganz catheter]] with tip in the [[right pulmonary artery]].",
    "[[Kerley B lines]] compatible with [[interstitial edema]].",
    "[[PA and lateral]] views of the chest.",
    "[[AP portable]] view of the chest.",
    "Endotracheal tube tip is [[4 cm above the carina]].",
    "There is a [[5 mm nodule]] in the [[left upper lobe]].",
    "A [[12 mm]] nodule in the [[right middle lobe]].",
    "[[3.2 x 2.1 cm]] mass in the [[left lower lobe]].",
    "Marker [[L]] placed on the left; marker [[R]] on the right.",
    "The [[R]] marker is partially excluded.",
    "[[Left IJ central line]] terminates in the [[SVC]].",
    "[[Right PICC]] tip at the [[cavoatrial junction]].",
    "[[Enteric tube]] courses below the [[diaphragm]].",
    "[[NG tube]] tip in the [[stomach]].",
    "[[Dobhoff tube]] tip in the [[duodenum]].",
    "[[Hickman catheter]] tip in the [[right atrium]].",
    "[[PleurX catheter]] in the [[right pleural space]].",
    "[[Port-A-Cath]] with tip in the [[SVC]].",
    "Patient on [[Lasix]] and [[Eliquis]].",
    "Started on [[vancomycin]] and [[Zosyn]] [[2 days]] ago.",
    "Received [[ceftriaxone]] and [[azithromycin]] for [[pneumonia]].",
    "[[Crohn disease]] on [[prednisone]].",
    "[[Alzheimer disease]], [[nursing home]] resident.",
    "[[Chiari malformation]] noted on [[prior MRI]].",
    "[[Pancoast tumor]] in the [[right apex]].",
    "[[Bochdalek hernia]] on the left.",
    "[[Morgagni hernia]] in the [[right cardiophrenic angle]].",
    "Follow-up per [[Fleischner Society]] guidelines.",
    "Images obtained during [[Valsalva]] maneuver.",
    "Patient in [[Trendelenburg]] position.",
    "[[Cheyne-Stokes respirations]] overnight.",
    "[[Mallory-Weiss tear]] on endoscopy.",
    "[[Cough]] for [[3 weeks]].",
    "[[Fever]] for [[2 days]], [[shortness of breath]] for [[1 week]].",
    "[[Post-operative day 2]] after [[CABG]].",
    "Symptoms began [[6 months]] ago.",
    "[[Compression deformity]] of [[T12]].",
    "[[Degenerative changes]] at [[L4-L5]] and [[C6-C7]].",
    "[[Mild cardiomegaly]].",
    "[[Heart size is normal]].",
    "[[No acute cardiopulmonary abnormality]].",
    "[[Bibasilar atelectasis]].",
    "[[Small bilateral pleural effusions]].",
    "[[Moderate pulmonary edema]].",
    "[[Hyperinflated lungs]] compatible with [[COPD]].",
    "[[COVID-19 pneumonia]] with [[bilateral ground-glass opacities]].",
    "[[MRSA]] in [[sputum]].",
    "[[SpO2 92%]] on [[2 L]] nasal cannula.",
    "[[BP 128/76]], [[HR 88]].",
    "[[2/6 systolic murmur]].",
    "[[NYHA class III]] heart failure.",
    "[[Glasgow Coma Scale 15]].",
    "[[Pacemaker]] with leads in the [[right atrium]] and [[right ventricle]].",
    "[[Median sternotomy wires]] are intact.",
    "[[Surgical clips]] in the [[left axilla]].",
    "[[Healed left rib fractures]].",
    "[[Calcified granuloma]] in the [[right upper lobe]].",
    "[[Aortic knob calcification]].",
    "[[Tortuous thoracic aorta]].",
    "[[Blunting of the left costophrenic angle]].",
    "[[Elevation of the right hemidiaphragm]].",
    "[[Impella]] device in expected position.",
    "[[Watchman]] device projects over the [[left atrial appendage]].",
    "[[Greenfield]] filter in the [[IVC]].",
    "[[Medtronic]] pacemaker generator in the [[left chest wall]].",
    "[[Heparin]] drip; [[INR 2.4]].",
    "[[Metoprolol]] [[25 mg]] twice daily.",
    "Compared with the [[prior radiograph]] from [[2 years ago]].",
    "[[Interval improvement]] in [[right basilar opacity]].",
    "[[ICU]] patient, [[intubated]].",
    "[[ED]] evaluation for [[chest pain]].",
    "[[Bilateral hilar lymphadenopathy]], [[sarcoidosis]] is possible.",
)

HELD_OUT_SENTENCES: tuple[str, ...] = (
    "[[Hampton hump]] in the [[right lower lobe]].",
    "[[Golden S sign]] in the [[right upper lobe]].",
    "[[Luftsichel sign]] suggests [[left upper lobe collapse]].",
    "Findings compatible with [[Lemierre syndrome]].",
    "[[Meigs syndrome]] is a consideration.",
    "[[Dressler syndrome]] after [[myocardial infarction]].",
    "[[Caplan syndrome]] in a [[coal worker]].",
    "[[Williams-Campbell syndrome]] with [[bronchiectasis]].",
    "[[Erdheim-Chester disease]] involving the [[pericardium]].",
    "[[Castleman disease]] in the [[mediastinum]].",
    "[[Kaposi sarcoma]] in an [[HIV]] patient.",
    "[[Ewing sarcoma]] of the [[rib]].",
    "[[Askin tumor]] of the [[chest wall]].",
    "[[Pott disease]] at [[T9-T10]].",
    "Status post [[Whipple procedure]].",
    "Status post [[Ivor Lewis esophagectomy]].",
    "[[Clagett window]] in the [[right chest]].",
    "[[Nuss bar]] in place.",
    "[[Blalock-Taussig shunt]] is patent.",
    "[[Glenn shunt]] and [[Fontan]] circulation.",
    "[[Kommerell diverticulum]] with [[right aortic arch]].",
    "[[Langerhans cell histiocytosis]] with [[cysts]].",
    "[[Klebsiella]] pneumonia in the [[right upper lobe]].",
    "Sputum grew [[Pseudomonas aeruginosa]].",
    "[[Aspergillus]] infection in a [[cavity]].",
    "[[Pneumocystis]] pneumonia is possible.",
    "[[Legionella]] antigen positive.",
    "[[Nocardia]] infection in a [[transplant recipient]].",
    "[[Streptococcus pneumoniae]] bacteremia.",
    "[[Haemophilus influenzae]] in [[sputum]].",
    "[[Moraxella]] in [[sputum]].",
    "Patient takes [[Entresto]] and [[Jardiance]].",
    "Started on [[Ozempic]] last month.",
    "Receiving [[Keytruda]] for [[lung cancer]].",
    "On [[Tagrisso]] for [[EGFR]] mutation.",
    "Takes [[Ofev]] for [[pulmonary fibrosis]].",
    "Uses [[Trelegy]] inhaler.",
    "[[Dupixent]] for [[asthma]].",
    "[[Tenckhoff catheter]] in the [[pelvis]].",
    "[[Quinton catheter]] in the [[right internal jugular vein]].",
    "[[Permcath]] tip in the [[right atrium]].",
    "[[Jackson-Pratt drain]] in the [[left chest]].",
    "[[Blake drain]] in the [[pleural space]].",
    "[[Penrose drain]] in the [[axilla]].",
    "[[Sengstaken-Blakemore tube]] in the [[esophagus]].",
    "[[Salem sump]] tip in the [[stomach]].",
    "[[Shiley]] tracheostomy tube in place.",
    "[[Passy-Muir valve]] on the tracheostomy.",
    "[[Boston Scientific]] pacemaker in the [[left chest]].",
    "[[Angio-Seal]] device at the [[right groin]].",
)

_TERM_MARK = re.compile(r"\[\[(.+?)\]\]")


# -- documents ---------------------------------------------------------------------------------


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
        direction = (
            self.pick(("N ", "S ", "E ", "W ", "North ", "West ", ""))
            if self.rng.random() < 0.2
            else ""
        )
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
        return self.pick(
            (f"{a:03d}-{b:02d}-{c:04d}", f"{a:03d} {b:02d} {c:04d}", f"{a:03d}{b:02d}{c:04d}")
        )

    def email(self, p: _Person) -> str:
        user = self.pick(
            (f"{p.first}.{p.last}", f"{p.first[0]}{p.last}", f"{p.last}{self.rng.randint(1, 99)}")
        )
        domain = self.pick(
            (fold(self.any_last()).replace("'", ""), fold(self.city()).replace(" ", ""))
        )
        return f"{fold(user).replace(chr(39), '')}@{domain}{self.pick(('', 'health', 'med', 'mail'))}.{self.pick(_TLDS)}"

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
        return "1.2.840." + ".".join(
            str(self.rng.randint(1, 99999)) for _ in range(self.rng.randint(4, 7))
        )

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


# -- document writers ----------------------------------------------------------------------------

_CRED = (", MD", ", M.D.", " MD", ", DO", "", "", ", PA-C", ", NP", ", RN")


def _clinical(
    b: _Builder, rng: random.Random, n: int, held_out_share: float, *, upper: bool = False
) -> None:
    for i in range(n):
        if rng.random() < held_out_share:
            sentence, kind = rng.choice(HELD_OUT_SENTENCES), "held_out"
        else:
            sentence, kind = rng.choice(KNOWN_SENTENCES), "known"
        b.add_clinical(sentence.upper() if upper else sentence, kind)
        if i < n - 1:
            b.add(" ")


def _generated_report(rng: random.Random) -> str:
    """FINDINGS/IMPRESSION text from the project's report generator (PHI-free filler)."""
    import numpy as np

    from training.findings import sample_findings
    from training.reports import write_report

    np_rng = np.random.default_rng(rng.randrange(2**32))
    return write_report(sample_findings(np_rng), np_rng).text


def _name(b: _Builder, p: _Person, rng: random.Random, *, allow_single: bool = False) -> None:
    b.add(format_name(p, rng, allow_single=allow_single), "PERSON")


def _date(b: _Builder, d: date, rng: random.Random, **kw: bool) -> None:
    text = format_date(d, rng, **kw)
    if text.startswith("the "):  # the article is not part of the date
        b.add("the ")
        text = text[4:]
    b.add(text, "DATE")


def _report(g: _Gen, c: _Cast, held_out_share: float) -> _Builder:
    rng, b = g.rng, _Builder()
    p = c.patient
    # Header block.
    form = rng.randrange(4)
    if form == 0:
        b.add("PATIENT: ")
        b.add(f"{p.last.upper()}, {p.first.upper()}", "PERSON")
        b.add("    MRN: ")
        b.add(c.mrn, "MRN")
        b.add("    DOB: ")
        _date(b, c.dob, rng)
        b.add("\n")
    elif form == 1:
        b.add("Patient Name: ")
        _name(b, p, rng)
        b.add("  Med Rec #: ")
        b.add(c.mrn, "MRN")
        b.add("\nDate of Birth: ")
        _date(b, c.dob, rng)
        b.add("  Accession #: ")
        b.add(c.accession, "ACCESSION")
        b.add("\n")
    elif form == 2:
        b.add("Name: ")
        b.add(f"{p.last}^{p.first}" + (f"^{p.middle}" if p.middle else ""), "PERSON")
        b.add(" | ID: ")
        b.add(c.mrn, "MRN")
        b.add(" | Acc: ")
        b.add(c.accession, "ACCESSION")
        b.add("\n")
    b.add(
        rng.choice(
            (
                "EXAM: XR CHEST 2 VIEWS",
                "EXAMINATION: CHEST PA AND LATERAL",
                "EXAM: CHEST 1 VIEW PORTABLE",
                "Procedure: Chest radiograph",
            )
        )
    )
    b.add("\nEXAM DATE: ")
    _date(b, c.exam_date, rng)
    if rng.random() < 0.5:
        b.add(rng.choice(("  ACCESSION: ", "  Accession Number: ", "  ACC# ")))
        b.add(c.accession, "ACCESSION")
    b.add("\n")
    if rng.random() < 0.8:
        b.add(
            rng.choice(
                (
                    "REFERRING PHYSICIAN: ",
                    "Ordering provider: ",
                    "Referred by: Dr. ",
                    "Requesting physician: ",
                )
            )
        )
        _name(b, c.referring, rng)
        b.add(rng.choice(_CRED) + "\n")
    if rng.random() < 0.3:
        b.add("Location: ")
        b.add(c.facility, "FACILITY")
        b.add(rng.choice((" Emergency Department\n", ", 4 West\n", " ICU\n", "\n")))
    # History.
    b.add(rng.choice(("CLINICAL HISTORY: ", "INDICATION: ", "History: ", "REASON FOR EXAM: ")))
    if rng.random() < 0.35:
        age, rest = _age_text(rng, c.age90)
        b.add(age, "AGE")
        b.add(rest + rng.choice((" female", " male", " woman", " man", "")))
    else:
        b.add(f"{rng.randint(18, 89)}-year-old {rng.choice(('female', 'male', 'woman', 'man'))}")
    b.add(
        rng.choice(
            (
                " with shortness of breath. ",
                " with cough and fever. ",
                ", fall. ",
                " with chest pain. ",
            )
        )
    )
    if rng.random() < 0.3:
        b.add(rng.choice(("Patient ", "Pt ", "Pt. ")))
        _name(b, p, rng)
        b.add(rng.choice((" seen in clinic ", " evaluated ")))
        _date(
            b,
            g.date_between(c.exam_date - timedelta(days=90), c.exam_date),
            rng,
            with_year=rng.random() < 0.7,
        )
        b.add(". ")
    if rng.random() < 0.3:
        _clinical(b, rng, 1, held_out_share)
    b.add("\n")
    # Comparison.
    b.add("COMPARISON: ")
    r = rng.random()
    prior = g.date_between(c.exam_date - timedelta(days=2000), c.exam_date)
    if r < 0.25:
        b.add("None.")
    elif r < 0.55:
        _date(b, prior, rng)
        b.add(".")
    elif r < 0.8:
        b.add(rng.choice(("Chest radiograph from ", "Prior study dated ", "CT chest of ")))
        _date(b, prior, rng)
        b.add(rng.choice((" at ", " performed at ", " from ")))
        b.add(c.outside_facility, "FACILITY")
        b.add(".")
    else:
        b.add(rng.choice(("Outside films from ", "Images from ")))
        b.add(c.outside_facility, "FACILITY")
        b.add(" in ")
        b.add(g.city(), "LOCATION")
        b.add(", dated ")
        _date(b, prior, rng)
        b.add(".")
    b.add("\n")
    # Findings / impression.
    if rng.random() < 0.3:
        b.add(_generated_report(rng))
        b.add(" Additional findings: ")
        _clinical(b, rng, rng.randint(1, 3), held_out_share)
    else:
        b.add(rng.choice(("FINDINGS: ", "FINDINGS:\n", "Findings: ")))
        _clinical(b, rng, rng.randint(3, 6), held_out_share)
        b.add(rng.choice(("\nIMPRESSION: ", "\n\nIMPRESSION:\n", "\nImpression: ")))
        _clinical(b, rng, rng.randint(1, 3), held_out_share)
    b.add("\n")
    # Communication.
    if rng.random() < 0.6:
        doc = rng.choice([c.referring, *c.others])
        form = rng.randrange(13)
        t = f"{rng.randint(1, 12)}:{rng.randint(0, 59):02d} {rng.choice(('AM', 'PM', 'am', 'pm'))}"
        if form == 0:
            b.add("Findings were discussed with Dr. ")
            b.add(rng.choice((doc.last, f"{doc.first} {doc.last}")), "PERSON")
            b.add(f" by telephone at {t} on ")
            _date(b, c.exam_date, rng)
            b.add(".")
        elif form == 1:
            b.add("Critical result called to ")
            _name(b, doc, rng)
            b.add(f"{rng.choice(_CRED)} at {t}, read back confirmed.")
        elif form == 2:
            b.add("Results communicated to the ordering provider, ")
            _name(b, doc, rng)
            b.add(", via secure chat.")
        elif form == 3:
            b.add(f"{doc.first} {doc.last}", "PERSON")
            b.add(f" was notified of the findings at {t}.")
        elif form == 4:
            b.add("Discussed with ")
            _name(b, doc, rng)
            b.add(
                rng.choice((" (ICU fellow)", " (covering resident)", " of the ED team", ""))
                + f" at {t}."
            )
        elif form == 5:
            b.add("The findings were relayed to ")
            b.add(f"{doc.first} {doc.last}", "PERSON")
            b.add(rng.choice((", RN", ", the patient's nurse", " in the ICU")) + ".")
        elif form == 6:
            b.add(f"{doc.first} {doc.last}", "PERSON")
            b.add(
                rng.choice(
                    (
                        " agrees with the plan.",
                        " will follow up.",
                        " acknowledged receipt.",
                        " reviewed the images with me.",
                    )
                )
            )
        elif form == 7:
            b.add("Case reviewed with ")
            b.add(f"{doc.first} {doc.last}", "PERSON")
            b.add(" and ")
            other = rng.choice(c.others)
            b.add(f"{other.first} {other.last}", "PERSON")
            b.add(".")
        elif form == 8:
            b.add("Paged ")
            _name(b, doc, rng)
            b.add(" at ")
            b.add(g.phone() if rng.random() < 0.5 else f"{rng.randint(10000, 99999)}", "PHONE")
            b.add(".")
        elif form == 9:  # terse lower-case note
            b.add(rng.choice(("d/w dr ", "dw dr. ", "called dr ")))
            b.add(doc.last.lower(), "PERSON")
            b.add(f" {t}")
        elif form == 10:  # no context word at all
            b.add("Images reviewed with the ICU team (")
            b.add(f"{doc.first} {doc.last}", "PERSON")
            b.add(").")
        elif form == 11:
            b.add(f"{doc.first} {doc.last}", "PERSON")
            b.add(" and ")
            other = rng.choice(c.others)
            b.add(f"{other.first} {other.last}", "PERSON")
            b.add(" were present for the procedure.")
        else:
            b.add("Per ")
            b.add(f"{doc.first} {doc.last}", "PERSON")
            b.add("'s request, a lateral view was added.")
        b.add("\n")
    # Signature.
    rad = c.radiologist
    form = rng.randrange(6)
    if form == 0:
        b.add("Electronically signed by: ")
        _name(b, rad, rng)
        b.add(", MD on ")
        _date(b, c.exam_date, rng)
        b.add(f" {rng.randint(0, 23):02d}:{rng.randint(0, 59):02d}")
    elif form == 1:
        b.add("Dictated by: ")
        _name(b, rad, rng)
        b.add("\nTranscribed: ")
        _date(b, c.exam_date, rng)
    elif form == 2:
        b.add("Read by: Dr. ")
        _name(b, rad, rng)
    elif form == 3:
        _name(b, rad, rng)
        b.add(rng.choice((", M.D.", ", MD", " MD", ", DO")))
        b.add("\nAttending Radiologist")
    elif form == 4:
        b.add("I have personally reviewed the images and agree with the findings.\n")
        b.add(f"{rad.first} {rad.last}", "PERSON")
    else:
        b.add("Attending radiologist: ")
        _name(b, rad, rng)
        b.add("  Resident: ")
        _name(b, rng.choice(c.others), rng)
    b.add("\n")
    # Footer.
    if rng.random() < 0.45:
        b.add(c.facility, "FACILITY")
        b.add(" Department of Radiology, ")
        b.add(g.street() if rng.random() < 0.8 else g.po_box(), "ADDRESS")
        b.add(", ")
        b.add(c.city, "LOCATION")
        b.add(", ")
        b.add(c.state[0] if rng.random() < 0.8 else c.state[1])
        b.add(" ")
        b.add(c.zip_code, "ADDRESS")
        b.add(rng.choice((". Tel ", ". Phone: ", " | Tel: ")))
        b.add(g.phone(), "PHONE")
        b.add(rng.choice((" Fax ", " | Fax: ", ", fax ")))
        b.add(g.phone(), "PHONE")
        b.add("\n")
    if rng.random() < 0.25:
        r = rng.randrange(3)
        if r == 0:
            b.add("Questions? Contact ")
            b.add(g.email(rng.choice(c.others)), "EMAIL")
            b.add(" or visit ")
            b.add(g.url(), "URL")
            b.add(".")
        elif r == 1:
            b.add("Images available at ")
            b.add(g.url(), "URL")
            b.add(" (PACS node ")
            b.add(g.ip(), "IP_ADDRESS")
            b.add(").")
        else:
            b.add("Study UID: ")
            b.add(g.uid(), "ID")
            b.add(".")
        b.add("\n")
    return b


def _note(g: _Gen, c: _Cast, held_out_share: float) -> _Builder:
    rng, b = g.rng, _Builder()
    p = c.patient
    sentences: list[Callable[[], None]] = []

    def intro() -> None:
        if rng.random() < 0.5:
            b.add(f"{p.first} {p.last}", "PERSON")
        else:
            b.add(rng.choice(("Mr. ", "Mrs. ", "Ms. ")))
            b.add(p.last, "PERSON")
        b.add(" is a ")
        if rng.random() < 0.5:
            age, rest = _age_text(rng, c.age90)
            b.add(age, "AGE")
            b.add(rest)
        else:
            b.add(f"{rng.randint(20, 89)}-year-old")
        b.add(
            rng.choice((" woman", " man", " patient")) + " who presents with shortness of breath."
        )

    def lives() -> None:
        b.add(rng.choice(("Lives at ", "Home address: ", "Resides at ")))
        b.add(c.street, "ADDRESS")
        b.add(", ")
        b.add(c.city, "LOCATION")
        b.add(f", {c.state[0]} ")
        b.add(c.zip_code, "ADDRESS")
        b.add(rng.choice((" with her husband.", " with his wife.", ", alone.", ".")))

    def contact() -> None:
        rel = rng.choice(
            (
                "daughter",
                "son",
                "wife",
                "husband",
                "sister",
                "brother",
                "niece",
                "friend",
                "caregiver",
            )
        )
        form = rng.randrange(4)
        fam = f"{c.family.first} {c.family.last}"
        if form == 0:
            b.add(f"Emergency contact: {rel} ")
            b.add(fam, "PERSON")
            b.add(", ")
            b.add(g.phone(), "PHONE")
            b.add(".")
        elif form == 1:
            b.add(fam, "PERSON")
            b.add(f" ({rel}) can be reached at ")
            b.add(g.phone(), "PHONE")
            b.add(".")
        elif form == 2:
            b.add(f"Spoke with the patient's {rel}, ")
            b.add(fam, "PERSON")
            b.add(", by phone.")
        else:
            b.add(fam, "PERSON")
            b.add(" at bedside.")

    def pcp() -> None:
        b.add(rng.choice(("PCP: Dr. ", "Primary care: Dr. ", "Follows with Dr. ")))
        b.add(rng.choice((c.referring.last, f"{c.referring.first} {c.referring.last}")), "PERSON")
        b.add(" at ")
        b.add(c.outside_facility, "FACILITY")
        b.add(".")

    def ids() -> None:
        form = rng.randrange(4)
        if form == 0:
            b.add("SSN: ")
            b.add(g.ssn(), "SSN")
        elif form == 1:
            b.add(rng.choice(("Insurance ID: ", "Member ID ", "Encounter #: ", "Visit number ")))
            b.add(g.other_id(), "ID")
        elif form == 2:
            b.add(rng.choice(("MRN ", "MR# ", "Medical record number ")))
            b.add(c.mrn, "MRN")
        else:
            b.add("Email: ")
            b.add(g.email(p), "EMAIL")
        b.add(".")

    def transfer() -> None:
        b.add(rng.choice(("Transferred from ", "Sent over from ", "Admitted from ")))
        b.add(c.outside_facility, "FACILITY")
        if rng.random() < 0.5:
            b.add(" in ")
            b.add(g.city(), "LOCATION")
        b.add(" on ")
        _date(b, c.exam_date, rng, with_year=rng.random() < 0.6)
        b.add(".")

    def seen() -> None:
        b.add(rng.choice(("Seen by ", "Evaluated by ", "Examined by ")))
        _name(b, rng.choice(c.others), rng)
        b.add(rng.choice((", NP", ", PA-C", " (cardiology)", "")) + " on ")
        _date(b, g.date_between(c.exam_date - timedelta(days=30), c.exam_date), rng)
        b.add(".")

    def dob() -> None:
        b.add(rng.choice(("DOB ", "Date of birth: ", "Born ")))
        _date(b, c.dob, rng)
        b.add(".")

    def fam_history() -> None:
        b.add("Her physician, ")
        _name(b, rng.choice(c.others), rng)
        b.add(", recommends follow-up.")

    def first_only() -> None:
        b.add(p.first, "PERSON")
        b.add(
            rng.choice(
                (
                    " reports improvement in her breathing.",
                    " states the cough is better.",
                    " was comfortable overnight.",
                )
            )
        )

    def origin() -> None:
        b.add(rng.choice(("Originally from ", "Recently returned from a trip to ", "Grew up in ")))
        b.add(g.city(), "LOCATION")
        b.add(".")

    def family_visit() -> None:
        b.add(rng.choice(("Her son ", "His daughter ", "Her husband ", "His wife ")))
        b.add(c.family.first, "PERSON")
        b.add(" visits daily.")

    def local_phone() -> None:
        b.add(rng.choice(("Call back number ", "Daughter's cell: ", "Home phone ")))
        b.add(f"{rng.randint(200, 999)}-{rng.randint(0, 9999):04d}", "PHONE")
        b.add(".")

    sentences = [
        intro,
        lives,
        contact,
        pcp,
        ids,
        transfer,
        seen,
        dob,
        fam_history,
        first_only,
        origin,
        family_visit,
        local_phone,
    ]
    rng.shuffle(sentences)
    sentences.remove(intro)
    sentences.insert(0, intro)
    for s in sentences[: rng.randint(4, len(sentences))]:
        s()
        b.add(" ")
        if rng.random() < 0.5:
            _clinical(b, rng, rng.randint(1, 2), held_out_share)
            b.add(" ")
    b.add("\nSigned: ")
    _name(b, c.radiologist, rng)
    b.add(rng.choice(_CRED))
    return b


def _descriptor(g: _Gen, c: _Cast, held_out_share: float) -> _Builder:
    """DICOM free-text attributes: terse, often upper case, names in PN or plain form."""
    rng, b = g.rng, _Builder()
    p = c.patient
    form = rng.randrange(10)
    if form == 8:
        b.add(f"{p.last.upper()} {p.first.upper()}", "PERSON")
        b.add(rng.choice((" CXR", " CHEST 2V", " PORT CHEST")))
    elif form == 9:
        b.add("pt: ")
        b.add(f"{p.last.lower()}, {p.first.lower()}", "PERSON")
        b.add(" - r/o pna")
    elif form == 0:
        b.add(rng.choice(("CHEST PA/LAT ", "XR CHEST 1V ", "CHEST PORTABLE ")))
        b.add(f"{p.last.upper()}^{p.first.upper()}", "PERSON")
    elif form == 1:
        b.add(rng.choice(("PORTABLE AP - ", "AP SUPINE - ")))
        b.add(f"{p.last.upper()} {p.first.upper()}", "PERSON")
        b.add(" - TECH ")
        tech = rng.choice(c.others)
        b.add(f"{tech.first.upper()} {tech.last.upper()}", "PERSON")
    elif form == 2:
        age, rest = _age_text(rng, c.age90)
        b.add(age, "AGE")
        b.add(rest.upper() + rng.choice((" F", " M")) + ", SOB. HX CHF. ORD BY DR ")
        b.add(c.referring.last.upper(), "PERSON")
    elif form == 3:
        b.add("Image sent from ")
        b.add(c.outside_facility, "FACILITY")
        b.add(" ")
        _date(b, c.exam_date, rng)
    elif form == 4:
        b.add("RT ")
        b.add(f"{c.others[0].first} {c.others[0].last}", "PERSON")
        b.add(rng.choice((" ext ", " x", " pager ")))
        b.add(str(rng.randint(1000, 99999)), "PHONE")
    elif form == 5:
        b.add("Pt ")
        b.add(p.last.upper(), "PERSON")
        b.add(" MRN ")
        b.add(c.mrn, "MRN")
        b.add(" ACC ")
        b.add(c.accession, "ACCESSION")
    elif form == 6:
        b.add("Prior from ")
        _date(b, g.date_between(c.exam_date - timedelta(days=900), c.exam_date), rng)
        b.add(" at ")
        b.add(c.outside_facility, "FACILITY")
    else:
        b.add(rng.choice(("CXR for ", "Chest xray ")))
        b.add(f"{p.first} {p.last}", "PERSON")
        b.add(", DOB ")
        _date(b, c.dob, rng)
    if rng.random() < 0.6:
        b.add(". ")
        _clinical(b, rng, rng.randint(1, 2), held_out_share, upper=rng.random() < 0.6)
    return b


_WRITERS: dict[str, Callable[[_Gen, _Cast, float], _Builder]] = {
    "report": _report,
    "note": _note,
    "descriptor": _descriptor,
}
_KIND_WEIGHTS = {"report": 0.5, "note": 0.3, "descriptor": 0.2}


def generate(
    n: int, *, seed: int = 0, split: Split = "eval", held_out_share: float = 0.15
) -> list[Document]:
    """`n` documents drawn deterministically from `seed`, with names and places from `split`.

    held_out_share: probability that a clinical sentence comes from HELD_OUT_SENTENCES.
    """
    rng = random.Random(f"phi-corpus/{split}/{seed}")
    g = _Gen(rng, split)
    kinds = list(_KIND_WEIGHTS)
    weights = [_KIND_WEIGHTS[k] for k in kinds]
    docs: list[Document] = []
    for _ in range(n):
        cast = _make_cast(g)
        kind = rng.choices(kinds, weights)[0]
        b = _WRITERS[kind](g, cast, held_out_share)
        docs.append(Document(kind, b.text(), tuple(b.phi), tuple(b.terms), dict(cast.header)))
    return docs


def clinical_text(
    rng: random.Random, n_sentences: int, *, held_out: bool = False
) -> tuple[str, tuple[Span, ...]]:
    """A PHI-free paragraph of `n_sentences` clinical sentences and its term spans."""
    b = _Builder()
    _clinical(b, rng, n_sentences, 1.0 if held_out else 0.0)
    return b.text(), tuple(b.terms)


def iter_clinical_terms(*, held_out: bool) -> Iterator[str]:
    """Every [[term]] of the known (or held-out) clinical sentences."""
    for s in HELD_OUT_SENTENCES if held_out else KNOWN_SENTENCES:
        yield from _TERM_MARK.findall(s)
