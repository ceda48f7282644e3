"""Date and age recognizers (deid/text/recognizers/dates.py)."""

from __future__ import annotations

import pytest

from deid.text import AGE, DATE, TextRedactor
from deid.text.base import RuleRecognizer
from deid.text.recognizers.dates import MONTH_NAMES, AgeOver89Recognizer, DateRecognizer
from tests.deid.text.helpers import best_score, covered, detect, found

#: (recognizer, text, every (type, span) it reports). Empty: clinical text it must leave alone.
CASES: list[tuple[type[RuleRecognizer], str, list[tuple[str, str]]]] = [
    (DateRecognizer, "Exam date 03/14/2023.", [(DATE, "03/14/2023")]),
    (DateRecognizer, "Seen 3/14/23 in clinic", [(DATE, "3/14/23")]),
    (DateRecognizer, "Comparison: 2023-03-14.", [(DATE, "2023-03-14")]),
    # A spelled-out date also holds its "month year" part (merged by the redactor).
    (DateRecognizer, "Comparison 14-MAR-2023.", [(DATE, "14-MAR-2023"), (DATE, "MAR-2023")]),
    (DateRecognizer, "dated March 14, 2023", [(DATE, "March 14, 2023")]),
    (DateRecognizer, "on Mar. 7, 2020 at noon", [(DATE, "Mar. 7, 2020")]),
    (DateRecognizer, "Born 14 March 1950.", [(DATE, "14 March 1950"), (DATE, "March 1950")]),
    (DateRecognizer, "StudyDate 20230314", [(DATE, "20230314")]),
    (DateRecognizer, "Exam 14.03.2023.", [(DATE, "14.03.2023")]),
    (DateRecognizer, "Since March 2023 the cough persists.", [(DATE, "March 2023")]),
    (DateRecognizer, "Seen on 3/14 by the team.", [(DATE, "3/14")]),
    (DateRecognizer, "Admitted the 2nd of April, 2017.", [(DATE, "2nd of April, 2017"), (DATE, "April, 2017")]),
    (DateRecognizer, "Acquired 2023-03-14T10:30:00", [(DATE, "2023-03-14T10:30:00")]),
    (DateRecognizer, "Fever for 2 days, cough for 3 weeks, 1 year ago.", []),
    (DateRecognizer, "2/6 systolic murmur. Grade 3/4 reflux.", []),
    (DateRecognizer, "In 2019 the patient had pneumonia.", []),
    (DateRecognizer, "BP 120/80, HR 88, RR 18.", []),
    (DateRecognizer, "Nodule grew from 1-2 cm over 2019-2020.", []),
    (DateRecognizer, "A 5 mm nodule, 4 cm above the carina.", []),
    (DateRecognizer, "May 5 mg dose", []),  # a month name before a measurement
    (DateRecognizer, "Mar 12 mm nodule", []),
    (AgeOver89Recognizer, "A 92-year-old woman", [(AGE, "92")]),
    (AgeOver89Recognizer, "Patient age 95, fall.", [(AGE, "95")]),
    (AgeOver89Recognizer, "aged 101 years", [(AGE, "101")]),
    (AgeOver89Recognizer, "93 y/o male", [(AGE, "93")]),
    (AgeOver89Recognizer, "91yo F, SOB", [(AGE, "91")]),
    (AgeOver89Recognizer, "A ninety-two-year-old man", [(AGE, "ninety-two")]),
    (AgeOver89Recognizer, "a woman in her 90s", [(AGE, "90")]),
    (AgeOver89Recognizer, "An 89-year-old man, 45 year old woman.", []),  # Safe Harbor keeps them
    (AgeOver89Recognizer, "Temp 98 F, HR 95, SpO2 96%.", []),
    (AgeOver89Recognizer, "HR 92 M", []),
    (AgeOver89Recognizer, "120 years", []),
]


@pytest.mark.parametrize(
    ("recognizer", "text", "expected"),
    CASES,
    ids=[f"{cls.__name__}-{i}" for i, (cls, _, _) in enumerate(CASES)],
)
def test_date_and_age_recognizers(recognizer: type[RuleRecognizer], text: str, expected: list[tuple[str, str]]) -> None:
    assert detect(recognizer(), text) == expected


