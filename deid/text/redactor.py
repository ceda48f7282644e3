"""Free-text PHI redaction (report text, clinical notes, DICOM text attributes), offline.

Built on Microsoft Presidio's AnalyzerEngine with no statistical NLP model: the NLP engine is a
blank spaCy English tokenizer (Presidio's context-word enhancer still works on its tokens), and
every detector is a small Presidio recognizer class:

* text_rules.py: rules for MRN, accession and other identifiers, SSN, phone/fax/pager, e-mail,
  URL, IP address, DICOM UIDs, dates in many formats (not durations or measurements), ages over
  89, street addresses / PO boxes / "City, ST ZIP", city names after residence words, facility
  names;
* text_names.py: person names after titles and context words ("Dr. X", "signed by X",
  "discussed with X", "X, MD", "X was notified", "daughter X", ...), and a character n-gram name
  model (text_model.py) for capitalised words that look like names and have no context at all;
* text_context.py: a per-study deny-list built from the DICOM header of the same study
  (`StudyContext`): the patient's and physicians' names in all their written forms, IDs, dates,
  phone numbers, addresses and the institution.

Overlapping detections merge into one span. Measured recall per PHI type: docs/phi-recall.md
(`python -m bench.phi_recall`).

Clinical vocabulary survives: tokens of `data/clinical_lexicon.txt` (anatomy, findings,
devices, drugs, eponyms such as Foley, Kerley, Hodgkin) are never names on their own, a
capitalised word followed by an eponym head noun ("X syndrome", "X catheter", "X sign") is never a
name, and date rules ignore durations and measurements. The header deny-list wins over all of
that: a patient named Foley has "Foley" redacted everywhere.

    redactor = TextRedactor()                        # build once: loads Presidio (seconds)
    ctx = StudyContext.from_dataset(ds)              # or StudyContext.from_mapping({...})
    redactor.redact(text, ctx).text                  # "... discussed with Dr. [PERSON] ..."
    cleaner = redactor.text_cleaner(ctx)             # str -> str, for Deidentifier(text_cleaner=)

Deterministic, no network (no spaCy model download is ever attempted), nothing logged about the
text. Entity offsets always refer to the original text.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from presidio_analyzer import (
    AnalyzerEngine,
    EntityRecognizer,
    RecognizerRegistry,
    RecognizerResult,
)
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

from deid.text.context import HEADER_FIELDS, StudyContext
from deid.text.model import NameModel
from deid.text.names import NameModelRecognizer, PersonContextRecognizer
from deid.text.rules import (
    ACCESSION,
    ADDRESS,
    AGE,
    DATE,
    DEFAULT_ENTITIES,
    EMAIL,
    FACILITY,
    ID,
    IP_ADDRESS,
    LANG,
    LOCATION,
    MRN,
    PERSON,
    PHONE,
    SSN,
    URL,
    AccessionRecognizer,
    AgeOver89Recognizer,
    BlankSpacyNlpEngine,
    DateRecognizer,
    EmailRecognizer,
    FacilityRecognizer,
    IdentifierRecognizer,
    IpAddressRecognizer,
    LocationContextRecognizer,
    MrnRecognizer,
    PhoneRecognizer,
    SsnRecognizer,
    StreetAddressRecognizer,
    TextRedactionError,
    UrlRecognizer,
)

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
    "RedactedText",
    "StudyContext",
    "TextRedactionError",
    "TextRedactor",
    "TextRedactorSettings",
    "default_recognizers",
    "redact_jsonl",
]


@dataclass(frozen=True)
class Entity:
    """A detected PHI span [start, end) of the original text."""

    type: str
    start: int
    end: int
    score: float

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: {"type", "start", "end", "score"} (score rounded to 4 places)."""
        return {
            "type": self.type,
            "start": self.start,
            "end": self.end,
            "score": round(self.score, 4),
        }


@dataclass(frozen=True)
class RedactedText:
    """The redacted text and the entities replaced, with offsets into the original text."""

    text: str
    entities: tuple[Entity, ...]


