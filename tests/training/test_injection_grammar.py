"""The training corpus's slot grammar and the corpus built with it."""

from __future__ import annotations

import random
import re

import pytest

from training import injection_grammar as grammar
from training.injection_corpus import CLEAN, EXTRA_CLEAN, FAMILIES, LANGUAGES, training_corpus

SLOT = re.compile(r"\{[a-z]+\}")


@pytest.mark.parametrize("family", FAMILIES)
@pytest.mark.parametrize("language", LANGUAGES)
def test_every_family_and_language_composes_filled_attacks_with_their_pattern_key(family: str, language: str) -> None:
    rng = random.Random(f"{family}-{language}")
    for _ in range(30):
        text, key = grammar.attack(family, language, rng)
        assert text and not SLOT.search(text), text
        assert re.fullmatch(rf"grammar:{family}:{language}:\d+", key)


@pytest.mark.parametrize("language", LANGUAGES)
def test_trigger_word_sentences_compose_in_every_language(language: str) -> None:
    rng = random.Random(language)
    texts = {grammar.tricky(language, rng)[0] for _ in range(40)}
    assert len(texts) > 10 and not any(SLOT.search(t) for t in texts)


def test_clinical_sentences_come_from_the_projects_own_writers() -> None:
    rng = random.Random(3)
    texts = {grammar.clinical(rng)[0] for _ in range(50)}
    assert len(texts) > 20 and all(t.endswith(".") or t.endswith("?") or t[-1].isalnum() for t in texts)


def test_composition_is_deterministic_for_a_seed() -> None:
    def draw(seed: int) -> list[tuple[str, str]]:
        rng = random.Random(seed)
        return [grammar.attack("override", "en", rng) for _ in range(5)] + [grammar.tricky("de", rng)]

    assert draw(7) == draw(7) and draw(7) != draw(8)


def test_the_training_corpus_has_the_extra_clean_share_and_composed_texts() -> None:
    samples = training_corpus(2, 40)
    attacks = [s for s in samples if s.label == 1]
    clean = [s for s in samples if s.family == CLEAN]
    assert len(attacks) == 4 * 40 and len(clean) == (1 + EXTRA_CLEAN) * len(attacks)
    assert any(s.template.startswith("grammar:") for s in attacks)
    assert any(s.template.startswith("grammar:") for s in clean)
    assert training_corpus(2, 40) == samples


def test_no_clean_test_case_is_in_the_training_corpus() -> None:
    """The hand-written clean indications of tests/ids/injection/cases.py measure the classifier on
    text it never saw: none of them (normalised, without its final full stop) is part of a training
    text. Except the issue's own three examples, which the training corpus's trigger-word sentences
    hold on purpose (the specification says they must pass)."""
    from ids.normalize import normalise
    from tests.ids.injection.cases import CLEAN as CLEAN_CASES

    texts = [normalise(s.text).text for s in training_corpus(1, 600) if s.family == CLEAN]
    joined = "\n".join(texts)
    spec = {
        "ignore the prior film, it was mislabeled",
        "system upgrade of the portable unit",
        "repeat per protocol override",
    }
    leaked = [c for c in CLEAN_CASES if c not in spec and normalise(c).text.rstrip(".") in joined]
    assert not leaked
