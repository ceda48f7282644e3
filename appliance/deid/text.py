"""Free-text PHI redaction (report text, clinical notes, DICOM text attributes), offline.

Built on Microsoft Presidio's AnalyzerEngine with no statistical NLP model: the NLP engine is a
blank spaCy English tokenizer (Presidio's context-word enhancer still works on its tokens), and
every detector is a small recognizer class of this module:

* rules for MRN, accession and other identifiers, SSN, phone/fax/pager, e-mail, URL, IP address,
  DICOM UIDs, dates in many formats (not durations or measurements), ages over 89, street
  addresses / PO boxes / "City, ST ZIP", city names after residence words, facility names;
* person names after titles and context words ("Dr. X", "signed by X", "discussed with X",
  "X, MD", "X was notified", "daughter X", ...);
* a per-study deny-list built from the DICOM header of the same study (`StudyContext`): the
  patient's and physicians' names in all their written forms, IDs, dates, phone numbers,
  addresses and the institution;
* a character n-gram name model (`text_model.NameModel`) for capitalised words that look like
  names and have no context at all.

Clinical vocabulary survives: tokens of `textdata/clinical_lexicon.txt` (anatomy, findings,
devices, drugs, eponyms such as Foley, Kerley, Hodgkin) are never names on their own, a
capitalised word followed by an eponym head noun ("X syndrome", "X catheter", "X sign") is never a
name, and date rules ignore durations and measurements. The header deny-list wins over all of
that: a patient named Foley has "Foley" redacted everywhere.

    redactor = TextRedactor()                        # build once: loads Presidio (seconds)
    ctx = StudyContext.from_dataset(ds)              # or StudyContext.from_mapping({...})
    redactor.redact(text, ctx).text                  # "... discussed with Dr. [PERSON] ..."
    cleaner = redactor.text_cleaner(ctx)             # str -> str, for Deidentifier(text_cleaner=)

Deterministic, no network (no spaCy model download is ever attempted), nothing logged about the
text. Entity offsets always refer to the original text.
"""

from __future__ import annotations

import json
import logging
import re as _stdre
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import date
from functools import lru_cache
from importlib import resources
from types import MappingProxyType
from typing import Any, ClassVar

import regex as re
from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

from appliance.deid.errors import DeidError
from appliance.deid.text_model import NameModel, fold

__all__ = [
    "DEFAULT_ENTITIES",
    "Entity",
    "RedactedText",
    "StudyContext",
    "TextRedactionError",
    "TextRedactor",
    "TextRedactorSettings",
    "redact_jsonl",
]

PERSON = "PERSON"
DATE = "DATE"
AGE = "AGE"
MRN = "MRN"
ACCESSION = "ACCESSION"
ID = "ID"
SSN = "SSN"
PHONE = "PHONE"
EMAIL = "EMAIL"
URL = "URL"
IP_ADDRESS = "IP_ADDRESS"
ADDRESS = "ADDRESS"
LOCATION = "LOCATION"
FACILITY = "FACILITY"

#: Every entity type the redactor emits.
DEFAULT_ENTITIES: tuple[str, ...] = (
    PERSON, DATE, AGE, MRN, ACCESSION, ID, SSN, PHONE, EMAIL, URL, IP_ADDRESS, ADDRESS, LOCATION,
    FACILITY,
)

_LANG = "en"


class TextRedactionError(DeidError):
    """Bad input to the free-text redactor (never carries the text itself)."""


@dataclass(frozen=True)
class Entity:
    """A detected PHI span [start, end) of the original text."""

    type: str
    start: int
    end: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "start": self.start, "end": self.end, "score": round(self.score, 4)}


@dataclass(frozen=True)
class RedactedText:
    """The redacted text and the entities replaced, with offsets into the original text."""

    text: str
    entities: tuple[Entity, ...]


# -- vocabulary -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def clinical_lexicon() -> frozenset[str]:
    """Folded words of textdata/clinical_lexicon.txt."""
    text = resources.files("appliance.deid").joinpath("textdata", "clinical_lexicon.txt").read_text("utf-8")
    return frozenset(fold(w) for w in (line.strip() for line in text.splitlines()) if w and not w.startswith("#"))


@lru_cache(maxsize=1)
def _stop_words() -> frozenset[str]:
    from spacy.lang.en.stop_words import STOP_WORDS

    extra = {"name", "names", "md", "m.d", "dob", "mrn", "id", "acc", "ord", "tel", "fax", "phone", "pager",
             "ext", "email", "e-mail", "cell", "mobile", "home", "work", "dear", "hello", "hi", "thanks",
             "sincerely", "regards", "cc", "re", "subject", "date", "time", "age", "sex", "gender", "yo",
             "y/o", "tech", "rt", "rn", "np", "pa-c", "do", "phd", "dds", "mbbs", "frcr", "frcpc",
             "sr", "jr", "ii", "iii", "iv", "esq", "med", "rec", "acct", "loc", "dept", "attn", "st", "mt", "saint", "mount", "dr", "drs", "mr", "mrs",
             "ms", "miss", "mx", "prof", "professor", "doctor", "nurse", "monday", "tuesday", "wednesday",
             "thursday", "friday", "saturday", "sunday", "january", "february", "march", "april", "june",
             "july", "august", "september", "october", "november", "december", "jan", "feb", "mar", "apr",
             "jun", "jul", "aug", "sep", "sept", "oct", "nov", "dec",
             "street", "avenue", "road", "boulevard", "suite", "apt", "unit", "box"}
    return frozenset(STOP_WORDS) | frozenset(extra)


def is_lexical(token: str) -> bool:
    """True when `token` is clinical vocabulary or a function word, i.e. never a name alone.
    A hyphenated token is lexical when it is listed whole or all of its parts are."""
    f = fold(token).strip("'-")
    if not f:
        return True
    lex, stop = clinical_lexicon(), _stop_words()
    if f in lex or f in stop:
        return True
    parts = [p for p in f.split("-") if p]
    return len(parts) > 1 and all(p in lex or p in stop for p in parts)


#: Nouns that turn a preceding capitalised word into an eponym or a proper noun that is not a
#: person ("Hampton hump", "Jackson-Pratt drain", "Fleischner Society").
_HEAD_NOUNS = frozenset(
    """
    sign signs syndrome syndromes disease diseases disorder phenomenon effect law reflex triad
    pentad test score scale scales criteria classification classifications grade grading stage
    staging type index ratio rule rules maneuver manoeuvre position positioning view views
    projection technique approach method procedure procedures operation repair resection
    esophagectomy fundoplication anastomosis shunt shunts circulation window flap bar bars
    catheter catheters tube tubes line lines drain drains sump valve valves filter filters stent
    stents device devices clip clips wire wires needle pump pumps port mask cannula inhaler
    fracture fractures lesion lesions tumor tumors tumour sarcoma lymphoma carcinoma cancer
    hernia malformation anomaly diverticulum esophagus hump body bodies cell cells node nodes
    canal duct ligament angle fistula pouch space spaces artery vein nerve pneumonia infection
    infections antigen bacteremia sepsis respirations respiration breathing tear tears
    tracheostomy pacemaker system society guidelines guideline protocol protocols curve
    murmur ulcer ulcers foramen gland glands fat pad area areas zone mutation gene
    aeruginosa pneumoniae aureus influenzae epidermidis pyogenes agalactiae coli fumigatus
    jirovecii avium kansasii catarrhalis maltophilia baumannii difficile albicans cloacae
    """.split()
)
_HEAD_NOUN_SUFFIX = re.compile(r"(?:ectomy|otomy|ostomy|plasty|scopy|graphy|itis|osis|emia|oma)$")


def _is_head_noun(word: str) -> bool:
    w = fold(word)
    return w in _HEAD_NOUNS or bool(_HEAD_NOUN_SUFFIX.search(w) and w not in _stop_words())


# -- NLP engine -----------------------------------------------------------------------------------


class BlankSpacyNlpEngine(SpacyNlpEngine):
    """Presidio NLP engine on spaCy's blank English pipeline: tokens and stop words, no NER and
    no model to load (so nothing can ever be downloaded). Lemmas are lower-cased tokens, which is
    all Presidio's context-word enhancer needs."""

    def __init__(self) -> None:
        super().__init__(models=[{"lang_code": _LANG, "model_name": "blank:en"}])

    def load(self) -> None:
        import spacy

        self.nlp = {_LANG: spacy.blank(_LANG)}

    def get_supported_entities(self) -> list[str]:
        return []

    def _doc_to_nlp_artifact(self, doc: Any, language: str) -> NlpArtifacts:
        return NlpArtifacts(
            entities=[],
            tokens=doc,
            tokens_indices=[t.idx for t in doc],
            lemmas=[t.text.lower() for t in doc],
            nlp_engine=self,
            language=language,
            scores=[],
        )


