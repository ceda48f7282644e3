"""Vocabulary and rule recognizers of the free-text redactor (see deid/text/).

Every detector here is a small Presidio recognizer class: a table of regular expressions
(`Rule`) for one entity type, with an optional `accept` hook that vetoes or narrows a match.
Regexes use the `regex` module (Unicode classes, variable-length look-behind) and are
case-sensitive unless a group says `(?i:...)`. Also here: the clinical vocabulary that keeps
clinical words from being taken for names, and the blank spaCy NLP engine.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache, lru_cache
from importlib import resources
from typing import Any, ClassVar

import regex as re
from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

from deid.errors import DeidError
from deid.text.model import fold

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
    PERSON,
    DATE,
    AGE,
    MRN,
    ACCESSION,
    ID,
    SSN,
    PHONE,
    EMAIL,
    URL,
    IP_ADDRESS,
    ADDRESS,
    LOCATION,
    FACILITY,
)

#: The only language: clinical English.
LANG = "en"


class TextRedactionError(DeidError):
    """Bad input to the free-text redactor (never carries the text itself)."""


# -- vocabulary -----------------------------------------------------------------------------------


@lru_cache(maxsize=1)
def clinical_lexicon() -> frozenset[str]:
    """Folded words of data/clinical_lexicon.txt."""
    text = (
        resources.files("deid.text")
        .joinpath("data", "clinical_lexicon.txt")
        .read_text("utf-8")
    )
    return frozenset(
        fold(w) for w in (line.strip() for line in text.splitlines()) if w and not w.startswith("#")
    )


@lru_cache(maxsize=1)
def stop_words() -> frozenset[str]:
    """spaCy's English stop words plus the words of clinical texts that frame names."""
    from spacy.lang.en.stop_words import STOP_WORDS

    # Labels, titles, credentials, months and weekdays, relatives and address words: never a
    # name on their own, whatever the name model thinks.
    extra = [
        "name",
        "names",
        "md",
        "m.d",
        "dob",
        "mrn",
        "id",
        "acc",
        "ord",
        "tel",
        "fax",
        "phone",
        "pager",
        "ext",
        "email",
        "e-mail",
        "cell",
        "mobile",
        "home",
        "work",
        "dear",
        "hello",
        "hi",
        "thanks",
        "sincerely",
        "regards",
        "cc",
        "re",
        "subject",
        "date",
        "time",
        "age",
        "sex",
        "gender",
        "yo",
        "y/o",
        "tech",
        "rt",
        "rn",
        "np",
        "pa-c",
        "do",
        "phd",
        "dds",
        "mbbs",
        "frcr",
        "frcpc",
        "sr",
        "jr",
        "ii",
        "iii",
        "iv",
        "esq",
        "med",
        "rec",
        "acct",
        "loc",
        "dept",
        "attn",
        "st",
        "mt",
        "saint",
        "mount",
        "dr",
        "drs",
        "mr",
        "mrs",
        "ms",
        "miss",
        "mx",
        "prof",
        "professor",
        "doctor",
        "nurse",
        "monday",
        "tuesday",
        "wednesday",
        "thursday",
        "friday",
        "saturday",
        "sunday",
        "january",
        "february",
        "march",
        "september",
        "october",
        "november",
        "december",
        "feb",
        "mar",
        "apr",
        "jun",
        "jul",
        "aug",
        "sep",
        "sept",
        "oct",
        "nov",
        "dec",
        "street",
        "avenue",
        "road",
        "boulevard",
        "suite",
        "apt",
        "unit",
        "box",
        "wife",
        "husband",
        "spouse",
        "partner",
        "son",
        "daughter",
        "mother",
        "father",
        "mom",
        "dad",
        "sister",
        "brother",
        "sibling",
        "niece",
        "nephew",
        "grandson",
        "granddaughter",
        "grandmother",
        "grandfather",
        "aunt",
        "uncle",
        "cousin",
        "friend",
        "neighbor",
        "neighbour",
        "caregiver",
        "guardian",
        "questions",
        "question",
        "contact",
        "visit",
        "available",
        "regarding",
        "location",
    ]
    return frozenset(STOP_WORDS) | frozenset(extra)