SCORES: list[tuple[type[RuleRecognizer], str, str, float]] = [
    (DateRecognizer, "Exam date 03/14/2023.", "03/14/2023", 0.85),
    (DateRecognizer, "Exam 14.03.2023.", "14.03.2023", 0.8),
    (DateRecognizer, "Comparison: 2023-03-14.", "2023-03-14", 0.9),
    (DateRecognizer, "StudyDate 20230314", "20230314", 0.8),
    (DateRecognizer, "Since March 2023 the cough persists.", "March 2023", 0.8),
    (DateRecognizer, "Seen on 3/14 by the team.", "3/14", 0.75),
    (AgeOver89Recognizer, "A 92-year-old woman", "92", 0.9),
    (AgeOver89Recognizer, "91yo F, SOB", "91", 0.9),
    (AgeOver89Recognizer, "a woman in her 90s", "90", 0.7),
]


@pytest.mark.parametrize(
    ("recognizer", "text", "span", "score"), SCORES, ids=[f"{c.__name__}-{s}" for c, _, s, _ in SCORES]
)
def test_date_and_age_scores(recognizer: type[RuleRecognizer], text: str, span: str, score: float) -> None:
    assert best_score(recognizer(), text, span) == pytest.approx(score)


@pytest.mark.parametrize("month", [n for names in MONTH_NAMES for n in names])
def test_every_month_spelling_is_a_date(month: str) -> None:
    """MONTH_NAMES (shared with the deny-list) is what the spelled-out rules match, as written
    and in upper case."""
    rec = DateRecognizer()
    for form in (month, month.upper()):
        assert detect(rec, f"Seen 14 {form} 2023 here")[0] == (DATE, f"14 {form} 2023")


# -- through the redactor -------------------------------------------------------------------------

POSITIVES: list[tuple[str, str, str]] = [
    # (text, the PHI in it, recognizer family: for the test id only)
    ("Exam date 03/14/2023.", "03/14/2023", "date"),
    ("Seen 3/14/23 in clinic", "3/14/23", "date"),
    ("Comparison: 2023-03-14.", "2023-03-14", "date"),
    ("Comparison 14-MAR-2023.", "14-MAR-2023", "date"),
    ("dated March 14, 2023", "March 14, 2023", "date"),
    ("on Mar. 7, 2020 at noon", "Mar. 7, 2020", "date"),
    ("Born 14 March 1950.", "14 March 1950", "date"),
    ("StudyDate 20230314", "20230314", "date"),
    ("Exam 14.03.2023.", "14.03.2023", "date"),
    ("Since March 2023 the cough persists.", "March 2023", "date"),
    ("Seen on 3/14 by the team.", "3/14", "date"),
    ("Admitted the 2nd of April, 2017.", "2nd of April, 2017", "date"),
    ("Acquired 2023-03-14T10:30:00", "2023-03-14T10:30:00", "date"),
    ("A 92-year-old woman", "92", "age"),
    ("Patient age 95, fall.", "95", "age"),
    ("aged 101 years", "101", "age"),
    ("93 y/o male", "93", "age"),
    ("91yo F, SOB", "91", "age"),
    ("A ninety-two-year-old man", "ninety-two", "age"),
    ("a woman in her 90s", "90", "age"),
]

NEGATIVES: list[tuple[str, str]] = [
    ("Nodule grew from 1-2 cm over 2019-2020.", "phone/date"),
    ("Fever for 2 days, cough for 3 weeks, 1 year ago.", "date"),
    ("2/6 systolic murmur. Grade 3/4 reflux.", "date"),
    ("A 5 mm nodule, 4 cm above the carina.", "date/address"),
    ("In 2019 the patient had pneumonia.", "year alone"),
    ("An 89-year-old man, 45 year old woman.", "age"),
    ("Temp 98 F, HR 95, SpO2 96%.", "age"),
]


@pytest.mark.parametrize(
    ("text", "phi"),
    [(t, p) for t, p, _ in POSITIVES],
    ids=[f"{k}-{i}" for i, (_, _, k) in enumerate(POSITIVES)],
)
def test_redactor_finds_dates_and_ages(redactor: TextRedactor, text: str, phi: str) -> None:
    assert covered(redactor, text, phi), found(redactor, text)


@pytest.mark.parametrize(("text", "why"), NEGATIVES, ids=[w for _, w in NEGATIVES])
def test_redactor_leaves_durations_and_measurements(redactor: TextRedactor, text: str, why: str) -> None:
    assert found(redactor, text) == []