# -- recognizer base --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    """One regex of a recognizer. The reported span is the named group `v` when the regex has
    one, else the whole match; groups named `v_<TYPE>` report extra spans of that type."""

    name: str
    pattern: str
    score: float
    flags: int = 0

    def compiled(self) -> re.Pattern[str]:
        return _compile(self.pattern, self.flags)


@lru_cache(maxsize=None)
def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def _result(recognizer: EntityRecognizer, entity: str, start: int, end: int, score: float) -> RecognizerResult:
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
        },
    )


class RuleRecognizer(EntityRecognizer):
    """A Presidio recognizer defined by a table of `Rule`s for one entity type.

    Subclasses set ENTITY and RULES and may override `accept` to veto a match (None) or to
    narrow its span and scale its score ((start, end, factor)).
    """

    ENTITY: ClassVar[str]
    RULES: ClassVar[tuple[Rule, ...]]
    CONTEXT: ClassVar[tuple[str, ...]] = ()
    _TRIM = ".,;:)]}>'\""

    def __init__(self) -> None:
        super().__init__(supported_entities=self._entities(), context=list(self.CONTEXT))
        self._compiled = [(r, r.compiled()) for r in self.RULES]

    @classmethod
    def _entities(cls) -> list[str]:
        found = {cls.ENTITY}
        for r in cls.RULES:
            found.update(re.findall(r"\(\?P<v_([A-Z_]+)>", r.pattern))
        return sorted(found)

    def load(self) -> None:  # noqa: D102 - nothing to load
        pass

    def accept(self, text: str, start: int, end: int, match: re.Match[str], rule: Rule) -> tuple[int, int, float] | None:
        return start, end, 1.0

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        out: list[RecognizerResult] = []
        for rule, rx in self._compiled:
            for m in rx.finditer(text):
                spans: list[tuple[str, int, int]] = []
                for gname, value in m.groupdict().items():
                    if value is None or not (gname == "v" or gname.startswith("v_")):
                        continue
                    etype = self.ENTITY if gname == "v" else gname[2:]
                    spans.append((etype, *m.span(gname)))
                if not spans and "v" not in rx.groupindex:
                    spans.append((self.ENTITY, *m.span()))
                for etype, s, e in spans:
                    while e > s and text[e - 1] in self._TRIM and not _keeps_final_dot(text, s, e):
                        e -= 1
                    if e <= s or etype not in entities:
                        continue
                    verdict = self.accept(text, s, e, m, rule)
                    if verdict is None:
                        continue
                    s, e, factor = verdict
                    if e > s:
                        out.append(_result(self, etype, s, e, rule.score * factor))
        return out


def _keeps_final_dot(text: str, start: int, end: int) -> bool:
    # "Mar." / "J." keep their dot; a sentence period after a number or word does not matter.
    return text[end - 1] == "." and end - start <= 4 and text[start:end - 1].isalpha()


# -- shared patterns ------------------------------------------------------------------------------

_MONTH_NAMES = (
    ("January", "Jan"), ("February", "Feb"), ("March", "Mar"), ("April", "Apr"), ("May", "May"),
    ("June", "Jun"), ("July", "Jul"), ("August", "Aug"), ("September", "Sept", "Sep"),
    ("October", "Oct"), ("November", "Nov"), ("December", "Dec"),
)


def _month_alternation() -> str:
    forms: list[str] = []
    for names in _MONTH_NAMES:
        for n in names:
            forms += [n, n.upper()]
    forms.sort(key=len, reverse=True)
    return "(?:" + "|".join(dict.fromkeys(forms)) + ")"


MONTH = _month_alternation()
DAY = r"(?:0?[1-9]|[12]\d|3[01])"
MM = r"(?:0?[1-9]|1[0-2])"
Y4 = r"(?:1[89]\d\d|20\d\d)"
Y2 = r"(?:\d\d)"
ORD = r"(?:st|nd|rd|th)"
_UNITS = r"(?:mm|cm|m|km|mg|mcg|g|kg|ml|mL|l|L|cc|%|units?|u|bpm|mmhg|mmHg|min|mins|hrs?|hours?|days?|weeks?|wks?|months?|years?|yrs?|french|fr|Fr|F)"

#: A capitalised word: O'Neil, McDonald, Jean-Luc, ALL CAPS, accents.
NAME_WORD = r"\p{Lu}[\p{L}'\u2019]*(?:-\p{L}[\p{L}'\u2019]*)*"
_WORD_RX = re.compile(r"\p{L}[\p{L}'\u2019]*(?:-\p{L}[\p{L}'\u2019]*)*\.?")


# -- recognizers: identifiers -------------------------------------------------------------------

_ID_VALUE = r"(?P<v>(?=[A-Z0-9\-]*\d{3})[A-Z]{0,5}[\-]?\d[A-Z0-9\-]{2,24}(?<!-))"


class MrnRecognizer(RuleRecognizer):
    """Medical record numbers after their label: "MRN: 00123456", "MR# E123456", "Med Rec #"."""

    ENTITY = MRN
    RULES = (
        Rule(
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
        Rule(
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
        Rule(
            "labelled",
            r"(?i:\b(?:encounter|visit|account|acct|admission|order|requisition|req|study|insurance|member"
            r"|policy|subscriber|claim|specimen|episode|csn|fin|har|billing|patient|device|serial|badge"
            r"|employee|license|licence|npi|dea|passport)\s*(?:id|number|no\.?|num|\#)(?![\w])\.?"
            r"|\bID\b)\s*(?:[:\#=]\s*)?(?:\#\s*)?" + _ID_VALUE,
            0.9,
        ),
        Rule("dicom_uid", r"(?<![\w.])(?P<v>[0-2](?:\.(?:0|[1-9]\d*)){4,})(?![\w]|\.\d)", 0.85),
        Rule(
            "long_number",
            r"(?<![\w.,/:\-+])(?P<v>\d{6,})(?![\w/%]|[.,]\d|\s*" + _UNITS + r"\b)",
            0.6,
        ),
        Rule(
            "prefixed_code",
            r"(?<![\w\-])(?P<v>[A-Z]{1,5}-?(?=[\dA-Z\-]*\d{5})\d[\dA-Z\-]{4,})(?![\w\-])",
            0.6,
        ),
    )


class SsnRecognizer(RuleRecognizer):
    """US social security numbers: 123-45-6789 / 123 45 6789 anywhere, nine digits after "SSN"."""

    ENTITY = SSN
    RULES = (
        Rule(
            "dashed",
            r"(?<![\d\-])(?P<v>(?!000|666|9\d\d)\d{3}([\s\-])(?!00)\d{2}\2(?!0000)\d{4})(?![\d\-])",
            0.8,
        ),
        Rule(
            "labelled",
            r"(?i:\b(?:SSN|SS\#|social\s+security(?:\s+(?:number|no\.?|\#))?)(?![\w])\.?)\s*[:\#]?\s*"
            r"(?P<v>\d{9}|\d{3}[\s\-]\d{2}[\s\-]\d{4})(?!\d)",
            0.95,
        ),
    )


class PhoneRecognizer(RuleRecognizer):
    """Phone, fax and pager numbers: NANP forms with or without country code and extension,
    international "+CC ..." numbers, and short extensions/pagers after their label."""

    ENTITY = PHONE
    RULES = (
        Rule(
            "nanp",
            r"(?<![\w+\-/.])(?P<v>(?:\+?1[\s.\-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}"
            r"(?:\s*(?i:x|ext\.?|extension)\s*\d{1,6})?)(?![\d\-/])",
            0.85,
        ),
        Rule(
            "labelled_digits",
            r"(?i:\b(?:phone|tel|telephone|fax|cell|mobile|contact|call|callback|ph)\b\.?(?:\s*(?:number|no\.?|\#))?)"
            r"\s*[:\#]?\s*(?P<v>\+?\d{10,11})(?!\d)",
            0.9,
        ),
        Rule(
            "labelled_local",
            r"(?i:\b(?:phone|tel|telephone|fax|cell|mobile|contact|call\s*back|callback|ph|home|work|office|"
            r"pager|beeper|number|no)\b\.?(?:\s*(?:number|no\.?|\#))?)\s*[:\#]?\s*(?P<v>\d{3}[\s.\-]\d{4})(?![\d\-])",
            0.85,
        ),
        Rule(
            "international",
            r"(?<![\w+])(?P<v>\+(?:[2-9]\d{0,2})[\s.\-]?\(?\d{1,4}\)?(?:[\s.\-]?\d{2,4}){2,4})(?![\d\-])",
            0.75,
        ),
        Rule(
            "extension_or_pager",
            r"(?i:\b(?:ext|extension|pager|pgr|beeper|bpr|vocera|spectralink)\b\.?\s*[:\#]?\s*|\bx(?=\d))"
            r"(?P<v>\d(?:[\s\-]?\d){3,6})(?![\d])",
            0.85,
        ),
        Rule(
            "paged_at",
            r"(?i:\b(?:paged?|call(?:ed)?|reach(?:ed)?|contact(?:ed)?)\b[^.\n]{0,60}?\bat\s+)(?P<v>\d{4,6})\b"
            r"(?!\s*(?i:hours?|hrs?|h\b|am\b|pm\b))",
            0.8,
        ),
    )


class EmailRecognizer(RuleRecognizer):
    """E-mail addresses (no domain lookups: Presidio's own recognizer calls tldextract)."""

    ENTITY = EMAIL
    RULES = (
        Rule("address", r"(?<![\w.+\-])(?P<v>[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,24})\b", 0.95),
    )


class UrlRecognizer(RuleRecognizer):
    """URLs: scheme://..., www...., and bare host names under common top-level domains."""

    ENTITY = URL
    RULES = (
        Rule("scheme", r"(?i:\b(?P<v>(?:https?|ftp|dicomweb)://[^\s<>\"'\])]+))", 0.95),
        Rule("www", r"(?i:(?<![\w.@])(?P<v>www\d{0,3}\.[^\s<>\"'\])]+))", 0.9),
        Rule(
            "bare_host",
            r"(?i:(?<![\w.@/\-])(?P<v>[a-z0-9][a-z0-9\-]*(?:\.[a-z0-9\-]+)*\.(?:com|org|net|edu|gov|mil|io"
            r"|health|care|clinic|hospital|med|info|biz|us)(?:/[^\s<>\"'\])]*)?)(?![\w@\-]))",
            0.8,
        ),
    )


class IpAddressRecognizer(RuleRecognizer):
    """IPv4 and IPv6 addresses."""

    ENTITY = IP_ADDRESS
    _OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    RULES = (
        Rule("ipv4", rf"(?<![\w.])(?P<v>{_OCTET}(?:\.{_OCTET}){{3}})(?![\w]|\.\d)", 0.9),
        Rule(
            "ipv6",
            r"(?i:(?<![\w:])(?P<v>(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}"
            r"(?::[0-9a-f]{1,4}){0,5})?)(?![\w:]))",
            0.85,
        ),
    )

    def accept(self, text: str, start: int, end: int, match: re.Match[str], rule: Rule) -> tuple[int, int, float] | None:
        value = text[start:end]
        # Times ("10:30", "10:30:15") and ratios are not IPv6 addresses.
        if ":" in value and "::" not in value and value.count(":") < 7:
            return None
        if ":" in value and not any(c.isalpha() for c in value) and value.count(":") < 4:
            return None
        return start, end, 1.0


# -- recognizers: dates and ages ----------------------------------------------------------------

_DATE_END = r"(?![\w/]|[.\-]\d)"


class DateRecognizer(RuleRecognizer):
    """Calendar dates: numeric (US, European, ISO, DICOM YYYYMMDD), spelled-out months with day
    and/or year, and month/day after a date word ("on 3/14"). Not years alone, durations
    ("2 days"), ratios ("2/6 murmur", "120/80") or measurements."""

    ENTITY = DATE
    RULES = (
        Rule("numeric_mdy", rf"(?<![\w/.\-])(?P<v>{MM}([/.\-]){DAY}\2(?:{Y4}|{Y2})){_DATE_END}", 0.85),
        Rule("numeric_dmy", rf"(?<![\w/.\-])(?P<v>{DAY}([/.\-]){MM}\2(?:{Y4}|{Y2})){_DATE_END}", 0.8),
        Rule(
            "iso",
            rf"(?<![\w/.\-])(?P<v>{Y4}([/.\-])(?:0?[1-9]|1[0-2])\2{DAY}(?:[T ]\d{{2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?)?){_DATE_END}",
            0.9,
        ),
        Rule("dicom_da", r"(?<![\w.\-])(?P<v>(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(?![\w]|[.\-]\d)", 0.8),
        Rule(
            "day_month_year",
            rf"(?<![\w])(?P<v>{DAY}{ORD}?(?:\s+of)?[\s\-]+{MONTH}\.?(?:[\s\-,]+(?:{Y4}|'?{Y2}))?)(?![\w])",
            0.85,
        ),
        Rule(
            "month_day_year",
            rf"(?<![\w])(?P<v>{MONTH}\.?[\s\-]+{DAY}{ORD}?(?:(?:,?\s+|[\-/]){Y4}|,\s*'?{Y2})?)(?![\w]|\s*{_UNITS}\b|[.,]\d)",
            0.85,
        ),
        Rule("month_year", rf"(?<![\w])(?P<v>{MONTH}\.?(?:,?\s+|\s+of\s+|[\-/]){Y4})(?![\w])", 0.8),
        Rule(
            "month_day_after_word",
            r"(?i:\b(?:on|dated|from|since|until|till|through|thru|of|seen|visit|clinic|evaluated|admitted"
            r"|discharged|performed|obtained|dos|date|dob|born)\b[:\s]+)"
            rf"(?P<v>{MM}/{DAY})(?![\w/]|\.\d)",
            0.75,
        ),
    )


class AgeOver89Recognizer(RuleRecognizer):
    """Ages of 90 and above (HIPAA Safe Harbor keeps younger ages): "92-year-old", "age 95",
    "aged 101", "93 y/o", "91yo F", "in her 90s". Only the number is reported."""

    ENTITY = AGE
    _AGE = r"(?:9\d|1[01]\d)"
    RULES = (
        Rule(
            "with_unit",
            rf"(?<![\w.])(?P<v>{_AGE})(?=\s*-?\s*(?i:years?|yrs?|y/o|y\.o\.|yo|y)(?:\s*-?\s*old)?\b)",
            0.9,
        ),
        Rule("after_age", rf"(?i:\b(?:age[d:]?|aged|age\s+of)\s*)(?P<v>{_AGE})(?![\w.])", 0.9),
        Rule(
            "sex_suffix",
            rf"(?<![\w.])(?<!(?i:temp|temperature|t|weight|wt|hr|pulse|rate|spo2|sat|sats)\s*:?\s*)(?P<v>{_AGE})\s?(?:[MF])\b",
            0.7,
        ),
        Rule("decade", rf"(?i:\b(?:his|her|their|early|mid|late)[\s\-]+)(?P<v>9\d)(?=s\b)", 0.7),
        Rule(
            "spelled",
            r"(?i:\b(?P<v>(?:ninety|one[\s\-]+hundred)(?:[\s\-]+(?:and[\s\-]+)?(?:one|two|three|four|five|six|seven|"
            r"eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen))?)"
            r"(?=[\s\-]*(?:years?|yrs?|y/o|yo)\b))",
            0.9,
        ),
    )


# -- recognizers: places and facilities -----------------------------------------------------------

_USPS_SUFFIXES = (
    "Alley Aly Annex Anx Arcade Arc Avenue Ave Av Bayou Byu Beach Bch Bend Bnd Bluff Blf Bluffs Bottom "
    "Btm Boulevard Blvd Branch Br Bridge Brg Brook Brk Brooks Burg Bypass Byp Camp Cp Canyon Cyn Cape "
    "Cpe Causeway Cswy Center Ctr Centre Circle Cir Circles Cliff Clf Cliffs Club Clb Common Commons "
    "Corner Cor Corners Cors Course Crse Court Ct Courts Cts Cove Cv Coves Creek Crk Crescent Cres "
    "Crest Crst Crossing Xing Crossroad Curve Curv Dale Dl Dam Divide Dv Drive Dr Drives Estate Est "
    "Estates Ests Expressway Expy Extension Ext Falls Fls Ferry Fry Field Fld Fields Flds Flat Flt "
    "Flats Ford Frd Forest Frst Forge Frg Fork Frk Forks Fort Ft Freeway Fwy Garden Gdn Gardens Gdns "
    "Gateway Gtwy Glen Gln Green Grn Grove Grv Harbor Hbr Haven Hvn Heights Hts Highway Hwy Hill Hl "
    "Hills Hls Hollow Holw Inlet Island Is Islands Isle Junction Jct Key Ky Knoll Knl Knolls Lake Lk "
    "Lakes Lks Landing Lndg Lane Ln Light Lgt Loaf Lock Lck Locks Lodge Ldg Loop Mall Manor Mnr "
    "Manors Meadow Mdw Meadows Mdws Mews Mill Ml Mills Mission Msn Motorway Mount Mt Mountain Mtn "
    "Neck Nck Orchard Orch Oval Overpass Opas Park Parks Parkway Pkwy Pass Passage Psge Path Pike "
    "Pine Pines Pnes Place Pl Plain Pln Plains Plns Plaza Plz Point Pt Points Pts Prairie Pr Radial "
    "Radl Ramp Ranch Rnch Rapid Rpd Rapids Rpds Rest Rst Ridge Rdg Ridges Rdgs River Riv Road Rd "
    "Roads Rds Route Rte Row Rue Run Shoal Shl Shoals Shore Shr Shores Shrs Skyway Skwy Spring Spg "
    "Springs Spgs Spur Square Sq Squares Station Sta Stravenue Stra Stream Strm Street St Streets Sts "
    "Summit Smt Terrace Ter Trace Trce Track Trak Trafficway Trfy Trail Trl Trailer Trlr Tunnel Tunl "
    "Turnpike Tpke Underpass Upas Union Un Valley Vly Valleys Vlys Viaduct Via Vista Vis Walk Walks "
    "Wall Way Ways Well Wl Wells Wls"
).split()
_STREET_SUFFIX = "(?i:" + "|".join(sorted(set(_USPS_SUFFIXES), key=len, reverse=True)) + r")\b\.?"
_DIRECTION = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West|Northeast|Northwest|Southeast|Southwest)\.?"
_UNIT = r"(?:,?\s+(?i:apt|apartment|suite|ste|unit|bldg|building|fl|floor|rm|room|no|lot|space|trlr|\#)\.?\s*\#?\s*[A-Za-z0-9\-]{1,6}\b)"
_US_STATES = (
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ NM NY "
    "NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP"
).split()
_US_STATE_NAMES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|"
    "Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|"
    "Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|"
    "New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|"
    "South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|"
    "Wisconsin|Wyoming|Puerto Rico|District of Columbia"
)
_STATE = rf"(?:{'|'.join(_US_STATES)}|{_US_STATE_NAMES})"
_PLACE_WORD = r"\p{Lu}[\p{L}'\u2019.\-]*"
#: A state code after a name that doubles as a credential ("Woods, MD", "Ray, PA").
_CREDENTIAL_STATES = frozenset({"MD", "PA", "ME", "DO", "OR", "IN", "NP"})
#: Words that close place names and are ordinary words otherwise ("Cedar Falls", "Union City").
_PLACE_SUFFIXES = frozenset(
    "city town falls springs spring heights hills hill park beach valley junction river lake lakes "
    "harbor harbour bay point port grove village center centre station crossing creek ridge bluffs "
    "mills forge landing".split()
)
#: Words that open place names and are ordinary words otherwise ("North Ayala", "Port Sanders").
_PLACE_PREFIXES = frozenset(
    "north south east west new old port fort ft mount mt saint st ste lake glen grand great little "
    "upper lower san santa los las el la le de du des del palm point pointe cape bay green spring "
    "rock river west-end".split()
)


