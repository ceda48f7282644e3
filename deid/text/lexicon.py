"""Vocabulary of the free-text redactor (see deid/text/): which words are never PHI on their own.

Contract: pure functions of one word (no Presidio). A word is *lexical* (`is_lexical`) when it
is clinical vocabulary (data/clinical_lexicon.txt: anatomy, findings, devices, drugs, eponyms)
or a function word of clinical texts (spaCy's English stop words plus labels, titles,
credentials, months, weekdays, relatives and address words); a lexical word is never a name or
a place alone. A *head noun* (`is_head_noun`: "sign", "catheter", "-ectomy", ...) makes the
capitalised word before it an eponym, not a person. Words are compared folded (`model.fold`:
lower case, no accents). Also here: the word regexes and helpers the name and place scanners
share, and the measurement units that keep numbers from being dates or identifiers.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources

import regex as re

from deid.text.model import fold


@lru_cache(maxsize=1)
def clinical_lexicon() -> frozenset[str]:
    """Folded words of data/clinical_lexicon.txt."""
    text = resources.files("deid.text").joinpath("data", "clinical_lexicon.txt").read_text("utf-8")
    return frozenset(fold(w) for w in (line.strip() for line in text.splitlines()) if w and not w.startswith("#"))


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


#: Units after a number that make it a measurement or a duration, not a date or an identifier.
UNITS = r"(?:mm|cm|m|km|mg|mcg|g|kg|ml|mL|l|L|cc|%|units?|u|bpm|mmhg|mmHg|min|mins|hrs?|hours?|days?|weeks?|wks?|months?|years?|yrs?|french|fr|Fr|F)"

# -- words shared by the name and place scanners ----------------------------------------

#: A word with an optional final dot ("Mar.", "St.").
WORD_RX = re.compile(r"\p{L}[\p{L}'\u2019]*(?:-\p{L}[\p{L}'\u2019]*)*\.?")

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