def is_lexical(token: str) -> bool:
    """True when `token` is clinical vocabulary or a function word, i.e. never a name alone.
    A hyphenated token is lexical when it is listed whole or all of its parts are."""
    f = fold(token).strip("'-")
    if not f:
        return True
    lex, stop = clinical_lexicon(), stop_words()
    if f in lex or f in stop:
        return True
    parts = [p for p in f.split("-") if p]
    return len(parts) > 1 and all(p in lex or p in stop for p in parts)


#: Nouns that turn a preceding capitalised word into an eponym or a proper noun that is not a
#: person ("Hampton hump", "Jackson-Pratt drain", "Fleischner Society").
_HEAD_NOUNS = frozenset(
    (  # noqa: SIM905
        "sign signs syndrome syndromes disease diseases disorder phenomenon effect law reflex "
        "triad pentad test score scale scales criteria classification classifications grade "
        "grading stage staging type index ratio rule rules maneuver manoeuvre position positioning "
        "view views projection technique approach method procedure procedures operation repair "
        "resection esophagectomy fundoplication anastomosis shunt shunts circulation window flap "
        "bar bars catheter catheters tube tubes line lines drain drains sump valve valves filter "
        "filters stent stents device devices clip clips wire wires needle pump pumps port mask "
        "cannula inhaler fracture fractures lesion lesions tumor tumors tumour sarcoma lymphoma "
        "carcinoma cancer hernia malformation anomaly diverticulum esophagus hump body bodies cell "
        "cells node nodes canal duct ligament angle fistula pouch space spaces artery vein nerve "
        "pneumonia infection infections antigen bacteremia sepsis respirations respiration "
        "breathing tear tears tracheostomy pacemaker system society guidelines guideline protocol "
        "protocols curve murmur ulcer ulcers foramen gland glands fat pad area areas zone mutation "
        "gene aeruginosa pneumoniae aureus influenzae epidermidis pyogenes agalactiae coli "
        "fumigatus jirovecii avium kansasii catarrhalis maltophilia baumannii difficile albicans "
        "cloacae sheath sheaths introducer balloon graft grafts coil coils plug occluder electrode "
        "electrodes lead leads generator monitor dressing splint cast brace collar stocking "
        "stockings bag sling"
    ).split()
)
_HEAD_NOUN_SUFFIX = re.compile(r"(?:ectomy|otomy|ostomy|plasty|scopy|graphy|itis|osis|emia|oma)$")


def is_head_noun(word: str) -> bool:
    """True for a noun that makes a preceding capitalised word an eponym ("sign", "catheter",
    "-ectomy", "-itis", ...)."""
    w = fold(word)
    return w in _HEAD_NOUNS or bool(_HEAD_NOUN_SUFFIX.search(w) and w not in stop_words())


# -- NLP engine -----------------------------------------------------------------------------------


class BlankSpacyNlpEngine(SpacyNlpEngine):
    """Presidio NLP engine on spaCy's blank English pipeline: tokens and stop words, no NER and
    no model to load (so nothing can ever be downloaded). Lemmas are lower-cased tokens, which is
    all Presidio's context-word enhancer needs."""

    def __init__(self) -> None:
        super().__init__(models=[{"lang_code": LANG, "model_name": "blank:en"}])

    def load(self) -> None:
        import spacy

        self.nlp = {LANG: spacy.blank(LANG)}  # type: ignore[assignment]

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


# -- recognizer base ------------------------------------------------------------------------------


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


@cache
def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


def make_result(
    recognizer: EntityRecognizer, entity: str, start: int, end: int, score: float
) -> RecognizerResult:
    """A Presidio result tagged with its recognizer (the context enhancer needs both)."""
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        analysis_explanation=AnalysisExplanation(recognizer=str(recognizer.name), original_score=score),
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: str(recognizer.name),
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
        },
    )