class StreetAddressRecognizer(RuleRecognizer):
    """Street addresses (number, optional direction, capitalised street name, USPS suffix,
    optional unit), PO boxes, "City, ST 12345" (city reported as LOCATION and ZIP as ADDRESS;
    the state, not PHI under Safe Harbor, is kept), and ZIP codes after their label."""

    ENTITY = ADDRESS
    RULES = (
        Rule(
            "street",
            rf"(?<![\w\-./])(?P<v>\d{{1,6}}[A-Z]?(?:-\d{{1,4}})?\s+(?:{_DIRECTION}\s+)?"
            rf"(?P<name>(?:(?:{_PLACE_WORD}|\d{{1,3}}(?:st|nd|rd|th))\s+){{1,4}}){_STREET_SUFFIX}(?:\s+{_DIRECTION}(?![\w]))?{_UNIT}?)",
            0.85,
        ),
        Rule("po_box", r"(?i:(?<![\w])(?P<v>(?:P\.?\s?O\.?|Post\s+Office)\s*Box\s+\#?\d{1,6}))\b", 0.9),
        Rule(
            "city_state_zip",
            rf"(?<![\w])(?P<v_LOCATION>(?:{_PLACE_WORD}\s+){{0,3}}{_PLACE_WORD}),\s*(?P<state>{_STATE})\.?"
            rf"(?:,?\s+(?P<v>\d{{5}}(?:-\d{{4}})?))?(?![\w])",
            0.8,
        ),
        Rule("labelled_zip", r"(?i:\b(?:zip|zip\s*code|postal\s+code)\b\s*[:\#]?\s*)(?P<v>\d{5}(?:-\d{4})?)(?!\d)", 0.9),
    )

    def accept(self, text: str, start: int, end: int, match: re.Match[str], rule: Rule) -> tuple[int, int, float] | None:
        if rule.name == "street":
            # The street name (between the number and the suffix) must not be clinical words.
            words = match.group("name").split()
            if all(fold(w) in _stop_words() for w in words):
                return None
            return start, end, 1.0
        if rule.name != "city_state_zip" or (start, end) != match.span("v_LOCATION"):
            return start, end, 1.0
        has_zip = match.group("v") is not None
        if not has_zip and match.group("state") in _CREDENTIAL_STATES:
            return None  # "Woods, MD" is a credential
        # Drop leading clinical/common words ("Radiology Springfield, IL" -> "Springfield"),
        # but not place prefixes ("North", "Port", "Saint").
        for w in _WORD_RX.finditer(text, start, end):
            word = w.group().rstrip(".")
            if fold(word) in _PLACE_PREFIXES or not is_lexical(word):
                return w.start(), end, 1.0
        # A ZIP code after the state says this is a city even when its name is also a word.
        return (start, end, 0.9) if has_zip else None


