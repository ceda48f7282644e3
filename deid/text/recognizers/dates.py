"""Date and age recognizers of the free-text redactor (see deid/text/).

Contract: `DateRecognizer` (DATE) reports calendar dates: numeric (US, European, ISO with an
optional time, DICOM YYYYMMDD), spelled-out months with a day and/or a year, and month/day
after a date word ("on 3/14"); never a year alone, a duration ("2 days"), a ratio ("2/6
murmur", "120/80") or a measurement. `AgeOver89Recognizer` (AGE) reports only the number of an
age of 90 or more (HIPAA Safe Harbor keeps younger ages). `MONTH_NAMES` (full name first, then
abbreviations) also serves the per-study deny-list.
"""

from __future__ import annotations

from deid.text.base import AGE, DATE, PatternRule, RuleRecognizer
from deid.text.lexicon import UNITS

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

_DATE_END = r"(?![\w/]|[.\-]\d)"


class DateRecognizer(RuleRecognizer):
    """Calendar dates: numeric (US, European, ISO, DICOM YYYYMMDD), spelled-out months with day
    and/or year, and month/day after a date word ("on 3/14"). Not years alone, durations
    ("2 days"), ratios ("2/6 murmur", "120/80") or measurements."""

    ENTITY = DATE
    RULES = (
        PatternRule("numeric_mdy", rf"(?<![\w/.\-])(?P<v>{MM}([/.\-]){DAY}\2(?:{Y4}|{Y2})){_DATE_END}", 0.85),
        PatternRule("numeric_dmy", rf"(?<![\w/.\-])(?P<v>{DAY}([/.\-]){MM}\2(?:{Y4}|{Y2})){_DATE_END}", 0.8),
        PatternRule(
            "iso",
            rf"(?<![\w/.\-])(?P<v>{Y4}([/.\-])(?:0?[1-9]|1[0-2])\2{DAY}(?:[T ]\d{{2}}:\d{{2}}(?::\d{{2}}(?:\.\d+)?)?)?){_DATE_END}",
            0.9,
        ),
        PatternRule(
            "dicom_da",
            r"(?<![\w.\-])(?P<v>(?:19|20)\d\d(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01]))(?![\w]|[.\-]\d)",
            0.8,
        ),
        PatternRule(
            "day_month_year",
            rf"(?<![\w])(?P<v>{DAY}{ORD}?(?:\s+of)?[\s\-]+{MONTH}\.?(?:[\s\-,]+(?:{Y4}|'?{Y2}))?)(?![\w])",
            0.85,
        ),
        PatternRule(
            "month_day_year",
            rf"(?<![\w])(?P<v>{MONTH}\.?[\s\-]+{DAY}{ORD}?(?:(?:,?\s+|[\-/]){Y4}|,\s*'?{Y2})?)(?![\w]|\s*{UNITS}\b|[.,]\d)",
            0.85,
        ),
        PatternRule("month_year", rf"(?<![\w])(?P<v>{MONTH}\.?(?:,?\s+|\s+of\s+|[\-/]){Y4})(?![\w])", 0.8),
        PatternRule(
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
        PatternRule(
            "with_unit",
            rf"(?<![\w.])(?P<v>{_AGE})(?=\s*-?\s*(?i:years?|yrs?|y/o|y\.o\.|yo|y)(?:\s*-?\s*old)?\b)",
            0.9,
        ),
        PatternRule("after_age", rf"(?i:\b(?:age[d:]?|aged|age\s+of)\s*)(?P<v>{_AGE})(?![\w.])", 0.9),
        PatternRule(
            "sex_suffix",
            rf"(?<![\w.])(?<!(?i:temp|temperature|t|weight|wt|hr|pulse|rate|spo2|sat|sats)\s*:?\s*)(?P<v>{_AGE})\s?(?:[MF])\b",
            0.7,
        ),
        PatternRule("decade", r"(?i:\b(?:his|her|their|early|mid|late)[\s\-]+)(?P<v>9\d)(?=s\b)", 0.7),
        PatternRule(
            "spelled",
            r"(?i:\b(?P<v>(?:ninety|one[\s\-]+hundred)(?:[\s\-]+(?:and[\s\-]+)?(?:one|two|three|four|five|six|seven|"
            r"eight|nine|ten|eleven|twelve|thirteen|fourteen|fifteen|sixteen|seventeen|eighteen|nineteen))?)"
            r"(?=[\s\-]*(?:years?|yrs?|y/o|yo)\b))",
            0.9,
        ),
    )