class RuleRecognizer(EntityRecognizer):
    """A Presidio recognizer defined by a table of `Rule`s for one entity type.

    Subclasses set ENTITY and RULES and may override `accept` to veto a match (None) or to
    narrow its span and scale its score ((start, end, factor)). CONTEXT words feed Presidio's
    context enhancer: a result with one of them among the five preceding words gains 0.35, which
    is how rules scored below the redactor's threshold (0.5) become detections.
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

    def load(self) -> None:
        pass

    def accept(
        self, text: str, start: int, end: int, match: re.Match[str], rule: Rule
    ) -> tuple[int, int, float] | None:
        return start, end, 1.0

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
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
                        out.append(make_result(self, etype, s, e, rule.score * factor))
        return out


def _keeps_final_dot(text: str, start: int, end: int) -> bool:
    # "Mar." / "J." keep their dot; a sentence period after a number or word does not matter.
    return text[end - 1] == "." and end - start <= 4 and text[start : end - 1].isalpha()


# -- shared patterns ------------------------------------------------------------------------------

MONTH_NAMES = (
    ("January", "Jan"),
    ("February", "Feb"),
    ("March", "Mar"),
    ("April", "Apr"),
    ("May", "May"),
    ("June", "Jun"),
    ("July", "Jul"),
    ("August", "Aug"),
    ("September", "Sept", "Sep"),
    ("October", "Oct"),
    ("November", "Nov"),
    ("December", "Dec"),
)


def _month_alternation() -> str:
    forms: list[str] = []
    for names in MONTH_NAMES:
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

#: A word with an optional final dot ("Mar.", "St.").
WORD_RX = re.compile(r"\p{L}[\p{L}'\u2019]*(?:-\p{L}[\p{L}'\u2019]*)*\.?")


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
            r"(?i:\b(?:accession|acc|accn)\b\.?(?:\s*(?:number|no\.?|num|\#))?)\s*(?:[:\#=]\s*)?(?:\#\s*)?"
            + _ID_VALUE,
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
    international "+CC ..." numbers, short extensions/pagers after their label, and seven-digit
    local numbers near a phone word."""

    ENTITY = PHONE
    CONTEXT = (
        "phone",
        "telephone",
        "tel",
        "call",
        "callback",
        "cell",
        "mobile",
        "fax",
        "pager",
        "beeper",
        "contact",
        "reach",
        "reached",
        "number",
        "ext",
        "extension",
        "home",
        "work",
        "office",
    )
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
        # Seven digits alone ("596-9742") are a phone number only near a phone word (CONTEXT).
        Rule("local", r"(?<![\w+\-/.])(?P<v>\d{3}[\s.\-]\d{4})(?![\d\-/])", 0.3),
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
            r"(?i:\b(?:paged?|call(?:ed)?|reach(?:ed)?|contact(?:ed)?)\b(?:[^.\n]|(?<=\b\p{Lu})\.){0,60}?\bat\s+)(?P<v>\d{4,6})\b"
            r"(?!\s*(?i:hours?|hrs?|h\b|am\b|pm\b))",
            0.8,
        ),
    )


class EmailRecognizer(RuleRecognizer):
    """E-mail addresses (no domain lookups: Presidio's own recognizer calls tldextract)."""

    ENTITY = EMAIL
    RULES = (
        Rule(
            "address",
            r"(?<![\w.+\-])(?P<v>[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,24})\b",
            0.95,
        ),
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

    def accept(
        self, text: str, start: int, end: int, match: re.Match[str], rule: Rule
    ) -> tuple[int, int, float] | None:
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
        Rule(
            "numeric_mdy", rf"(?<![\w/.\-])(?P<v>{MM}([/.\-]){DAY}\2(?:{Y4}|{Y2})){_DATE_END}", 0.85
        ),
        Rule(
            "numeric_dmy", rf"(?<![\w/.\-])(?P<v>{DAY}([/.\-]){MM}\2(?:{Y4}|{Y2})){_DATE_END}", 0.8
        ),
        Rule(
            "iso",
            rf"(?<![\w/.\-])(?P<v>{Y4}([/.\-])(?:0?[1-9]|1[0-2])\2{DAY}(?:[T ]\d{{2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?)?){_DATE_END}",
            0.9,
        ),
        Rule(
            "dicom_da",
            r"(?<![\w.\-])(?P<v>(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(?![\w]|[.\-]\d)",
            0.8,
        ),
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
        Rule("decade", r"(?i:\b(?:his|her|their|early|mid|late)[\s\-]+)(?P<v>9\d)(?=s\b)", 0.7),
        Rule(
            "spelled",
            r"(?i:\b(?P<v>(?:ninety|one[\s\-]+hundred)(?:[\s\-]+(?:and[\s\-]+)?(?:one|two|three|four|five|six|seven|"
            r"eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen))?)"
            r"(?=[\s\-]*(?:years?|yrs?|y/o|yo)\b))",
            0.9,
        ),
    )


# -- recognizers: places and facilities -----------------------------------------------------------

