"""Name scanning (deid/text/name_scan.py): spans of names read forwards, backwards, in lower case."""

from __future__ import annotations

from typing import Any

import pytest

from deid.text.name_scan import (
    CREDENTIAL_RX,
    followed_by_head_noun,
    scan_lower_name,
    scan_name,
    scan_name_backward,
)


def _text(text: str, span: tuple[int, int] | None) -> str | None:
    return None if span is None else text[span[0] : span[1]]


#: (text, start position, keyword arguments, the name scan_name reads, or None).
FORWARD: list[tuple[str, int, dict[str, Any], str | None]] = [
    ("Dr. Alan Brown by phone", 4, {}, "Alan Brown"),
    ("Doe, John saw her", 0, {}, "Doe, John"),
    ("Doe, John", 0, {"allow_comma": False}, "Doe"),
    ("Okafor, the patient", 0, {}, "Okafor"),  # the comma needs a name word after it
    ("Mary Johnson, MD", 0, {}, "Mary Johnson"),  # nor a credential
    ("DOE^JOHN^A seen", 0, {}, "DOE^JOHN^A"),
    ("Colón^Mariana |", 0, {}, "Colón^Mariana"),
    ("Ludwig van Beethoven", 0, {}, "Ludwig van Beethoven"),
    ("Francis P. Day", 0, {}, "Francis P. Day"),  # a word after a middle initial is a surname
    ("J. Doe", 0, {}, "J. Doe"),
    ("Alan Brown Charles Dale Evans Frank", 0, {}, "Alan Brown Charles Dale Evans"),  # max_tokens=5
    (" \nJohn Smith", 0, {}, "John Smith"),  # one line break after the context
    ("  \n\nJohn Smith", 0, {}, None),  # not a blank line
    ("pneumonia in Smith", 0, {}, None),
    ("Foley catheter", 0, {}, None),
]


@pytest.mark.parametrize(("text", "pos", "kwargs", "expected"), FORWARD)
def test_scan_name(text: str, pos: int, kwargs: dict[str, Any], expected: str | None) -> None:
    assert _text(text, scan_name(text, pos, **kwargs)) == expected


#: (text, the name-ending prefix of it, keyword arguments, the name read backwards, or None).
BACKWARD: list[tuple[str, str, dict[str, Any], str | None]] = [
    ("Erin Best, MD", "Erin Best", {"lenient_last": True}, "Erin Best"),
    ("Erin Best, MD", "Erin Best", {}, None),  # "Best" is a word: only a strong context keeps it
    ("Doe, Ruth D, M.D.", "Doe, Ruth D", {}, "Doe, Ruth D"),
    ("Signed J. Doe was", "Signed J. Doe", {}, "J. Doe"),
    ("Ludwig van Beethoven was", "Ludwig van Beethoven", {}, "Ludwig van Beethoven"),
    ("Anna Maria Lopez Garcia Diaz, MD", "Anna Maria Lopez Garcia Diaz", {}, "Maria Lopez Garcia Diaz"),
    ("the patient was", "the patient", {}, None),
]


@pytest.mark.parametrize(("text", "prefix", "kwargs", "expected"), BACKWARD)
def test_scan_name_backward(text: str, prefix: str, kwargs: dict[str, Any], expected: str | None) -> None:
    assert text.startswith(prefix)
    assert _text(text, scan_name_backward(text, len(prefix), **kwargs)) == expected


#: (text, start position, keyword arguments, the lower-case name read, or None).
LOWER: list[tuple[str, int, dict[str, Any], str | None]] = [
    ("dr smith at 3", 3, {}, "smith"),
    ("pt: doe, jane", 4, {}, "doe, jane"),
    ("okafor, maria, lee", 0, {}, "okafor, maria"),  # one comma at most
    ("smith jones brown green", 0, {}, "smith jones brown"),
    ("smith jones", 0, {"max_tokens": 1}, "smith"),
    ("the patient", 0, {}, None),
]


@pytest.mark.parametrize(("text", "pos", "kwargs", "expected"), LOWER)
def test_scan_lower_name(text: str, pos: int, kwargs: dict[str, Any], expected: str | None) -> None:
    assert _text(text, scan_lower_name(text, pos, **kwargs)) == expected


#: (text, end of the capitalised words, whether the next word makes them an eponym).
HEAD_NOUNS: list[tuple[str, int, bool]] = [
    ("Crohn's disease", 5, True),
    ("Kerley B lines", 6, True),
    ("Golden S sign", 6, True),
    ("Jackson-Pratt drain", 13, True),
    ("Down syndrome", 4, True),
    ("Smith was", 5, False),
    ("Smith\nsyndrome", 5, False),  # not across a line break
]


@pytest.mark.parametrize(("text", "end", "expected"), HEAD_NOUNS)
def test_followed_by_head_noun(text: str, end: int, expected: bool) -> None:
    assert followed_by_head_noun(text, end) is expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("MD", True),
        ("M.D.", True),
        ("PhD", True),
        ("RT (R)", True),
        ("FNP-BC", True),
        ("MDX", False),
        ("Mary", False),
        ("Ms.", False),
    ],
)
def test_credentials(text: str, expected: bool) -> None:
    """A credential at the start of `text`, as a whole word (it stops a "Last, First" comma)."""
    assert (CREDENTIAL_RX.match(text) is not None) is expected
