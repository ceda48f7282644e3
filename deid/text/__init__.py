"""Free-text de-identification: Presidio on a blank spaCy pipeline with the project's recognizers.

    from deid.text import StudyContext, TextRedactor
    TextRedactor().redact(text, StudyContext.from_dataset(ds)).text

Modules: redactor.py (`TextRedactor`, `redact_jsonl`, the public entry), settings.py
(`TextRedactorSettings`), context.py (`StudyContext`, the per-study deny-list), recognizers/
(one module per recognizer family), base.py (entity types, the recognizer base classes, the NLP
engine), lexicon.py (clinical vocabulary), name_scan.py (name scanning), model.py (the
character n-gram name model).

The names below are loaded on first use: importing `deid.text` (or `deid.text.model`) does not
import Presidio or spaCy, which take seconds (and import torch where it is installed).
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from deid.text.base import (
        ACCESSION,
        ADDRESS,
        AGE,
        DATE,
        DEFAULT_ENTITIES,
        EMAIL,
        FACILITY,
        ID,
        IP_ADDRESS,
        LOCATION,
        MRN,
        PERSON,
        PHONE,
        SSN,
        URL,
        TextRedactionError,
    )
    from deid.text.context import HEADER_FIELDS, StudyContext
    from deid.text.lexicon import is_lexical
    from deid.text.model import NameModel, fold
    from deid.text.recognizers import default_recognizers
    from deid.text.redactor import Entity, RedactedText, TextRedactor, redact_jsonl
    from deid.text.settings import TextRedactorSettings

__all__ = [
    "ACCESSION",
    "ADDRESS",
    "AGE",
    "DATE",
    "DEFAULT_ENTITIES",
    "EMAIL",
    "FACILITY",
    "HEADER_FIELDS",
    "ID",
    "IP_ADDRESS",
    "LOCATION",
    "MRN",
    "PERSON",
    "PHONE",
    "SSN",
    "URL",
    "Entity",
    "NameModel",
    "RedactedText",
    "StudyContext",
    "TextRedactionError",
    "TextRedactor",
    "TextRedactorSettings",
    "default_recognizers",
    "fold",
    "is_lexical",
    "redact_jsonl",
]

_MODULES: dict[str, tuple[str, ...]] = {
    "deid.text.base": (
        "ACCESSION",
        "ADDRESS",
        "AGE",
        "DATE",
        "DEFAULT_ENTITIES",
        "EMAIL",
        "FACILITY",
        "ID",
        "IP_ADDRESS",
        "LOCATION",
        "MRN",
        "PERSON",
        "PHONE",
        "SSN",
        "URL",
        "TextRedactionError",
    ),
    "deid.text.context": ("HEADER_FIELDS", "StudyContext"),
    "deid.text.lexicon": ("is_lexical",),
    "deid.text.model": ("NameModel", "fold"),
    "deid.text.recognizers": ("default_recognizers",),
    "deid.text.redactor": ("Entity", "RedactedText", "TextRedactor", "redact_jsonl"),
    "deid.text.settings": ("TextRedactorSettings",),
}
_SOURCE = {name: module for module, names in _MODULES.items() for name in names}


def __getattr__(name: str) -> Any:
    module = _SOURCE.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value  # resolved once
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