_USPS_SUFFIXES = (  # noqa: SIM905 - a word list reads better as one string
    "Alley Aly Annex Anx Arcade Arc Avenue Ave Av Bayou Byu Beach Bch Bend Bnd Bluff Blf Bluffs "
    "Bottom Btm Boulevard Blvd Branch Br Bridge Brg Brook Brk Brooks Burg Bypass Byp Camp Cp "
    "Canyon Cyn Cape Cpe Causeway Cswy Center Ctr Centre Circle Cir Circles Cliff Clf Cliffs Club "
    "Clb Common Commons Corner Cor Corners Cors Course Crse Court Ct Courts Cts Cove Cv Coves "
    "Creek Crk Crescent Cres Crest Crst Crossing Xing Crossroad Curve Curv Dale Dl Dam Divide Dv "
    "Drive Dr Drives Estate Est Estates Ests Expressway Expy Extension Ext Falls Fls Ferry Fry "
    "Field Fld Fields Flds Flat Flt Flats Ford Frd Forest Frst Forge Frg Fork Frk Forks Fort Ft "
    "Freeway Fwy Garden Gdn Gardens Gdns Gateway Gtwy Glen Gln Green Grn Grove Grv Harbor Hbr "
    "Haven Hvn Heights Hts Highway Hwy Hill Hl Hills Hls Hollow Holw Inlet Island Is Islands Isle "
    "Junction Jct Key Ky Knoll Knl Knolls Lake Lk Lakes Lks Landing Lndg Lane Ln Light Lgt Loaf "
    "Lock Lck Locks Lodge Ldg Loop Mall Manor Mnr Manors Meadow Mdw Meadows Mdws Mews Mill Ml "
    "Mills Mission Msn Motorway Mount Mt Mountain Mtn Neck Nck Orchard Orch Oval Overpass Opas "
    "Park Parks Parkway Pkwy Pass Passage Psge Path Pike Pine Pines Pnes Place Pl Plain Pln "
    "Plains Plns Plaza Plz Point Pt Points Pts Prairie Pr Radial Radl Ramp Ranch Rnch Rapid Rpd "
    "Rapids Rpds Rest Rst Ridge Rdg Ridges Rdgs River Riv Road Rd Roads Rds Route Rte Row Rue Run "
    "Shoal Shl Shoals Shore Shr Shores Shrs Skyway Skwy Spring Spg Springs Spgs Spur Square Sq "
    "Squares Station Sta Stravenue Stra Stream Strm Street St Streets Sts Summit Smt Terrace Ter "
    "Trace Trce Track Trak Trafficway Trfy Trail Trl Trailer Trlr Tunnel Tunl Turnpike Tpke "
    "Underpass Upas Union Un Valley Vly Valleys Vlys Viaduct Via Vista Vis Walk Walks Wall Way "
    "Ways Well Wl Wells Wls"
).split()
_STREET_SUFFIX = "(?i:" + "|".join(sorted(set(_USPS_SUFFIXES), key=len, reverse=True)) + r")\b\.?"
_DIRECTION = (
    r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West|Northeast|Northwest|Southeast|Southwest)\.?"
)
_UNIT = r"(?:,?[ \t]+(?i:apt|apartment|suite|ste|unit|bldg|building|fl|floor|rm|room|no|lot|space|trlr|\#)\.?\s*\#?\s*[A-Za-z0-9\-]{1,6}\b)"
US_STATES = (  # noqa: SIM905 - a word list reads better as one string
    "AL AK AZ AR CA CO CT DE DC FL GA HI ID IL IN IA KS KY LA ME MD MA MI MN MS MO MT NE NV NH NJ "
    "NM NY NC ND OH OK OR PA RI SC SD TN TX UT VT VA WA WV WI WY PR GU VI AS MP"
).split()
US_STATE_NAMES = (
    "Alabama|Alaska|Arizona|Arkansas|California|Colorado|Connecticut|Delaware|Florida|Georgia|Hawaii|"
    "Idaho|Illinois|Indiana|Iowa|Kansas|Kentucky|Louisiana|Maine|Maryland|Massachusetts|Michigan|"
    "Minnesota|Mississippi|Missouri|Montana|Nebraska|Nevada|New Hampshire|New Jersey|New Mexico|"
    "New York|North Carolina|North Dakota|Ohio|Oklahoma|Oregon|Pennsylvania|Rhode Island|"
    "South Carolina|South Dakota|Tennessee|Texas|Utah|Vermont|Virginia|Washington|West Virginia|"
    "Wisconsin|Wyoming|Puerto Rico|District of Columbia"
)
_STATE = rf"(?:{'|'.join(US_STATES)}|{US_STATE_NAMES})"
_PLACE_WORD = r"\p{Lu}[\p{L}'\u2019.\-]*"
#: A state code after a name that doubles as a credential ("Woods, MD", "Ray, PA").
_CREDENTIAL_STATES = frozenset({"MD", "PA", "ME", "DO", "OR", "IN", "NP"})
#: Words that close place names and are ordinary words otherwise ("Cedar Falls", "Union City").
PLACE_SUFFIXES = frozenset(
    (  # noqa: SIM905
        "city town falls springs spring heights hills hill park beach valley junction river "
        "lake lakes harbor harbour bay point port grove village center centre station "
        "crossing creek ridge bluffs mills forge landing high"
    ).split()
)
#: Words that open place names and are ordinary words otherwise ("North Ayala", "Port Sanders").
PLACE_PREFIXES = frozenset(
    (  # noqa: SIM905
        "north south east west new old port fort ft mount mt saint st ste lake glen grand "
        "great little upper lower san santa los las el la le de du des del palm point pointe "
        "cape bay green spring rock river west-end"
    ).split()
)