_FACILITY_HEAD = (
    r"(?:Medical\s+Cent(?:er|re)|Health\s+(?:Cent(?:er|re)|System|Services|Network|Partners)|Healthcare|"
    r"Health\s+Care|Hospitals?|Clinics?|Infirmary|Sanatorium|Hospice|Nursing\s+Home|Nursing\s+Facility|"
    r"(?:Nursing\s+and\s+)?Rehabilitation\s+(?:Cent(?:er|re)|Hospital|Institute)|Rehab\s+Center|Care\s+Cent(?:er|re)|"
    r"Cancer\s+(?:Cent(?:er|re)|Institute)|Heart\s+Institute|Imaging\s+(?:Cent(?:er|re)|Associates|Group)|"
    r"Radiology\s+(?:Associates|Group|Partners|Cent(?:er|re))|Diagnostic\s+(?:Cent(?:er|re)|Imaging)|"
    r"Surg(?:ery|ical)\s+Cent(?:er|re)|Urgent\s+Care|Medical\s+(?:Associates|Group|Clinic|Practice)|"
    r"Physicians(?:\s+Group)?|Family\s+(?:Practice|Medicine)|Skilled\s+Nursing(?:\s+Facility)?|"
    r"Assisted\s+Living|Senior\s+Living|Long[\s\-]Term\s+Care|Dialysis\s+Cent(?:er|re)|Medical\s+College|"
    r"School\s+of\s+Medicine|VA\s+Medical\s+Cent(?:er|re))"
)
_FACILITY_WORD = r"(?:\p{Lu}[\p{L}'\u2019.\-]*|&)"
_GENERIC_FACILITY_WORDS = frozenset(
    fold(w)
    for w in (
        "Memorial General Community Regional University Children's Childrens County Municipal Veterans "
        "Teaching Methodist Baptist Presbyterian Lutheran Adventist Catholic Jewish Family Cancer Imaging "
        "Medical Health Nursing Rehabilitation Radiology Surgical Surgery Urgent Skilled Care Center Centre "
        "Hospital Clinic St St. Saint Mount Mt Mt. Our Lady of the and & University Univ Univ. Outside "
        "Affiliated Associated United National State City Valley Area District Main Central New Old "
        "North South East West Port Fort Lake"
    ).split()
)


class FacilityRecognizer(RuleRecognizer):
    """Hospitals, clinics, imaging centres, nursing homes: capitalised words ending in a
    facility head ("Hospital", "Medical Center", "Nursing and Rehabilitation Center", ...), with
    "St."/"Saint"/"University of" forms. At least one word must be distinctive (not generic like
    "Community", "General", nor clinical vocabulary): "Outside Hospital" is not a facility name."""

    ENTITY = FACILITY
    RULES = (
        Rule(
            "named_facility",
            rf"(?<![\w])(?P<v>(?:{_FACILITY_WORD}(?:[ \t]+(?:of|and|the|de|del|la)(?=[ \t]+\p{{Lu}}))?[ \t\-]+){{1,6}}{_FACILITY_HEAD})(?![\w])",
            0.85,
        ),
    )

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts)
        out = []
        for r in results:
            start = r.start
            # Drop leading words that are clinical/common vocabulary ("Transferred", "Chest").
            for w in _WORD_RX.finditer(text, r.start, r.end):
                if fold(w.group()) in _GENERIC_FACILITY_WORDS or not is_lexical(w.group().rstrip(".")):
                    break
                start = w.end()
            while start < r.end and text[start] in " \t-":
                start += 1
            words = [w.group().rstrip(".") for w in _WORD_RX.finditer(text, start, r.end)]
            if not any(fold(w) not in _GENERIC_FACILITY_WORDS and not is_lexical(w) for w in words):
                continue
            r.start = start
            out.append(r)
        return out


# -- person names -----------------------------------------------------------------------------------

_NAME_TOKEN_RX = re.compile(r"\p{L}[\p{L}'\u2019]*(?:-\p{L}[\p{L}'\u2019]*)*")
_PARTICLES = frozenset({"van", "von", "de", "der", "den", "da", "di", "du", "del", "della", "la", "le", "bin", "ibn", "al", "el", "ter", "ten", "dos", "das"})


def _is_name_like(word: str, *, upper_ok: bool = True) -> bool:
    if not word[:1].isupper():
        return False
    if not upper_ok and len(word) > 1 and word.isupper():
        return False
    return not is_lexical(word)


