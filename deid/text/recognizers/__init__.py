"""The recognizers of the free-text redactor (see deid/text/), one module per family.

Contract: `default_recognizers(model, settings)` is the registry of `TextRedactor`, in this
order (results of equal span and score are typed by the first): the rule recognizers of
`RULE_RECOGNIZERS` (identifiers, contact, dates and ages, places), then
`PersonContextRecognizer`, then `NameModelRecognizer` when a name model is loaded and
`settings.use_name_model` is set. The per-study deny-list (`deid.text.context`) is not part of
it: the redactor adds it per call.

* identifiers.py: MRN, accession numbers, other identifiers (labelled, DICOM UIDs, long
  numbers), SSN;
* contact.py: phone/fax/pager numbers, e-mail addresses, URLs, IP addresses;
* dates.py: dates in many formats (not durations or measurements), ages over 89;
* places.py: street addresses, PO boxes, "City, ST ZIP", city names after residence words,
  facility names;
* names.py: person names after or before context words, and the context-free name model.
"""

from __future__ import annotations

from collections.abc import Callable

from presidio_analyzer import EntityRecognizer

from deid.text.base import Recognizer
from deid.text.model import NameModel
from deid.text.recognizers.contact import EmailRecognizer, IpAddressRecognizer, PhoneRecognizer, UrlRecognizer
from deid.text.recognizers.dates import AgeOver89Recognizer, DateRecognizer
from deid.text.recognizers.identifiers import (
    AccessionRecognizer,
    IdentifierRecognizer,
    MrnRecognizer,
    SsnRecognizer,
)
from deid.text.recognizers.names import NameModelRecognizer, PersonContextRecognizer
from deid.text.recognizers.places import (
    FacilityRecognizer,
    LocationContextRecognizer,
    StreetAddressRecognizer,
)
from deid.text.settings import TextRedactorSettings

__all__ = [
    "RULE_RECOGNIZERS",
    "AccessionRecognizer",
    "AgeOver89Recognizer",
    "DateRecognizer",
    "EmailRecognizer",
    "FacilityRecognizer",
    "IdentifierRecognizer",
    "IpAddressRecognizer",
    "LocationContextRecognizer",
    "MrnRecognizer",
    "NameModelRecognizer",
    "PersonContextRecognizer",
    "PhoneRecognizer",
    "SsnRecognizer",
    "StreetAddressRecognizer",
    "UrlRecognizer",
    "default_recognizers",
]

#: The recognizer classes that take no argument, in registry order.
RULE_RECOGNIZERS: tuple[Callable[[], Recognizer], ...] = (
    MrnRecognizer,
    AccessionRecognizer,
    IdentifierRecognizer,
    SsnRecognizer,
    PhoneRecognizer,
    EmailRecognizer,
    UrlRecognizer,
    IpAddressRecognizer,
    DateRecognizer,
    AgeOver89Recognizer,
    StreetAddressRecognizer,
    LocationContextRecognizer,
    FacilityRecognizer,
)


def default_recognizers(model: NameModel | None, settings: TextRedactorSettings) -> list[EntityRecognizer]:
    """The recognizers of the registry (the study deny-list is added per call)."""
    recs: list[EntityRecognizer] = [cls() for cls in RULE_RECOGNIZERS]
    recs.append(PersonContextRecognizer(model, weak_threshold=settings.context_weak_threshold))
    if model is not None and settings.use_name_model:
        recs.append(
            NameModelRecognizer(
                model,
                single_threshold=settings.name_single_threshold,
                multi_threshold=settings.name_multi_threshold,
                initial_threshold=settings.name_sentence_start_threshold,
                line_threshold=settings.name_line_threshold,
            )
        )
    return recs
