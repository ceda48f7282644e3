"""Place recognizers (deid/text/recognizers/places.py): street addresses, cities, facilities."""

from __future__ import annotations

import pytest
from presidio_analyzer import EntityRecognizer

from deid.text import ADDRESS, FACILITY, LOCATION, TextRedactor
from deid.text.recognizers.places import (
    FacilityRecognizer,
    LocationContextRecognizer,
    StreetAddressRecognizer,
    scan_place,
)
from tests.deid.text.helpers import best_score, covered, detect, found

#: (recognizer, text, every (type, span) it reports). Empty: clinical text it must leave alone.
CASES: list[tuple[type[EntityRecognizer], str, list[tuple[str, str]]]] = [
    (StreetAddressRecognizer, "Lives at 123 Main St with his wife.", [(ADDRESS, "123 Main St")]),
    (StreetAddressRecognizer, "Home: 4059 N Walton Walk, Apt 4B, alone.", [(ADDRESS, "4059 N Walton Walk, Apt 4B")]),
    (StreetAddressRecognizer, "Seen at 10 Downing Street.", [(ADDRESS, "10 Downing Street")]),
    (StreetAddressRecognizer, "Mail to P.O. Box 1234", [(ADDRESS, "P.O. Box 1234")]),
    # The city and the ZIP, not the state; leading clinical words are dropped.
    (StreetAddressRecognizer, "Radiology, Springfield, IL 62704.", [(LOCATION, "Springfield"), (ADDRESS, "62704")]),
    (StreetAddressRecognizer, "Moved to Portland, Oregon last year", [(LOCATION, "Portland")]),
    (StreetAddressRecognizer, "zip code 02139", [(ADDRESS, "02139")]),
    (StreetAddressRecognizer, "Two views: PA and lateral. 2 View Chest.", []),
    (StreetAddressRecognizer, "Chest, PA and lateral. Findings, ME ratio normal.", []),
    (StreetAddressRecognizer, "Signed Mary Woods, MD", []),  # a credential, not Maryland
    (StreetAddressRecognizer, "3 Chest Views", []),
    (LocationContextRecognizer, "She lives in Springfield with family.", [(LOCATION, "Springfield")]),
    (LocationContextRecognizer, "Originally from North Ayala.", [(LOCATION, "North Ayala")]),
    (LocationContextRecognizer, "Films from Oak Hospital in Lake City, dated 2020.", [(LOCATION, "Lake City")]),
    (LocationContextRecognizer, "Moved from West Lake", [(LOCATION, "West Lake")]),
    (LocationContextRecognizer, "She lives in the area.", []),
    (LocationContextRecognizer, "He lives alone.", []),
    (FacilityRecognizer, "Transferred from Mercy General Hospital today.", [(FACILITY, "Mercy General Hospital")]),
    # Vocabulary dropped from the front takes its connector along.
    (FacilityRecognizer, "Chest of Maplewood Hospital, PA view.", [(FACILITY, "Maplewood Hospital")]),
    (FacilityRecognizer, "Prior at St. Mary's Medical Center.", [(FACILITY, "St. Mary's Medical Center")]),
    (
        FacilityRecognizer,
        "Images from University of Springfield Hospital.",
        [(FACILITY, "University of Springfield Hospital")],
    ),
    (
        FacilityRecognizer,
        "Worcester Radiology Associates of Worcester",
        [(FACILITY, "Worcester Radiology Associates of Worcester")],
    ),
    (FacilityRecognizer, "Outside Hospital films. The hospital. Emergency Department.", []),
    (FacilityRecognizer, "Seen at Community General Hospital.", []),  # no distinctive word
    (FacilityRecognizer, "Chest Imaging Center report", []),
]


@pytest.mark.parametrize(
    ("recognizer", "text", "expected"),
    CASES,
    ids=[f"{cls.__name__}-{i}" for i, (cls, _, _) in enumerate(CASES)],
)
def test_place_recognizers(recognizer: type[EntityRecognizer], text: str, expected: list[tuple[str, str]]) -> None:
    assert detect(recognizer(), text) == expected


