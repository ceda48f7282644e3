"""bench/ids.py on a small run: every table is there, rates are rates, the JSON matches the text."""

from __future__ import annotations

import json
import re

import pytest

from bench import ids
from bench.ids_corpus import evaluation_corpus
from bench.ids_corpus_blind import ATTACKS as BLIND_ATTACKS
from bench.ids_corpus_blind import blind_corpus
from ids.normalize import normalise
from tests.conftest import REPO
from training.injection_corpus import FAMILIES, TEMPLATES, training_corpus

CLASSIFIER = REPO / "models" / "ids-injection"


@pytest.fixture(scope="module")
def quick(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, dict]:
    work = tmp_path_factory.mktemp("bench-ids")
    out, js = work / "ids.md", work / "ids.json"
    assert ids.main(["--quick", "--workdir", str(work), "--write", str(out), "--json", str(js)]) == 0
    return out.read_text(), json.loads(js.read_text())


def test_every_table_of_the_readme_is_printed(quick: tuple[str, dict]) -> None:
    text, _ = quick
    assert "development held-out corpus" in text and "blind corpus" in text
    assert "| baseline (4 rules) |" in text and "| validator |" in text
    assert "validation pass rate" in text
    if (CLASSIFIER / "manifest.json").is_file():
        assert text.count("| rules + classifier (appliance) |") == 2


def test_rates_are_rates_and_the_json_agrees_with_the_markdown(quick: tuple[str, dict]) -> None:
    text, data = quick
    rules = data["inputs"]["rules"]
    assert rules["totals"]["clean"] == 4 * 20 and all(rules["totals"][f] == 20 for f in FAMILIES)
    for tally in [*data["inputs"].values(), *data["inputs_blind"].values(), *data["reports"].values()]:
        assert all(0.0 <= r <= 1.0 for r in tally["rates"].values())
        assert tally["latency_ms"]["median"] > 0
    row = re.search(r"^\| rules \| ([\d.]+) %", text, re.M)
    assert row and float(row.group(1)) == pytest.approx(100 * rules["rates"]["override"], abs=0.05)
    # The new validator catches what the four old rules catch, and more.
    assert data["reports"]["validator"]["rates"]["phi"] >= data["reports"]["baseline (4 rules)"]["rates"]["phi"]
    demo = data["demo"]["demo"]
    assert demo["totals"] == {"consistent": 16, "empty": 16}


def test_the_two_held_out_corpora_share_no_template_with_training() -> None:
    """No attack template of either evaluation corpus (normalised) is a training template, and no
    evaluation text occurs in a training corpus of the same size."""
    training = {normalise(t).text for t in TEMPLATES}
    blind = [t for by_language in BLIND_ATTACKS.values() for texts in by_language.values() for t in texts]
    assert not training & {normalise(t).text for t in blind}
    train_texts = {s.text for s in training_corpus(1, 300)}
    for corpus in (evaluation_corpus(900_001, 100), blind_corpus(910_001, 100)):
        assert not train_texts & {s.text for s in corpus if s.label == 1}


def test_the_corpora_are_deterministic_and_balanced() -> None:
    a, b = blind_corpus(5, 14), blind_corpus(5, 14)
    assert a == b
    assert sum(s.label for s in a) == 4 * 14 and sum(1 - s.label for s in a) == 4 * 14
    assert {s.language for s in a} == {"en", "de", "fr", "es", "it", "nl", "pt"}


def test_the_bench_has_a_readme_line() -> None:
    assert "python -m bench.ids" in (REPO / "README.md").read_text()