def scan_name(text: str, pos: int, *, max_tokens: int = 5, allow_comma: bool = True) -> tuple[int, int] | None:
    """The span of a person name starting at `pos` (after optional blanks): capitalised non-
    lexical words, initials ("J." or "J" between words), name particles ("van der"), PN carets
    and one "Last, First" comma. None when the first word is not name-like."""
    n = len(text)
    i = pos
    while i < n and text[i] in " \t":
        i += 1
    if i < n and text[i] == "\n" and text[pos:i].strip() == "":
        i += 1
        while i < n and text[i] in " \t":
            i += 1
    start = i
    end = -1
    tokens = 0
    used_comma = False
    after_initial = False
    while tokens < max_tokens and i < n:
        m = _NAME_TOKEN_RX.match(text, i)
        if not m:
            break
        word = m.group()
        w_end = m.end()
        if len(word) == 1 and word.isupper():
            # An initial counts only between/after name words.
            if w_end < n and text[w_end] == ".":
                w_end += 1
            if end >= 0:
                end = w_end
        elif word.lower() in _PARTICLES and end >= 0:
            pass
        elif _is_name_like(word):
            end = w_end
        elif end >= 0 and after_initial and word[:1].isupper() and fold(word) not in _stop_words():
            end = w_end  # "Francis P. Day": a capitalised word after a middle initial is a surname
        else:
            break
        after_initial = len(word) == 1
        tokens += 1
        # Separator to the next word.
        j = w_end
        sep = ""
        while j < n and text[j] in " \t^,":
            sep += text[j]
            j += 1
        if not sep or len(sep) > 3:
            break
        if "," in sep:
            if not allow_comma or used_comma or sep.count(",") > 1:
                break
            nxt = _NAME_TOKEN_RX.match(text, j)
            if not nxt or len(nxt.group()) < 2 or not _is_name_like(nxt.group()) or _CREDENTIAL_RX.match(text, j):
                break
            used_comma = True
        i = j
    if end < 0:
        return None
    return (start, end)


def scan_name_backward(text: str, end: int, *, max_tokens: int = 4) -> tuple[int, int] | None:
    """The span of a person name ending at `end` (before optional blanks/comma): up to
    `max_tokens` name-like words (initials allowed inside), scanning leftwards."""
    j = end
    while j > 0 and text[j - 1] in " \t,":
        j -= 1
    stop = j
    words = list(_NAME_TOKEN_RX.finditer(text[max(0, j - 120) : j]))
    offset = max(0, j - 120)
    start = -1
    count = 0
    cursor = j
    for m in reversed(words):
        s, e = m.start() + offset, m.end() + offset
        gap = text[e:cursor]
        if cursor != j and (len(gap) > 3 or not _stdre.fullmatch(r"[ \t^]*\.?[ \t^]*|,[ \t]?", gap)):
            break
        if cursor == j and gap.strip(". "):
            break
        word = m.group()
        if len(word) == 1 and word.isupper():
            # A middle initial at the end ("Doe, Ruth D") waits for a name word before it; one
            # before the name words ("J. Doe") is part of the name.
            if start >= 0:
                start = s
        elif word.lower() in _PARTICLES and start >= 0:
            pass
        elif not _is_name_like(word):
            break
        else:
            start = s
        count += 1
        cursor = s
        if count >= max_tokens:
            break
    if start < 0:
        return None
    return (start, stop)


_TITLE = r"(?:Dr|Drs|Doctor|Mr|Mrs|Ms|Mss|Miss|Mx|Prof|Professor|Sister|Nurse|Rev|Dame|Sir|Madam|Mme|Mlle|Sra|Sr)\b\.?"
#: Titles in their usual spelling: the word after them is a surname even when it is also an
#: ordinary or clinical word ("Dr. Small", "Mrs. Post").
_PROPER_TITLES = frozenset({"Dr", "Dr.", "Drs", "Drs.", "Doctor", "Mr", "Mr.", "Mrs", "Mrs.", "Ms", "Ms.", "Miss", "Prof", "Prof.", "Professor"})
_RELATION = (
    r"(?:wife|husband|spouse|partner|son|daughter|mother|father|mom|dad|sister|brother|sibling|niece|nephew|"
    r"grandson|granddaughter|grandmother|grandfather|aunt|uncle|cousin|friend|neighbou?r|caregiver|"
    r"guardian|poa|proxy|boyfriend|girlfriend|fianc[eé]e?|roommate|stepson|stepdaughter|child|children)"
)
_ROLE = (
    r"(?:patient|pt|patient\s+name|pt\s+name|name|patient's\s+name|client|resident|attending|"
    r"radiologist|resident\s+physician|fellow|physician|provider|pcp|primary\s+care(?:\s+physician)?|surgeon|"
    r"oncologist|cardiologist|pulmonologist|hospitalist|intensivist|consultant|technologist|technician|tech|"
    r"sonographer|nurse|rn|np|pa|midwife|therapist|pharmacist|dictator|transcriptionist|author|reader|"
    r"referring(?:\s+(?:physician|provider|doctor|md))?|ordering(?:\s+(?:physician|provider|doctor|md))?|"
    r"requesting(?:\s+(?:physician|provider|doctor|md))?|reading(?:\s+(?:physician|radiologist))?|"
    r"performing(?:\s+(?:physician|technologist))?|operator|scribe|contact|emergency\s+contact|"
    r"next\s+of\s+kin|nok|interpreter|chaperone|witness|mr|mrs|signed|electronically\s+signed|co-?signed|"
    r"dictated|transcribed|read|reviewed|verified|approved|attested|reported|interpreted|seen)"
)
#: Context words before a name, with their kind:
#:   title  - "Dr."/"Mrs." (a proper-case title accepts any capitalised non-stop word; lower-case
#:            "dr smith" is accepted when the name model agrees),
#:   strong - the words after are a name when they look like one (capitalised, not vocabulary),
#:   label  - like strong, and lower-case words are accepted when the name model agrees,
#:   weak   - plain prepositions and the like: the name model must agree.
_BEFORE_CONTEXTS: tuple[tuple[str, str], ...] = (
    (rf"(?i:\b{_TITLE})", "title"),
    (r"(?i:\b(?:electronically\s+)?(?:signed|co-?signed|dictated|transcribed|reviewed|read|interpreted|reported|verified|"
     r"approved|attested|authenticated|finali[sz]ed|performed|ordered|referred|requested|seen|evaluated|examined|"
     r"assessed|consulted|accepted|admitted|discharged|covered|treated|followed|managed|operated|scanned|"
     r"acquired|obtained|completed|prepared)\s+(?:on\s+\S+\s+)?by\b:?)", "strong"),
    (r"(?i:\b(?:discussed|communicated|conveyed|relayed|reviewed|spoke|spoken|talked|consulted|conferred|"
     r"met|reported|explained|shared|sent|faxed|e-?mailed|given|handed\s+off|signed\s+out)"
     r"(?:\s+(?:the|these|this|those|our|my|all|critical|urgent|preliminary|final|above|results?|findings?|"
     r"images?|studies|study|case|report|recommendations?|by\s+telephone|by\s+phone|in\s+person|directly|verbally|"
     r"telephonically)){0,4}\s+(?:with|to)\b)", "strong"),
    (r"(?i:\b(?:d/w|c/w|cc|c\.c\.|attn|attention|per|fao|paged|called|notified|informed|contacted|texted|"
     r"messaged|alerted|updated|told)\b\.?:?)", "strong"),
    (r"(?i:\b(?:critical\s+(?:result|finding)s?|results?|findings?)\s+(?:were\s+|was\s+)?(?:called|given|phoned|"
     r"telephoned|paged|communicated|conveyed|relayed)\s+(?:in\s+)?(?:to|by)\b)", "strong"),
    (rf"(?i:\b{_ROLE}\b\s*[:#\-]\s*)", "label"),
    (r"(?i:\b(?:his|her|their|the\s+patient's|patient's|pt's|the|ordering|referring|requesting|attending|covering|"
     r"primary|treating)\s+(?:physician|doctor|provider|pcp|surgeon|oncologist|cardiologist|pulmonologist|"
     r"nurse|nurse\s+practitioner|np|pa|rn|md|hospitalist|intensivist|radiologist|resident|fellow|consultant|"
     r"therapist|team\s+lead)\b\s*[,:\-]?\s*)", "strong"),
    (rf"(?i:\b(?:his|her|their|the\s+patient's|patient's|pt's|pt|patient|with|by)\s+{_RELATION}\b,?\s*(?::\s*)?)", "strong"),
    (rf"(?i:\b{_RELATION}\b\s*[,:]\s*)", "weak"),
    (rf"(?i:\b{_RELATION}\s+)", "weak"),
    (r"(?i:\b(?:patient|pt\.?|client)\s+)", "weak"),
    (r"(?i:\b(?:with|to|by|from|and|for|cc|via|thanks|thank\s+you)\s+)", "weak"),
    (r"(?i:\b(?:case\s+)?(?:reviewed|discussed|seen|staffed)\s+with\s+)", "strong"),
)
_CREDENTIAL = (
    r"(?:M\.?D\.?|D\.?O\.?|R\.?N\.?|N\.?P\.?|P\.?A\.?-?C|Ph\.?D\.?|M\.?B\.?B\.?S\.?|FRCR|FRCPC|FACR|DNP|CRNA|APRN|"
    r"PharmD|RT(?:\s?\(R\))?|RRT|RDMS|CNM|LPN|MSN|BSN|FNP|FNP-BC|AGNP|DPM|DDS|DMD|MPH|MS|MSc)"
)
_CREDENTIAL_RX = re.compile(_CREDENTIAL + r"(?![\w])")
#: Context after a name: (pattern anchored at the text right after the name, kind "strong"/"weak").
_AFTER_CONTEXTS: tuple[tuple[str, str], ...] = (
    (rf",?\s*{_CREDENTIAL}(?![\w])", "strong"),
    (r"\s+(?:was|were|has\s+been|have\s+been|is|had\s+been)\s+(?:notified|informed|called|paged|contacted|"
     r"made\s+aware|aware|updated|present|consulted|told|advised)\b", "strong"),
    (rf"\s*[,(]\s*(?:the\s+)?(?:patient's\s+|pt's\s+)?{_RELATION}\b", "strong"),
    (r"\s*[,(]\s*(?:RN|NP|PA|MD|DO|the\s+patient's\s+nurse|ICU\s+fellow|covering\s+resident|attending|"
     r"resident|fellow|cardiology|pulmonology|surgery|oncology)\b", "strong"),
    (r"\s+(?:agrees|agreed|acknowledged|acknowledges|will|would|reviewed|requested|requests|confirmed|"
     r"confirms|stated|states|reports|called|paged|verbalized|understands|understood|consents|consented|"
     r"declined|declines|recommends|recommended|ordered|signed|dictated|at\s+bedside|at\s+the\s+bedside|"
     r"by\s+phone|can\s+be\s+reached|is\s+a|was\s+a|presents|presented)\b", "weak"),
)
_LOWER_WORD_RX = re.compile(r"\p{Ll}[\p{Ll}'\u2019]*(?:-\p{Ll}[\p{Ll}'\u2019]*)*")


