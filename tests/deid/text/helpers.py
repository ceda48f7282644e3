"""Helpers of the free-text redactor tests: what a recognizer or the redactor finds in a text."""

from __future__ import annotations

from presidio_analyzer import EntityRecognizer

from deid.text import DEFAULT_ENTITIES, StudyContext, TextRedactor


def detect(recognizer: EntityRecognizer, text: str) -> list[tuple[str, str]]:
    """(entity type, covered text) of each raw result of one recognizer, in text order; a span
    that several rules of the recognizer report appears once."""
    results = recognizer.analyze(text, list(DEFAULT_ENTITIES), None)
    spans = sorted({(r.start, r.end, r.entity_type) for r in results}, key=lambda s: (s[0], -s[1], s[2]))
    return [(etype, text[s:e]) for s, e, etype in spans]


def best_score(recognizer: EntityRecognizer, text: str, span: str) -> float:
    """The highest raw score the recognizer gives to the first occurrence of `span`."""
    start = text.index(span)
    results = recognizer.analyze(text, list(DEFAULT_ENTITIES), None)
    scores = [r.score for r in results if (r.start, r.end) == (start, start + len(span))]
    assert scores, f"{span!r} not reported: {detect(recognizer, text)}"
    return max(scores)


def found(redactor: TextRedactor, text: str, context: StudyContext | None = None) -> list[tuple[str, str]]:
    """(entity type, covered text) of each entity the redactor reports."""
    return [(e.type, text[e.start : e.end]) for e in redactor.analyze(text, context)]


def covered(redactor: TextRedactor, text: str, phi: str) -> bool:
    """Every alphanumeric character of the first occurrence of `phi` lies in some entity."""
    start = text.index(phi)
    entities = redactor.analyze(text)
    return all(any(e.start <= i < e.end for e in entities) for i in range(start, start + len(phi)) if text[i].isalnum())