class StreetAddressRecognizer(RuleRecognizer):
    """Street addresses (number, optional direction, capitalised street name, USPS suffix,
    optional unit), PO boxes, "City, ST 12345" (city reported as LOCATION and ZIP as ADDRESS;
    the state, not PHI under Safe Harbor, is kept), and ZIP codes after their label."""

    ENTITY = ADDRESS
    RULES = (
        Rule(
            "street",
            rf"(?<![\w\-./])(?P<v>\d{{1,6}}[A-Z]?(?:-\d{{1,4}})?[ \t]+(?:{_DIRECTION}[ \t]+)?"
            rf"(?P<name>(?:(?:{_PLACE_WORD}|\d{{1,3}}(?:st|nd|rd|th))[ \t]+){{1,4}}){_STREET_SUFFIX}(?:[ \t]+{_DIRECTION}(?![\w]))?{_UNIT}?)",
            0.85,
        ),
        Rule(
            "po_box",
            r"(?i:(?<![\w])(?P<v>(?:P\.?\s?O\.?|Post\s+Office)\s*Box\s+\#?\d{1,6}))\b",
            0.9,
        ),
        Rule(
            "city_state_zip",
            rf"(?<![\w])(?P<v_LOCATION>(?:{_PLACE_WORD}[ \t]+){{0,3}}{_PLACE_WORD}),[ \t]*(?P<state>{_STATE})\.?"
            rf"(?:,?[ \t]+(?P<v>\d{{5}}(?:-\d{{4}})?))?(?![\w])",
            0.8,
        ),
        Rule(
            "labelled_zip",
            r"(?i:\b(?:zip|zip\s*code|postal\s+code)\b\s*[:\#]?\s*)(?P<v>\d{5}(?:-\d{4})?)(?!\d)",
            0.9,
        ),
    )

    def accept(
        self, text: str, start: int, end: int, match: re.Match[str], rule: Rule
    ) -> tuple[int, int, float] | None:
        if rule.name == "street":
            # The street name (between the number and the suffix) must not be clinical words.
            words = [w for w in match.group("name").split() if not any(c.isdigit() for c in w)]
            if words and all(fold(w) in stop_words() for w in words):
                return None
            return start, end, 1.0
        if rule.name != "city_state_zip" or start != match.start("v_LOCATION"):
            return start, end, 1.0
        has_zip = match.group("v") is not None
        if not has_zip and match.group("state") in _CREDENTIAL_STATES:
            return None  # "Woods, MD" is a credential
        # Drop leading clinical/common words ("Radiology Springfield, IL" -> "Springfield"),
        # but not place prefixes ("North", "Port", "Saint").
        for w in WORD_RX.finditer(text, start, end):
            word = w.group().rstrip(".")
            if fold(word) in PLACE_PREFIXES or not is_lexical(word):
                return w.start(), end, 1.0
        # A ZIP code after the state says this is a city even when its name is also a word.
        return (start, end, 0.9) if has_zip else None


