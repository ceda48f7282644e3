"""The name model (deid/text/model.py): folding, the shipped weights, the training split."""

from __future__ import annotations

from pathlib import Path

import pytest

from deid.text import NameModel, fold
from training.phi_corpus import name_pool


@pytest.mark.parametrize(
    ("token", "expected"),
    [("José", "jose"), ("O'Neil", "o'neil"), ("Jean-Luc", "jean-luc"), ("X1.", "x"), ("ÅSA", "asa"), ("", "")],
)
def test_fold(token: str, expected: str) -> None:
    assert fold(token) == expected


def test_shipped_model_loads_and_separates_names_from_words(name_model: NameModel) -> None:
    assert name_model.probability("Oluwaseun") > 0.5 > name_model.probability("consolidation")
    assert name_model.probability("OKAFOR") == name_model.probability("okafor")  # folded features


def test_model_training_tokens_exclude_eval_names() -> None:
    pytest.importorskip("faker")
    words = Path("/usr/share/dict/words")
    if not words.exists():
        pytest.skip("no English word list (Debian package wamerican) to rebuild the training set")
    from training.phi_name_model import training_tokens

    positives, _ = training_tokens(words)
    assert not {fold(p) for p in positives} & name_pool("eval").tokens()
