"""The recognizer base (deid/text/base.py): rule tables, results, entity types, the NLP engine."""

from __future__ import annotations

import sys

import pytest
import regex as re
from presidio_analyzer import RecognizerResult

from deid.errors import DeidError
from deid.text import DEFAULT_ENTITIES, ID, LOCATION, PERSON, TextRedactionError
from deid.text.base import LANG, BlankSpacyNlpEngine, PatternRule, Recognizer, RuleRecognizer, make_result


class _ToyRecognizer(RuleRecognizer):
    """One rule per mechanism of RuleRecognizer."""

    ENTITY = ID
    RULES = (
        PatternRule("whole_match", r"\bX\d+\.?", 0.7),  # no `v` group: the whole match, less its dot
        PatternRule("group_v", r"code[ ](?P<v>\w+)", 0.9),
        PatternRule("typed_group", r"\bat[ ](?P<v_LOCATION>[A-Z]\w+)", 0.8),
        PatternRule("abbreviation", r"\bon[ ](?P<v>[A-Z][a-z]{2}\.)", 0.6),  # "Mar." keeps its dot
        PatternRule("quoted", r"ref[ ](?P<v>'\w+')", 0.5),
    )

    def accept(
        self, text: str, start: int, end: int, match: re.Match[str], rule: PatternRule
    ) -> tuple[int, int, float] | None:
        value = text[start:end]
        if value == "none":
            return None  # veto
        if value.startswith("half"):
            return start + 4, end, 0.5  # narrow and scale
        return start, end, 1.0


#: (text, every (type, span, score) the toy recognizer reports).
TOY_CASES: list[tuple[str, list[tuple[str, str, float]]]] = [
    ("see X123.", [(ID, "X123", 0.7)]),
    ("code A77 here", [(ID, "A77", 0.9)]),
    ("code none", []),
    ("code halfB12", [(ID, "B12", 0.45)]),
    ("seen at Boston", [(LOCATION, "Boston", 0.8)]),
    ("seen on Mar. 3", [(ID, "Mar.", 0.6)]),
    ("ref 'abc'", [(ID, "'abc", 0.5)]),  # trailing quote trimmed, not the leading one
    ("nothing here", []),
]


@pytest.mark.parametrize(("text", "expected"), TOY_CASES)
def test_rule_table_mechanics(text: str, expected: list[tuple[str, str, float]]) -> None:
    results = _ToyRecognizer().analyze(text, list(DEFAULT_ENTITIES))
    got = [(r.entity_type, text[r.start : r.end], r.score) for r in results]
    assert got == [(t, s, pytest.approx(score)) for t, s, score in expected]


def test_typed_groups_add_supported_entities_and_are_filtered() -> None:
    rec = _ToyRecognizer()
    assert rec.supported_entities == [ID, LOCATION]
    assert [r.entity_type for r in rec.analyze("seen at Boston, code A77", [ID])] == [ID]
    assert [r.entity_type for r in rec.analyze("seen at Boston, code A77", [LOCATION])] == [LOCATION]


def test_pattern_rules_compile_once() -> None:
    rule = PatternRule("r", r"\d+", 0.5)
    assert rule.compiled() is PatternRule("other name", r"\d+", 0.9).compiled()
    assert rule.compiled() is not PatternRule("r", r"\d+", 0.5, re.IGNORECASE).compiled()


def test_results_carry_their_recognizer() -> None:
    rec = _ToyRecognizer()
    assert isinstance(rec, Recognizer) and rec.name == "_ToyRecognizer"
    r = make_result(rec, PERSON, 3, 7, 0.8)
    assert (r.entity_type, r.start, r.end, r.score) == (PERSON, 3, 7, 0.8)
    assert r.recognition_metadata[RecognizerResult.RECOGNIZER_NAME_KEY] == "_ToyRecognizer"
    assert r.recognition_metadata[RecognizerResult.RECOGNIZER_IDENTIFIER_KEY] == rec.id
    assert r.analysis_explanation.recognizer == "_ToyRecognizer"
    assert r.analysis_explanation.original_score == 0.8


def test_entity_types() -> None:
    assert len(DEFAULT_ENTITIES) == len(set(DEFAULT_ENTITIES)) == 14
    assert {PERSON, ID, LOCATION} <= set(DEFAULT_ENTITIES)
    assert all(e.isupper() for e in DEFAULT_ENTITIES)
    assert issubclass(TextRedactionError, DeidError)


def test_blank_spacy_engine_tokenizes_without_a_model(monkeypatch: pytest.MonkeyPatch) -> None:
    import spacy

    def refuse(name: str, *args: object, **kwargs: object) -> None:
        raise AssertionError(f"spacy.load({name!r}) attempted")

    monkeypatch.setattr(spacy, "load", refuse)
    engine = BlankSpacyNlpEngine()
    engine.load()
    artifacts = engine.process_text("Dr. Smith SAW her", LANG)
    assert [t.text for t in artifacts.tokens] == ["Dr.", "Smith", "SAW", "her"]
    assert artifacts.tokens_indices == [0, 4, 10, 14]
    assert artifacts.lemmas == ["dr.", "smith", "saw", "her"]
    assert artifacts.entities == [] and engine.get_supported_entities() == []
    assert not any(m.startswith("en_core_web") for m in sys.modules)