# -- the redactor ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class TextRedactorSettings:
    """How the redactor decides and what it writes.

    placeholder: the replacement; "{type}" in it becomes the entity type ("[PERSON]").
    placeholders: per-type replacements that override `placeholder` ({"DATE": "[**DATE**]"}).
    entities: the entity types to detect (a subset of DEFAULT_ENTITIES).
    score_threshold: minimum score of a detection.
    use_name_model: run the context-free name model (the context rules use it either way when
        it is loaded, to confirm weak contexts).
    name_single_threshold / name_sentence_start_threshold / name_multi_threshold /
        name_line_threshold: name-model probabilities needed for one word mid-sentence, one word
        at a sentence start, the mean over a run of two or more words, and that mean when the
        run is alone on its line (signature lines).
    context_weak_threshold: name-model probability that confirms a name after a weak context
        ("patient X", "with X", "X reports ...").
    """

    placeholder: str = "[{type}]"
    placeholders: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    entities: tuple[str, ...] = DEFAULT_ENTITIES
    score_threshold: float = 0.5
    use_name_model: bool = True
    name_single_threshold: float = 0.85
    name_sentence_start_threshold: float = 0.95
    name_multi_threshold: float = 0.6
    name_line_threshold: float = 0.3
    context_weak_threshold: float = 0.5

    def __post_init__(self) -> None:
        if not isinstance(self.placeholder, str):
            raise TextRedactionError("placeholder must be a string")
        unknown = [e for e in self.entities if e not in DEFAULT_ENTITIES]
        if unknown or not self.entities:
            raise TextRedactionError(f"entities must be a non-empty subset of {DEFAULT_ENTITIES}")
        for k, v in dict(self.placeholders).items():
            if k not in DEFAULT_ENTITIES or not isinstance(v, str):
                raise TextRedactionError("placeholders maps entity types to strings")
        for name in (
            "score_threshold",
            "name_single_threshold",
            "name_sentence_start_threshold",
            "name_multi_threshold",
            "name_line_threshold",
            "context_weak_threshold",
        ):
            v = getattr(self, name)
            if not isinstance(v, (int, float)) or not 0.0 <= float(v) <= 1.0:
                raise TextRedactionError(f"{name} must be within [0, 1]")
        object.__setattr__(self, "placeholders", MappingProxyType(dict(self.placeholders)))
        object.__setattr__(self, "entities", tuple(self.entities))

    def replacement(self, entity_type: str) -> str:
        """What replaces an entity of `entity_type`."""
        return self.placeholders.get(entity_type) or self.placeholder.replace("{type}", entity_type)


def default_recognizers(
    model: NameModel | None, settings: TextRedactorSettings
) -> list[EntityRecognizer]:
    """The recognizers of the registry (the study deny-list is added per call)."""
    recs: list[EntityRecognizer] = [
        MrnRecognizer(),
        AccessionRecognizer(),
        IdentifierRecognizer(),
        SsnRecognizer(),
        PhoneRecognizer(),
        EmailRecognizer(),
        UrlRecognizer(),
        IpAddressRecognizer(),
        DateRecognizer(),
        AgeOver89Recognizer(),
        StreetAddressRecognizer(),
        LocationContextRecognizer(),
        FacilityRecognizer(),
        PersonContextRecognizer(model, weak_threshold=settings.context_weak_threshold),
    ]
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