def followed_by_head_noun(text: str, end: int) -> bool:
    """True when the word after `end` (skipping a possessive "'s" and one capital letter, as in
    "Crohn's disease", "Kerley B lines", "Golden S sign") makes the words before it an eponym
    or a named thing that is not a person."""
    m = re.match(r"(?:['\u2019]s?)?[ \t]+(?:\p{Lu}\.?[ \t]+)?(\p{L}[\p{L}\-]*)", text[end : end + 60])
    return bool(m and _is_head_noun(m.group(1)))


def scan_lower_name(text: str, pos: int, *, max_tokens: int = 3) -> tuple[int, int] | None:
    """A lower-case name at `pos` ("dr smith", "pt: doe, jane"): non-lexical lower-case words
    separated by a blank or one comma."""
    i = _skip_blanks(text, pos)
    start, end, tokens, used_comma = i, -1, 0, False
    while tokens < max_tokens:
        m = _LOWER_WORD_RX.match(text, i)
        if not m or len(m.group()) < 2 or is_lexical(m.group()):
            break
        end = m.end()
        tokens += 1
        sep = re.match(r",?[ \t]", text[end : end + 2])
        if not sep:
            break
        if "," in sep.group():
            if used_comma:
                break
            used_comma = True
        i = end + len(sep.group())
    return (start, end) if end > 0 else None


class PersonContextRecognizer(EntityRecognizer):
    """Person names next to a context: titles ("Dr.", "Mrs."), signatures ("signed by",
    "dictated by"), communication ("discussed with", "called to", "paged"), roles ("PCP:",
    "Technologist:"), relatives ("his daughter X"), credentials after the name ("X, MD"), and
    verbs after it ("X was notified"). Weak contexts (plain prepositions, "patient X") need the
    name model to agree that the words look like a name; so do lower-case names."""

    def __init__(self, model: NameModel | None, *, weak_threshold: float = 0.5) -> None:
        self._model = model
        self._weak = weak_threshold
        self._before = [(re.compile(p), kind) for p, kind in _BEFORE_CONTEXTS]
        self._after = [(re.compile(p), kind) for p, kind in _AFTER_CONTEXTS]
        super().__init__(supported_entities=[PERSON])

    def load(self) -> None:  # noqa: D102
        pass

    def _support(self, text: str, start: int, end: int) -> float:
        """How much the name model believes in the words of [start, end): the best word of a
        multi-word name, the word itself for a single word."""
        words = [m.group() for m in _NAME_TOKEN_RX.finditer(text, start, end) if len(m.group()) > 1]
        if not words:
            return 0.0
        if self._model is None:
            return 1.0 if len(words) >= 2 else 0.0
        p = self._model.probabilities(words)
        return float(p.max()) if len(words) >= 2 else float(p[0])

    def _before_span(self, text: str, m: re.Match[str], kind: str) -> tuple[int, int, float] | None:
        span = scan_name(text, m.end())
        if kind == "title" and span is None and m.group().strip() in _PROPER_TITLES:
            w = _NAME_TOKEN_RX.match(text, _skip_blanks(text, m.end()))
            if w and w.group()[:1].isupper() and fold(w.group()) not in _stop_words():
                span = w.span()
        if span is not None:
            s, e = span
            if followed_by_head_noun(text, e):
                return None
            if kind == "weak":
                support = self._support(text, s, e)
                return (s, e, 0.55 + 0.4 * support) if support >= self._weak else None
            return s, e, 0.9
        if kind in ("title", "label"):
            low = scan_lower_name(text, m.end())
            if low is not None and self._support(text, *low) >= self._weak:
                return low[0], low[1], 0.75
        return None

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        if PERSON not in entities:
            return []
        out: list[RecognizerResult] = []
        for rx, kind in self._before:
            for m in rx.finditer(text):
                found = self._before_span(text, m, kind)
                if found is not None:
                    out.append(_result(self, PERSON, *found))
        ends = list(_candidate_ends(text))
        for rx, kind in self._after:
            for end in ends:
                if not rx.match(text, end):
                    continue
                span = scan_name_backward(text, end)
                if span is None:
                    continue
                s, e = span
                if kind == "weak":
                    support = self._support(text, s, e)
                    words = [w for w in _NAME_TOKEN_RX.finditer(text, s, e) if len(w.group()) > 1]
                    if support < self._weak or len(words) < 2:
                        continue
                    out.append(_result(self, PERSON, s, e, 0.55 + 0.4 * support))
                else:
                    out.append(_result(self, PERSON, s, e, 0.9))
        return out


def _skip_blanks(text: str, i: int) -> int:
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


def _candidate_ends(text: str) -> Iterator[int]:
    """Ends of capitalised words (where an after-name context may start)."""
    for m in _NAME_TOKEN_RX.finditer(text):
        if m.group()[:1].isupper():
            yield m.end()


class NameModelRecognizer(EntityRecognizer):
    """Names without any context: runs of capitalised, non-lexical words scored by the
    character n-gram model. Two or more words need a mean probability >= `multi_threshold`;
    one word alone needs `single_threshold` (higher at a sentence start). A run followed by an
    eponym head noun ("X syndrome") is skipped. In upper-case text every word is a candidate."""

    def __init__(self, model: NameModel, *, single_threshold: float, multi_threshold: float, initial_threshold: float) -> None:
        self._model = model
        self._single = single_threshold
        self._multi = multi_threshold
        self._initial = initial_threshold
        super().__init__(supported_entities=[PERSON])

    def load(self) -> None:  # noqa: D102
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        if PERSON not in entities:
            return []
        out: list[RecognizerResult] = []
        for run in _capitalised_runs(text):
            words = [text[s:e] for s, e in run.words]
            p = self._model.probabilities(words)
            s, e = run.words[0][0], run.words[-1][1]
            if followed_by_head_noun(text, e):
                continue
            if len(words) >= 2:
                score = float(p.mean())
                if score >= self._multi:
                    out.append(_result(self, PERSON, s, e, 0.5 + 0.45 * score))
            else:
                threshold = self._initial if run.sentence_start else self._single
                if float(p[0]) >= threshold:
                    out.append(_result(self, PERSON, s, e, 0.5 + 0.45 * float(p[0])))
        return out


@dataclass(frozen=True)
class _Run:
    words: tuple[tuple[int, int], ...]
    sentence_start: bool


def _line_is_upper(line: str) -> bool:
    letters = [c for c in line if c.isalpha()]
    return len(letters) >= 4 and sum(c.isupper() for c in letters) >= 0.8 * len(letters)


_RUN_GAP = re.compile(r"[ \t]{1,2}|\^|,[ \t]?|[ \t]+\p{Lu}\.?[ \t]+")


def _capitalised_runs(text: str) -> Iterator[_Run]:
    """Maximal runs of candidate name words separated by a blank, a caret, a comma or an
    initial, within one line."""
    offset = 0
    for line in text.splitlines(keepends=True):
        upper_line = _line_is_upper(line)
        current: list[tuple[int, int]] = []
        sentence_start = False
        last_end = -1
        for m in _NAME_TOKEN_RX.finditer(line):
            word = m.group()
            s, e = m.start() + offset, m.end() + offset
            candidate = (
                len(word) >= 2
                and word[:1].isupper()
                and (upper_line or not (word.isupper() and len(word) <= 3))
                and not is_lexical(word)
            )
            gap = text[last_end:s] if last_end >= 0 else None
            joinable = gap is not None and bool(_RUN_GAP.fullmatch(gap))
            if candidate and current and joinable:
                current.append((s, e))
            elif candidate:
                if current:
                    yield _Run(tuple(current), sentence_start)
                current = [(s, e)]
                before = text[max(0, s - 3) : s].rstrip(" \t")
                sentence_start = (not before) or before[-1] in ".!?:;\n|" or s == offset
            else:
                if current:
                    yield _Run(tuple(current), sentence_start)
                current = []
            last_end = e
        if current:
            yield _Run(tuple(current), sentence_start)
        offset += len(line)


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
                raise TextRedactionError(f"context: unknown DICOM keyword {key!r}")
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
            for elem in d:
                if elem.VR == "SQ":
                    for item in elem.value or ():
                        walk(item)
                    continue
                etype = HEADER_FIELDS.get(elem.keyword)
                if etype is None or elem.value is None or elem.value == "":
                    continue
                raw = elem.value
                items = list(raw) if (not isinstance(raw, (str, bytes)) and hasattr(raw, "__iter__")) else [raw]
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


