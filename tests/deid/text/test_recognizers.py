"""The default recognizers (deid/text/recognizers/__init__.py) and the package's public names
(deid/text/__init__.py)."""

from __future__ import annotations

import subprocess
import sys

import pytest

import deid.text
from deid.text import DEFAULT_ENTITIES, NameModel, TextRedactorSettings, default_recognizers
from deid.text.recognizers import RULE_RECOGNIZERS
from tests.conftest import REPO

#: The registry order: results of equal span and score are typed by the earlier recognizer.
ORDER = [
    "MrnRecognizer",
    "AccessionRecognizer",
    "IdentifierRecognizer",
    "SsnRecognizer",
    "PhoneRecognizer",
    "EmailRecognizer",
    "UrlRecognizer",
    "IpAddressRecognizer",
    "DateRecognizer",
    "AgeOver89Recognizer",
    "StreetAddressRecognizer",
    "LocationContextRecognizer",
    "FacilityRecognizer",
    "PersonContextRecognizer",
    "NameModelRecognizer",
]


@pytest.mark.parametrize(
    ("with_model", "use_name_model", "expected"),
    [(True, True, ORDER), (True, False, ORDER[:-1]), (False, True, ORDER[:-1])],
)
def test_default_recognizers(
    name_model: NameModel, with_model: bool, use_name_model: bool, expected: list[str]
) -> None:
    recs = default_recognizers(name_model if with_model else None, TextRedactorSettings(use_name_model=use_name_model))
    assert [r.name for r in recs] == expected
    assert [factory().name for factory in RULE_RECOGNIZERS] == ORDER[:13]


def test_default_recognizers_cover_every_entity_type(name_model: NameModel) -> None:
    recs = default_recognizers(name_model, TextRedactorSettings())
    assert {e for r in recs for e in r.supported_entities} == set(DEFAULT_ENTITIES)


def test_package_exports_resolve_to_their_modules() -> None:
    from deid.text import redactor

    for name in deid.text.__all__:
        assert getattr(deid.text, name) is not None, name
    assert deid.text.TextRedactor is redactor.TextRedactor
    assert set(deid.text.__all__) <= set(dir(deid.text))
    with pytest.raises(AttributeError):
        deid.text.__getattr__("NoSuchName")


def test_importing_the_package_does_not_load_presidio() -> None:
    """Presidio and spaCy take seconds to import (and pull torch where it is installed): the
    package, its name model and vocabulary load without them; they come with the redactor."""
    code = (
        "import sys, deid.text, deid.text.model, deid.text.lexicon\n"
        "assert not {'presidio_analyzer', 'spacy'} & set(sys.modules), 'eager import'\n"
        "from deid.text import PERSON, TextRedactor\n"
        "assert 'presidio_analyzer' in sys.modules and PERSON == 'PERSON'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