SCORES: list[tuple[type[EntityRecognizer], str, str, float]] = [
    (StreetAddressRecognizer, "Lives at 123 Main St with his wife.", "123 Main St", 0.85),
    (StreetAddressRecognizer, "Mail to P.O. Box 1234", "P.O. Box 1234", 0.9),
    (StreetAddressRecognizer, "zip code 02139", "02139", 0.9),
    (StreetAddressRecognizer, "Radiology, Springfield, IL 62704.", "Springfield", 0.8),
    (LocationContextRecognizer, "She lives in Springfield with family.", "Springfield", 0.75),
    (FacilityRecognizer, "Transferred from Mercy General Hospital today.", "Mercy General Hospital", 0.85),
]


@pytest.mark.parametrize(
    ("recognizer", "text", "span", "score"), SCORES, ids=[f"{c.__name__}-{s}" for c, _, s, _ in SCORES]
)
def test_place_scores(recognizer: type[EntityRecognizer], text: str, span: str, score: float) -> None:
    assert best_score(recognizer(), text, span) == pytest.approx(score)


#: (text, the place name scan_place reads at position 0, or None).
PLACES: list[tuple[str, str | None]] = [
    ("Springfield with family", "Springfield"),
    ("North Ayala.", "North Ayala"),
    ("West Lake", "West Lake"),  # only affixes, still a place
    ("Cedar Falls, IA", "Cedar Falls"),
    ("St. Louis", "St. Louis"),
    ("  Boston", "Boston"),
    ("Boston\nMA", "Boston"),  # not across a line break
    ("the area", None),
    ("Port", None),
    ("Pneumonia Ward", None),
]


@pytest.mark.parametrize(("text", "expected"), PLACES)
def test_scan_place(text: str, expected: str | None) -> None:
    span = scan_place(text, 0)
    assert (None if span is None else text[span[0] : span[1]]) == expected


# -- through the redactor -------------------------------------------------------------------------

POSITIVES: list[tuple[str, str, str]] = [
    # (text, the PHI in it, recognizer family: for the test id only)
    ("Lives at 123 Main St with his wife.", "123 Main St", "address"),
    ("Home: 4059 N Walton Walk, Apt 4B, alone.", "4059 N Walton Walk, Apt 4B", "address"),
    ("Mail to P.O. Box 1234", "P.O. Box 1234", "address"),
    ("Radiology, Springfield, IL 62704.", "Springfield", "address"),
    ("Radiology, Springfield, IL 62704.", "62704", "address"),
    ("zip code 02139", "02139", "address"),
    ("She lives in Springfield with family.", "Springfield", "location"),
    ("Originally from North Ayala.", "North Ayala", "location"),
    ("Films from Oak Hospital in Lake City, dated 2020.", "Lake City", "location"),
    ("Transferred from Mercy General Hospital today.", "Mercy General Hospital", "facility"),
    ("Prior at St. Mary's Medical Center.", "St. Mary's Medical Center", "facility"),
    (
        "Images from University of Springfield Hospital.",
        "University of Springfield Hospital",
        "facility",
    ),
    (
        "Resident of Oakwood Nursing and Rehabilitation Center.",
        "Oakwood Nursing and Rehabilitation Center",
        "facility",
    ),
]

NEGATIVES: list[tuple[str, str]] = [
    ("Two views: PA and lateral. 2 View Chest.", "address"),
    ("Chest, PA and lateral. Findings, ME ratio normal.", "address"),
    ("Outside Hospital films. The hospital. Emergency Department.", "facility"),
]


@pytest.mark.parametrize(
    ("text", "phi"),
    [(t, p) for t, p, _ in POSITIVES],
    ids=[f"{k}-{i}" for i, (_, _, k) in enumerate(POSITIVES)],
)
def test_redactor_finds_places(redactor: TextRedactor, text: str, phi: str) -> None:
    assert covered(redactor, text, phi), found(redactor, text)


@pytest.mark.parametrize(("text", "why"), NEGATIVES, ids=[w for _, w in NEGATIVES])
def test_redactor_leaves_views_and_generic_places(redactor: TextRedactor, text: str, why: str) -> None:
    assert found(redactor, text) == []
