"""Place recognizers of the free-text redactor (see deid/text/).

Contract: `StreetAddressRecognizer` (ADDRESS) reports street addresses, PO boxes, ZIP codes
after their label, and "City, ST 12345" as the city (LOCATION) and the ZIP (ADDRESS), keeping
the state (not PHI under Safe Harbor). `LocationContextRecognizer` (LOCATION) reports the
place name after a residence word ("lives in X", "moved from X", "Hospital in X"), as found by
`scan_place`. `FacilityRecognizer` (FACILITY) reports hospitals, clinics and the like: words
ending in a facility head (`FACILITY_HEAD`) with at least one distinctive word, so that
"Outside Hospital" stays. Street names, city names and facility names never consist of
clinical vocabulary alone. The word lists here (`US_STATES`, `US_STATE_NAMES`,
`FACILITY_HEAD`, `GENERIC_FACILITY_WORDS`) also serve the per-study deny-list.
"""

from __future__ import annotations

import regex as re
from presidio_analyzer import RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts

from deid.text.base import ADDRESS, FACILITY, LOCATION, PatternRule, Recognizer, RuleRecognizer, make_result
from deid.text.lexicon import NAME_TOKEN_RX, WORD_RX, is_lexical, is_name_like, skip_blanks, stop_words
from deid.text.model import fold

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
_DIRECTION = r"(?:N|S|E|W|NE|NW|SE|SW|North|South|East|West|Northeast|Northwest|Southeast|Southwest)\.?"
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
        PatternRule(
            "street",
            rf"(?<![\w\-./])(?P<v>\d{{1,6}}[A-Z]?(?:-\d{{1,4}})?[ \t]+(?:{_DIRECTION}[ \t]+)?"
            rf"(?P<name>(?:(?:{_PLACE_WORD}|\d{{1,3}}(?:st|nd|rd|th))[ \t]+){{1,4}}){_STREET_SUFFIX}(?:[ \t]+{_DIRECTION}(?![\w]))?{_UNIT}?)",
            0.85,
        ),
        PatternRule(
            "po_box",
            r"(?i:(?<![\w])(?P<v>(?:P\.?\s?O\.?|Post\s+Office)\s*Box\s+\#?\d{1,6}))\b",
            0.9,
        ),
        PatternRule(
            "city_state_zip",
            rf"(?<![\w])(?P<v_LOCATION>(?:{_PLACE_WORD}[ \t]+){{0,3}}{_PLACE_WORD}),[ \t]*(?P<state>{_STATE})\.?"
            rf"(?:,?[ \t]+(?P<v>\d{{5}}(?:-\d{{4}})?))?(?![\w])",
            0.8,
        ),
        PatternRule(
            "labelled_zip",
            r"(?i:\b(?:zip|zip\s*code|postal\s+code)\b\s*[:\#]?\s*)(?P<v>\d{5}(?:-\d{4})?)(?!\d)",
            0.9,
        ),
    )

    def accept(
        self, text: str, start: int, end: int, match: re.Match[str], rule: PatternRule
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


_LEADING_CONNECTOR = re.compile(r"(?:of|and|the|de|del|la)[ \t\-]+", re.IGNORECASE)


class FacilityRecognizer(RuleRecognizer):
    """Hospitals, clinics, imaging centres, nursing homes: capitalised words ending in a
    facility head ("Hospital", "Medical Center", "Nursing and Rehabilitation Center", ...), with
    "St."/"Saint"/"University of" forms. At least one word must be distinctive (not generic like
    "Community", "General", nor clinical vocabulary): "Outside Hospital" is not a facility name."""

    ENTITY = FACILITY
    RULES = (
        PatternRule(
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
            # A connector left in front once the vocabulary before it is dropped ("Director of
            # Maplewood Hospital" -> "Maplewood Hospital", not "of Maplewood Hospital").
            while (lead := _LEADING_CONNECTOR.match(text, start, r.end)) is not None:
                start = lead.end()
            words = [w.group().rstrip(".") for w in WORD_RX.finditer(text, start, r.end)]
            if not any(
                fold(w) not in GENERIC_FACILITY_WORDS and (fold(w) in PLACE_PREFIXES or not is_lexical(w))
                for w in words
            ):
                continue
            r.start = start
            out.append(r)
        return out


class LocationContextRecognizer(Recognizer):
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