def _flex(phrase: str) -> str:
    """Regex for `phrase` with any run of blanks/punctuation between its words."""
    words = [w for w in re.split(r"[\s,^]+", phrase) if w]
    return r"[\s,.\-^]*".join(re.escape(w.rstrip(".")) + r"\.?" for w in words)


def _bounded(body: str) -> str:
    return rf"(?<![\p{{L}}\p{{N}}])(?:{body})(?![\p{{L}}\p{{N}}])"


def _name_patterns(value: str) -> list[tuple[str, bool]]:
    """(regex, case_sensitive) for every written form of one PN or plain name."""
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
            full_forms += [f"{given} {middle} {family}", f"{given} {mi} {family}", f"{family} {given} {middle}", f"{family} {given} {mi}", f"{gi} {mi} {family}"]
    for form in full_forms:
        out.append((_bounded(_flex(form)), False))
    # Every part alone; parts that are also words must keep their capital letter.
    parts: list[str] = []
    for p in (family, given, middle):
        for sub in [p, *re.split(r"[\s\-]+", p)]:
            sub = sub.strip(" .")
            if len(sub) >= 2 and sub not in parts:
                parts.append(sub)
    for p in parts:
        common = is_lexical(p) or len(p) <= 2
        if common:
            title, upper = p[:1].upper() + p[1:].lower(), p.upper()
            out.append((_bounded(f"{re.escape(title)}|{re.escape(upper)}"), True))
        else:
            out.append((_bounded(re.escape(p).replace(r"\-", r"[\-\s]?")), False))
    # Dotted initials "J.D." / "J. A. D." (undotted ones are too often abbreviations).
    letters = [x[0] for x in (given, middle, family) if x]
    if len(letters) >= 2:
        out.append((_bounded(r"\.?\s?".join(re.escape(c) for c in letters) + r"\."), True))
    return out


def _id_patterns(value: str) -> list[str]:
    chars = [c for c in value if c.isalnum()]
    if len(chars) < 3:
        return []
    pats = [_bounded(r"[\s\-./]?".join(re.escape(c) for c in chars))]
    digits = "".join(c for c in chars if c.isdigit())
    core = digits.lstrip("0")
    if len(core) >= 5 and core != "".join(chars):
        pats.append(rf"(?<![\p{{N}}])0*{re.escape(core)}(?![\p{{N}}])")
    return pats


def _date_patterns(value: str) -> list[str]:
    m = _stdre.fullmatch(r"(\d{4})(\d{2})(\d{2})", value.replace("-", "").replace(".", "").strip()[:8])
    if not m:
        return []
    try:
        d = date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
    except ValueError:
        return []
    y4, y2 = f"{d.year}", f"{d.year % 100:02d}"
    mo, dy = rf"0?{d.month}", rf"0?{d.day}"
    names = "|".join(sorted({n for n in _MONTH_NAMES[d.month - 1]} | {n.upper() for n in _MONTH_NAMES[d.month - 1]}, key=len, reverse=True))
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
        rf"{mo}/{dy}(?![/\d])",
    ]
    return [rf"(?<![\w/.\-])(?:{f})(?![\w]|[/.\-]\d)" for f in forms]


def _phone_patterns(value: str) -> list[str]:
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


def _address_patterns(value: str) -> list[tuple[str, str]]:
    out: list[tuple[str, str]] = []
    for part in re.split(r"[,\n^;]+", value):
        part = part.strip()
        if len(part) < 3:
            continue
        for z in re.findall(r"\b\d{5}(?:-\d{4})?\b", part):
            out.append((ADDRESS, rf"(?<!\d){re.escape(z)}(?![\d])"))
        words = part.split()
        if words and words[-1] in _US_STATES:
            words = words[:-1]
        words = [w for w in words if not _stdre.fullmatch(r"\d{5}(?:-\d{4})?", w)]
        if not words or all(w.upper() in _US_STATES or re.fullmatch(_US_STATE_NAMES, w) for w in words):
            continue
        phrase = " ".join(words)
        if len(phrase) < 3 or all(is_lexical(w) for w in words if not w.isdigit()):
            continue
        etype = ADDRESS if any(ch.isdigit() for ch in phrase) else LOCATION
        out.append((etype, _bounded(_flex(phrase))))
        if etype == ADDRESS and words[0].isdigit() and len(words) >= 3:
            out.append((ADDRESS, _bounded(_flex(" ".join(words[1:])))))
    return out


def _facility_patterns(value: str) -> list[str]:
    pats = [_bounded(_flex(value))]
    saint = re.sub(r"\bSt\.?\s", "Saint ", value)
    if saint != value:
        pats.append(_bounded(_flex(saint)))
    words = value.split()
    distinctive = [w for w in words if fold(w) not in _GENERIC_FACILITY_WORDS and not is_lexical(w.rstrip("."))]
    head = re.search(_FACILITY_HEAD, value)
    if head and head.start() > 0:
        stem = value[: head.start()].strip(" ,-")
        stem_words = stem.split()
        if stem_words and (len(stem_words) >= 2 or (len(stem) >= 5 and distinctive)):
            pats.append(_bounded(_flex(stem)))
    for w in distinctive:
        if len(w) >= 5:
            pats.append(_bounded(re.escape(w)))
    return pats


class StudyDenyListRecognizer(EntityRecognizer):
    """The per-study deny-list (built from a `StudyContext`); score 1.0. Adjacent matches of
    the same person's name parts are merged into one span."""

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
                patterns += [(t, re.compile(p, re.IGNORECASE)) for t, p in _address_patterns(value)]
            elif etype == FACILITY:
                patterns += [(FACILITY, re.compile(p, re.IGNORECASE)) for p in _facility_patterns(value)]
            elif etype == EMAIL:
                for e in re.findall(r"[\w.+\-]+@[\w\-.]+\w", value):
                    patterns.append((EMAIL, re.compile(re.escape(e), re.IGNORECASE)))
            elif etype == LOCATION:
                patterns.append((LOCATION, re.compile(_bounded(_flex(value)), re.IGNORECASE)))
        self._patterns = patterns
        super().__init__(supported_entities=sorted({t for t, _ in patterns} or {PERSON}), name="StudyDenyList")

    def load(self) -> None:  # noqa: D102
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        spans: list[tuple[str, int, int]] = []
        for etype, rx in self._patterns:
            if etype not in entities:
                continue
            spans += [(etype, m.start(), m.end()) for m in rx.finditer(text) if m.end() > m.start()]
        spans.sort(key=lambda t: (t[1], -t[2]))
        merged: list[list[Any]] = []
        for etype, s, e in spans:
            if merged and merged[-1][0] == etype and (
                s <= merged[-1][2]
                or (etype == PERSON and _stdre.fullmatch(r"[\s,^.]{1,3}", text[merged[-1][2] : s]))
            ):
                merged[-1][2] = max(merged[-1][2], e)
            else:
                merged.append([etype, s, e])
        return [_result(self, t, s, e, 1.0) for t, s, e in merged]


@lru_cache(maxsize=64)
def _deny_recognizer(context: StudyContext) -> StudyDenyListRecognizer:
    return StudyDenyListRecognizer(context)


# -- the redactor -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextRedactorSettings:
    """How the redactor decides and what it writes.

    placeholder: format of the replacement, "{type}" is the entity type ("[PERSON]").
    placeholders: per-type overrides of the replacement ({"DATE": "[**DATE**]"}).
    entities: the entity types to detect (a subset of DEFAULT_ENTITIES).
    score_threshold: minimum score of a detection.
    use_name_model: run the context-free name model (the context rules use it either way when
        it is loaded, to confirm weak contexts).
    name_single_threshold / name_sentence_start_threshold / name_multi_threshold: name-model
        probabilities needed for one word mid-sentence, one word at a sentence start, and the
        mean over a run of two or more words.
    """

    placeholder: str = "[{type}]"
    placeholders: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    entities: tuple[str, ...] = DEFAULT_ENTITIES
    score_threshold: float = 0.5
    use_name_model: bool = True
    name_single_threshold: float = 0.85
    name_sentence_start_threshold: float = 0.95
    name_multi_threshold: float = 0.6
    context_weak_threshold: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.placeholder, str) or "{type}" not in self.placeholder and "{" in self.placeholder:
            raise TextRedactionError("placeholder must be a string; '{type}' is its only field")
        unknown = [e for e in self.entities if e not in DEFAULT_ENTITIES]
        if unknown or not self.entities:
            raise TextRedactionError(f"entities must be a non-empty subset of {DEFAULT_ENTITIES}")
        for k, v in dict(self.placeholders).items():
            if k not in DEFAULT_ENTITIES or not isinstance(v, str):
                raise TextRedactionError("placeholders maps entity types to strings")
        for name in ("score_threshold", "name_single_threshold", "name_sentence_start_threshold", "name_multi_threshold", "context_weak_threshold"):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise TextRedactionError(f"{name} must be within [0, 1]")
        object.__setattr__(self, "placeholders", MappingProxyType(dict(self.placeholders)))
        object.__setattr__(self, "entities", tuple(self.entities))

    def replacement(self, entity_type: str) -> str:
        return self.placeholders.get(entity_type) or self.placeholder.replace("{type}", entity_type)


