"""Fixtures of the free-text redactor tests."""

from __future__ import annotations

import pytest

from deid.text import NameModel, TextRedactor
from training.phi_corpus import name_pool


@pytest.fixture(scope="session")
def redactor() -> TextRedactor:
    """One redactor with the default settings (it keeps no state between calls)."""
    return TextRedactor()


@pytest.fixture(scope="session")
def name_model() -> NameModel:
    """The shipped name model."""
    return NameModel.load()


@pytest.fixture(scope="module")
def eval_names() -> tuple[list[str], list[str]]:
    """(first names, last names) of the evaluation half; the corpus draws them from Faker's
    lists (a dev dependency)."""
    pytest.importorskip("faker")
    pool = name_pool("eval")
    first = sorted({n for names in pool.first.values() for n in names})
    last = sorted({n for names in pool.last.values() for n in names})
    return first, last
