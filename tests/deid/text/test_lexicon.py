"""Vocabulary (deid/text/lexicon.py): the words that are never a name or a place on their own."""

from __future__ import annotations

import pytest

from deid.text import is_lexical
from deid.text.lexicon import clinical_lexicon, is_head_noun, is_name_like, skip_blanks, stop_words
from training.phi_corpus import HELD_OUT_SENTENCES, iter_clinical_terms

#: (word, is_lexical). Clinical words, eponyms and function words are lexical; names are not.
LEXICAL: list[tuple[str, bool]] = [
    ("pneumothorax", True),
    ("consolidation", True),
    ("Foley", True),  # eponyms of the lexicon
    ("Kerley", True),
    ("Hodgkin", True),
    ("Lasix", True),
    ("Swan-Ganz", True),  # hyphenated, listed whole or by its parts
    ("follow-up", True),
    ("the", True),
    ("Dr", True),
    ("MD", True),
    ("March", True),
    ("daughter", True),
    ("Best", True),  # ordinary words that are also surnames
    ("Small", True),
    ("", True),
    ("---", True),
    ("Okafor", False),
    ("Smith", False),
    ("Jean-Luc", False),
    ("Springfield", False),
    ("Rose", False),
]


@pytest.mark.parametrize(("word", "expected"), LEXICAL)
def test_is_lexical(word: str, expected: bool) -> None:
    assert is_lexical(word) is expected


@pytest.mark.parametrize(
    ("word", "expected"), [(w, not lex and w[:1].isupper()) for w, lex in LEXICAL] + [("okafor", False)]
)
def test_is_name_like(word: str, expected: bool) -> None:
    assert is_name_like(word) is expected


@pytest.mark.parametrize(
    ("word", "expected"),
    [
        ("syndrome", True),
        ("catheter", True),
        ("CATHETER", True),
        ("Disease", True),
        ("lines", True),
        ("hump", True),
        ("appendectomy", True),  # by suffix
        ("bronchitis", True),
        ("stenosis", True),
        ("anemia", True),
        ("Smith", False),
        ("was", False),
    ],
)
def test_is_head_noun(word: str, expected: bool) -> None:
    assert is_head_noun(word) is expected


@pytest.mark.parametrize(("text", "pos", "expected"), [("  \tx", 0, 3), ("x  y", 1, 3), ("\nx", 0, 0), ("ab", 2, 2)])
def test_skip_blanks(text: str, pos: int, expected: int) -> None:
    assert skip_blanks(text, pos) == expected


def test_vocabularies_are_folded() -> None:
    lexicon = clinical_lexicon()
    assert len(lexicon) > 1000
    assert all(w == w.lower() for w in lexicon)
    assert {"dr", "mrs", "january", "street", "daughter"} <= stop_words()


def test_held_out_terms_are_absent_from_the_shipped_vocabulary() -> None:
    """The eponyms, organisms, drugs and devices of the held-out terms are not vocabulary the
    redactor knows (abbreviations such as HIV aside): they measure unseen clinical words."""
    for sentence in HELD_OUT_SENTENCES:
        assert "[[" in sentence
    for term in iter_clinical_terms(held_out=True):
        proper = [w for w in term.split() if w[:1].isupper() and len(w) > 2 and not w.isupper()]
        assert not any(is_lexical(w) for w in proper), term