class TextRedactor:
    """Finds and replaces PHI in free text. Build once and reuse: building loads Presidio and
    the name model (about a second; importing Presidio takes longer where torch is installed).
    Analysis keeps no state between calls.

    model: the name model; None loads the shipped one (data/name_model.npz).
    """

    def __init__(
        self, settings: TextRedactorSettings | None = None, *, model: NameModel | None = None
    ) -> None:
        self.settings = settings or TextRedactorSettings()
        self._model = model if model is not None else NameModel.load()
        self._recognizers = default_recognizers(self._model, self.settings)
        registry = RecognizerRegistry(recognizers=self._recognizers, supported_languages=[LANG])
        self._engine = AnalyzerEngine(
            registry=registry,
            nlp_engine=BlankSpacyNlpEngine(),
            supported_languages=[LANG],
            default_score_threshold=self.settings.score_threshold,
            # Whole words only: the context word "ph" must not fire inside "lymph".
            context_aware_enhancer=LemmaContextAwareEnhancer(context_matching_mode="whole_word"),
        )

    def analyze(self, text: str, context: StudyContext | None = None) -> list[Entity]:
        """Non-overlapping PHI entities of `text`, sorted by position. Overlapping detections
        merge into one span, typed by the longest confident detection (rules and deny-list)."""
        if not isinstance(text, str):
            raise TextRedactionError("text must be a string")
        if context is not None and not isinstance(context, StudyContext):
            raise TextRedactionError("context must be a StudyContext")
        if not text.strip():
            return []
        ad_hoc: list[EntityRecognizer] | None = [context.recognizer()] if context else None
        results = self._engine.analyze(
            text=text,
            language=LANG,
            entities=list(self.settings.entities),
            ad_hoc_recognizers=ad_hoc,
            score_threshold=self.settings.score_threshold,
        )
        return _merge(text, results)

    def redact(self, text: str, context: StudyContext | None = None) -> RedactedText:
        """`text` with every entity replaced by its placeholder (see TextRedactorSettings)."""
        entities = self.analyze(text, context)
        pieces: list[str] = []
        last = 0
        for ent in entities:
            pieces.append(text[last : ent.start])
            pieces.append(self.settings.replacement(ent.type))
            last = ent.end
        pieces.append(text[last:])
        return RedactedText("".join(pieces), tuple(entities))

    def text_cleaner(self, context: StudyContext | None = None) -> Callable[[str], str]:
        """A str -> str function for `Deidentifier(text_cleaner=...)`; pass the study's context
        (from the original dataset) so that header values are redacted wherever they appear."""

        def clean(value: str) -> str:
            return self.redact(value, context).text

        return clean


def _merge(text: str, results: Iterable[RecognizerResult]) -> list[Entity]:
    """Union of overlapping results, one Entity per connected cluster."""
    ordered = sorted(results, key=lambda r: (r.start, -r.end))
    clusters: list[list[RecognizerResult]] = []
    end = -1
    for r in ordered:
        if r.end <= r.start:
            continue
        if clusters and r.start < end:
            clusters[-1].append(r)
            end = max(end, r.end)
        else:
            clusters.append([r])
            end = r.end
    out = []
    for c in clusters:
        # Confident detections (rules, deny-list) name the type; among them the longest wins.
        best = max(c, key=lambda r: (r.score >= 0.85, r.end - r.start, r.score))
        start, end = min(r.start for r in c), max(r.end for r in c)
        if best.entity_type == PERSON and text[end - 2 : end] in ("'s", "\u2019s"):
            end -= 2  # "Joshua Sims's request": the possessive is not part of the name
        out.append(Entity(best.entity_type, start, end, float(best.score)))
    return out


# -- JSON lines -----------------------------------------------------------------------------------


def redact_jsonl(lines: Iterable[str], redactor: TextRedactor) -> Iterator[str]:
    """Redact a stream of JSON lines, one output line per input line, in order.

    Input: {"text": "...", "context": {<DICOM keyword>: value, ...}?, "id": any?}. Output:
    {"text": <redacted>, "entities": [{"type", "start", "end", "score"}, ...]} with offsets into
    the ORIGINAL text (and "id" echoed when given), or {"error": "line N: <reason>"} for a line
    that cannot be processed (not JSON, not an object, no string "text", bad "context", empty
    line). Error messages never quote the input.
    """
    for number, raw in enumerate(lines, start=1):
        if not isinstance(raw, str):
            yield json.dumps({"error": f"line {number}: not text"})
            continue
        line = raw.strip()
        if not line:
            yield json.dumps({"error": f"line {number}: empty line"})
            continue
        try:
            obj = json.loads(line)
        except ValueError:
            yield json.dumps({"error": f"line {number}: not JSON"})
            continue
        if not isinstance(obj, dict):
            yield json.dumps({"error": f"line {number}: expected a JSON object"})
            continue
        text = obj.get("text")
        if not isinstance(text, str):
            yield json.dumps({"error": f'line {number}: "text" must be a string'})
            continue
        context = None
        if obj.get("context") is not None:
            try:
                context = StudyContext.from_mapping(obj["context"])
            except TextRedactionError as exc:
                yield json.dumps({"error": f"line {number}: {exc}"})
                continue
        try:
            result = redactor.redact(text, context)
        except TextRedactionError as exc:
            yield json.dumps({"error": f"line {number}: {exc}"})
            continue
        out: dict[str, Any] = {
            "text": result.text,
            "entities": [e.to_dict() for e in result.entities],
        }
        if "id" in obj:
            out["id"] = obj["id"]
        yield json.dumps(out, ensure_ascii=False)