def default_recognizers(model: NameModel | None, settings: TextRedactorSettings) -> list[EntityRecognizer]:
    """The recognizers of the registry (the study deny-list is added per call)."""
    recs: list[EntityRecognizer] = [
        MrnRecognizer(),
        AccessionRecognizer(),
        IdentifierRecognizer(),
        SsnRecognizer(),
        PhoneRecognizer(),
        EmailRecognizer(),
        UrlRecognizer(),
        IpAddressRecognizer(),
        DateRecognizer(),
        AgeOver89Recognizer(),
        StreetAddressRecognizer(),
        LocationContextRecognizer(),
        FacilityRecognizer(),
        PersonContextRecognizer(model, weak_threshold=settings.context_weak_threshold),
    ]
    if model is not None and settings.use_name_model:
        recs.append(
            NameModelRecognizer(
                model,
                single_threshold=settings.name_single_threshold,
                multi_threshold=settings.name_multi_threshold,
                initial_threshold=settings.name_sentence_start_threshold,
            )
        )
    return recs


class LocationContextRecognizer(EntityRecognizer):
    """City and town names after residence words ("lives in X", "resident of X", "moved from
    X", "Hospital in X"): capitalised non-clinical words."""

    _CONTEXT = re.compile(
        r"(?i:\b(?:lives|living|lived|resides|residing|resident|residence|moved|relocated|travell?ed|traveling|"
        r"visiting|born|native|home|hometown|city|town|village|county|township|originally|raised|grew\s+up|"
        r"emigrated|immigrated|vacation(?:ing|ed)?|trip|travel|flew|drove)\b(?:\s+(?:in|at|to|from|of|near))?"
        r"(?:\s+a\s+(?:trip|visit|vacation)\s+(?:to|in))?\s+"
        r"|\b(?:hospital|center|centre|clinic|facility|home|house|system|associates|care|group|institute)\s+in\s+)"
    )

    def __init__(self) -> None:
        super().__init__(supported_entities=[LOCATION])

    def load(self) -> None:  # noqa: D102
        pass

    def analyze(self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None) -> list[RecognizerResult]:
        if LOCATION not in entities:
            return []
        out = []
        for m in self._CONTEXT.finditer(text):
            span = scan_place(text, m.end())
            if span:
                out.append(_result(self, LOCATION, span[0], span[1], 0.75))
        return out


def scan_place(text: str, pos: int, *, max_tokens: int = 4) -> tuple[int, int] | None:
    """The span of a place name at `pos`: optional prefixes ("North", "Port", "St."), then
    capitalised non-clinical words."""
    i = _skip_blanks(text, pos)
    start, end, tokens = i, -1, 0
    while tokens < max_tokens:
        m = _NAME_TOKEN_RX.match(text, i)
        if not m or not m.group()[:1].isupper():
            break
        word = m.group()
        w_end = m.end() + (1 if text[m.end() : m.end() + 1] == "." and len(word) <= 3 else 0)
        if fold(word) in _PLACE_PREFIXES and end < 0:
            pass
        elif _is_name_like(word) or (end > 0 and fold(word) in _PLACE_SUFFIXES):
            end = w_end
        else:
            break
        tokens += 1
        j = w_end
        if not (j < len(text) and text[j] in " \t") or text[j + 1 : j + 2] in ("", "\n"):
            break
        i = j + 1
    return (start, end) if end > 0 else None


class TextRedactor:
    """Finds and replaces PHI in free text. Build once and reuse (building loads Presidio).

    model: the name model; None loads the shipped one (textdata/name_model.npz).
    """

    def __init__(self, settings: TextRedactorSettings | None = None, *, model: NameModel | None = None) -> None:
        self.settings = settings or TextRedactorSettings()
        self._model = model if model is not None else NameModel.load()
        self._recognizers = default_recognizers(self._model, self.settings)
        registry = RecognizerRegistry(recognizers=self._recognizers, supported_languages=[_LANG])
        self._engine = AnalyzerEngine(
            registry=registry,
            nlp_engine=BlankSpacyNlpEngine(),
            supported_languages=[_LANG],
            default_score_threshold=self.settings.score_threshold,
        )

    def analyze(self, text: str, context: StudyContext | None = None) -> list[Entity]:
        """Non-overlapping PHI entities of `text`, sorted by position. Overlapping detections are
        merged into one span typed by the highest-scoring detection."""
        if not isinstance(text, str):
            raise TextRedactionError("text must be a string")
        if context is not None and not isinstance(context, StudyContext):
            raise TextRedactionError("context must be a StudyContext")
        if not text.strip():
            return []
        ad_hoc = [_deny_recognizer(context)] if context else None
        results = self._engine.analyze(
            text=text,
            language=_LANG,
            entities=list(self.settings.entities),
            ad_hoc_recognizers=ad_hoc,
            score_threshold=self.settings.score_threshold,
        )
        return _merge(results)

    def redact(self, text: str, context: StudyContext | None = None) -> RedactedText:
        """`text` with every entity replaced by its placeholder (see TextRedactorSettings)."""
        entities = self.analyze(text, context)
        pieces: list[str] = []
        last = 0
        for ent in entities:
            pieces.append(text[last : ent.start])
            pieces.append(self.settings.replacement(ent.type))
            last = ent.end
        pieces.append(text[last:])
        return RedactedText("".join(pieces), tuple(entities))

    def text_cleaner(self, context: StudyContext | None = None) -> Callable[[str], str]:
        """A str -> str function for `Deidentifier(text_cleaner=...)`; pass the study's context
        (from the original dataset) so that header values are redacted wherever they appear."""

        def clean(value: str) -> str:
            return self.redact(value, context).text

        return clean


def _merge(results: Iterable[RecognizerResult]) -> list[Entity]:
    ordered = sorted(results, key=lambda r: (r.start, -r.end))
    clusters: list[list[RecognizerResult]] = []
    end = -1
    for r in ordered:
        if r.end <= r.start:
            continue
        if clusters and r.start < end:
            clusters[-1].append(r)
            end = max(end, r.end)
        else:
            clusters.append([r])
            end = r.end
    out = []
    for c in clusters:
        best = max(c, key=lambda r: (r.score, r.end - r.start))
        out.append(Entity(best.entity_type, min(r.start for r in c), max(r.end for r in c), float(best.score)))
    return out


# -- JSON lines ---------------------------------------------------------------------------------------


def redact_jsonl(lines: Iterable[str], redactor: TextRedactor) -> Iterator[str]:
    """Redact a stream of JSON lines, one output line per input line, in order.

    Input: {"text": "...", "context": {<DICOM keyword>: value, ...}?, "id": any?}. Output:
    {"text": <redacted>, "entities": [{"type", "start", "end", "score"}, ...]} with offsets into
    the ORIGINAL text (and "id" echoed when given), or {"error": "line N: <reason>"} for a line
    that cannot be processed (not JSON, not an object, no string "text", bad "context", empty
    line). Error messages never quote the input.
    """
    for number, raw in enumerate(lines, start=1):
        line = raw.strip() if isinstance(raw, str) else ""
        if not isinstance(raw, str):
            yield json.dumps({"error": f"line {number}: not text"})
            continue
        if not line:
            yield json.dumps({"error": f"line {number}: empty line"})
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            yield json.dumps({"error": f"line {number}: not JSON"})
            continue
        if not isinstance(obj, dict):
            yield json.dumps({"error": f"line {number}: expected a JSON object"})
            continue
        text = obj.get("text")
        if not isinstance(text, str):
            yield json.dumps({"error": f"line {number}: \"text\" must be a string"})
            continue
        context = None
        if obj.get("context") is not None:
            try:
                context = StudyContext.from_mapping(obj["context"])
            except TextRedactionError as exc:
                yield json.dumps({"error": f"line {number}: {exc}"})
                continue
        try:
            result = redactor.redact(text, context)
        except TextRedactionError as exc:
            yield json.dumps({"error": f"line {number}: {exc}"})
            continue
        out: dict[str, Any] = {"text": result.text, "entities": [e.to_dict() for e in result.entities]}
        if "id" in obj:
            out["id"] = obj["id"]
        yield json.dumps(out, ensure_ascii=False)


# Presidio logs recognizer names at INFO when it builds the registry; never text. Keep the
# library quiet unless the application asks for it.
logging.getLogger("presidio-analyzer").addHandler(logging.NullHandler())
