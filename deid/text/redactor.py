"""Free-text PHI redaction (report text, clinical notes, DICOM text attributes), offline.

Built on Microsoft Presidio's AnalyzerEngine with no statistical NLP model: the NLP engine is a
blank spaCy English tokenizer (Presidio's context-word enhancer still works on its tokens), and
every detector is a small Presidio recognizer class:

* recognizers/ (one module per family, see recognizers/__init__.py): identifiers.py (MRN,
  accession and other identifiers, DICOM UIDs, SSN), contact.py (phone/fax/pager, e-mail, URL,
  IP address), dates.py (dates in many formats, not durations or measurements; ages over 89),
  places.py (street addresses / PO boxes / "City, ST ZIP", city names after residence words,
  facility names), names.py (person names after titles and context words: "Dr. X", "signed by
  X", "discussed with X", "X, MD", "X was notified", "daughter X", ...; and a character n-gram
  name model, model.py, for capitalised words that look like names and have no context at all);
* context.py: a per-study deny-list built from the DICOM header of the same study
  (`StudyContext`): the patient's and physicians' names in all their written forms, IDs, dates,
  phone numbers, addresses and the institution;
* base.py (entity types, the rule recognizer base, the NLP engine), lexicon.py (clinical
  vocabulary), name_scan.py (name scanning), settings.py (`TextRedactorSettings`).

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
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from presidio_analyzer import AnalyzerEngine, EntityRecognizer, RecognizerRegistry, RecognizerResult
from presidio_analyzer.context_aware_enhancers import LemmaContextAwareEnhancer

from deid.text.base import (
    LANG,
    PERSON,
    BlankSpacyNlpEngine,
    TextRedactionError,
)
from deid.text.context import StudyContext
from deid.text.model import NameModel
from deid.text.recognizers import default_recognizers
from deid.text.settings import TextRedactorSettings

__all__ = ["Entity", "RedactedText", "TextRedactor", "redact_jsonl"]  # the package re-exports the rest


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


class TextRedactor:
    """Finds and replaces PHI in free text. Build once and reuse: building loads Presidio and
    the name model (about a second; importing Presidio takes longer where torch is installed).
    Analysis keeps no state between calls.

    model: the name model; None loads the shipped one (data/name_model.npz).
    """

    def __init__(self, settings: TextRedactorSettings | None = None, *, model: NameModel | None = None) -> None:
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