FACILITY_HEAD = (
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
GENERIC_FACILITY_WORDS = frozenset(
    fold(w)
    for w in (  # noqa: SIM905
        "Memorial General Community Regional University Children's Childrens County Municipal "
        "Veterans Teaching Methodist Baptist Presbyterian Lutheran Adventist Catholic Jewish "
        "Family Cancer Imaging Medical Health Nursing Rehabilitation Radiology Surgical "
        "Surgery Urgent Skilled Care Center Centre Hospital Clinic St St. Saint Mount Mt Mt. "
        "Our Lady of the and & University Univ Univ. Outside Affiliated Associated United "
        "National State Main Central New Old"
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
            rf"(?<![\w])(?P<v>(?:{_FACILITY_WORD}(?:[ \t]+(?:of|and|the|de|del|la)(?=[ \t]+\p{{Lu}}))?[ \t\-]+){{1,6}}{FACILITY_HEAD}"
            # "... Associates of Worcester", "... Medical Center of Central Georgia"
            rf"(?:[ \t]+(?:of|at)[ \t]+(?:the[ \t]+)?{_FACILITY_WORD}(?:[ \t]+{_FACILITY_WORD}){{0,2}})?)(?![\w])",
            0.85,
        ),
    )

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        results = super().analyze(text, entities, nlp_artifacts)
        out = []
        for r in results:
            start = r.start
            # Drop leading words that are clinical/common vocabulary ("Transferred", "Chest").
            for w in WORD_RX.finditer(text, r.start, r.end):
                folded = fold(w.group())
                if (
                    folded in GENERIC_FACILITY_WORDS
                    or folded in PLACE_PREFIXES
                    or not is_lexical(w.group().rstrip("."))
                ):
                    break
                start = w.end()
            while start < r.end and text[start] in " \t-":
                start += 1
            words = [w.group().rstrip(".") for w in WORD_RX.finditer(text, start, r.end)]
            if not any(
                fold(w) not in GENERIC_FACILITY_WORDS
                and (fold(w) in PLACE_PREFIXES or not is_lexical(w))
                for w in words
            ):
                continue
            r.start = start
            out.append(r)
        return out


# -- words shared by the name and place scanners ----------------------------------------

#: A word of a name or place: letters, apostrophes, inner hyphens ("O'Neil", "Jean-Luc").
NAME_TOKEN_RX = re.compile(r"\p{L}[\p{L}'\u2019]*(?:-\p{L}[\p{L}'\u2019]*)*")


def is_name_like(word: str) -> bool:
    """Capitalised and not vocabulary: could be (part of) a name."""
    return word[:1].isupper() and not is_lexical(word)


def skip_blanks(text: str, i: int) -> int:
    """The first index at or after `i` that is not a blank or a tab."""
    while i < len(text) and text[i] in " \t":
        i += 1
    return i


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

    def load(self) -> None:
        pass

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        if LOCATION not in entities:
            return []
        out = []
        for m in self._CONTEXT.finditer(text):
            span = scan_place(text, m.end())
            if span:
                out.append(make_result(self, LOCATION, span[0], span[1], 0.75))
        return out


def scan_place(text: str, pos: int, *, max_tokens: int = 4) -> tuple[int, int] | None:
    """The span of a place name at `pos`: optional prefixes ("North", "Port", "St."), then
    capitalised non-clinical words."""
    i = skip_blanks(text, pos)
    start, end, tokens, affix_end, affixes = i, -1, 0, -1, 0
    while tokens < max_tokens:
        m = NAME_TOKEN_RX.match(text, i)
        if not m or not m.group()[:1].isupper():
            break
        word = m.group()
        w_end = m.end() + (1 if text[m.end() : m.end() + 1] == "." and len(word) <= 3 else 0)
        folded = fold(word)
        if is_name_like(word) or (end > 0 and folded in PLACE_SUFFIXES):
            end = w_end
        elif (folded in PLACE_PREFIXES or folded in PLACE_SUFFIXES) and end < 0:
            affixes += 1
            affix_end = w_end  # "West Lake", "High Valley": only affixes, still a place
        else:
            break
        tokens += 1
        j = w_end
        if not (j < len(text) and text[j] in " \t") or text[j + 1 : j + 2] in ("", "\n"):
            break
        i = j + 1
    if end < 0 and affixes >= 2:
        end = affix_end
    return (start, end) if end > 0 else None
