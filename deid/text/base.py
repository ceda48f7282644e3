"""Shared ground of the free-text redactor's recognizers (see deid/text/).

Contract:

* Entity types: the redactor emits only the types of `DEFAULT_ENTITIES`; `LANG` ("en") is the
  only language. `TextRedactionError` is raised for bad input and never carries the text.
* `Recognizer` is the base of every recognizer of the package: a Presidio `EntityRecognizer`
  with nothing to load. Its results are built with `make_result`, which tags each result with
  the recognizer's name and id (Presidio's context enhancer finds the recognizer by that id).
* `RuleRecognizer` is a recognizer defined by a table of `PatternRule`s for one entity type:
  regexes of the `regex` module, case-sensitive unless a group says `(?i:...)`. A rule reports
  its named group `v` (or the whole match when it has none) as `ENTITY`, and each group
  `v_<TYPE>` as an entity of that type; trailing punctuation is trimmed from every span.
  Subclasses may override `accept` to veto or narrow a match.
* `BlankSpacyNlpEngine` is the NLP engine: spaCy's blank English tokenizer, no NER, no model
  to load or download.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import Any, ClassVar

import regex as re
from presidio_analyzer import AnalysisExplanation, EntityRecognizer, RecognizerResult
from presidio_analyzer.nlp_engine import NlpArtifacts, SpacyNlpEngine

from deid.errors import DeidError

PERSON = "PERSON"
DATE = "DATE"
AGE = "AGE"
MRN = "MRN"
ACCESSION = "ACCESSION"
ID = "ID"
SSN = "SSN"
PHONE = "PHONE"
EMAIL = "EMAIL"
URL = "URL"
IP_ADDRESS = "IP_ADDRESS"
ADDRESS = "ADDRESS"
LOCATION = "LOCATION"
FACILITY = "FACILITY"

#: Every entity type the redactor emits.
DEFAULT_ENTITIES: tuple[str, ...] = (
    PERSON,
    DATE,
    AGE,
    MRN,
    ACCESSION,
    ID,
    SSN,
    PHONE,
    EMAIL,
    URL,
    IP_ADDRESS,
    ADDRESS,
    LOCATION,
    FACILITY,
)

#: The only language: clinical English.
LANG = "en"


class TextRedactionError(DeidError):
    """Bad input to the free-text redactor (never carries the text itself)."""


# -- recognizer base ------------------------------------------------------------------------------


class Recognizer(EntityRecognizer):
    """Base of the package's recognizers: nothing to load, and a `name` typed as the string
    Presidio always sets it to (the class name unless the constructor names it)."""

    name: str

    def load(self) -> None:
        pass


def make_result(recognizer: Recognizer, entity: str, start: int, end: int, score: float) -> RecognizerResult:
    """A Presidio result tagged with its recognizer (the context enhancer needs both)."""
    return RecognizerResult(
        entity_type=entity,
        start=start,
        end=end,
        score=score,
        analysis_explanation=AnalysisExplanation(recognizer=recognizer.name, original_score=score),
        recognition_metadata={
            RecognizerResult.RECOGNIZER_NAME_KEY: recognizer.name,
            RecognizerResult.RECOGNIZER_IDENTIFIER_KEY: recognizer.id,
        },
    )


@dataclass(frozen=True)
class PatternRule:
    """One regex of a `RuleRecognizer`. The reported span is the named group `v` when the regex
    has one, else the whole match; groups named `v_<TYPE>` report extra spans of that type."""

    name: str
    pattern: str
    score: float
    flags: int = 0

    def compiled(self) -> re.Pattern[str]:
        return _compile(self.pattern, self.flags)


@cache
def _compile(pattern: str, flags: int) -> re.Pattern[str]:
    return re.compile(pattern, flags)


class RuleRecognizer(Recognizer):
    """A Presidio recognizer defined by a table of `PatternRule`s for one entity type.

    Subclasses set ENTITY and RULES and may override `accept` to veto a match (None) or to
    narrow its span and scale its score ((start, end, factor)). CONTEXT words feed Presidio's
    context enhancer: a result with one of them among the five preceding words gains 0.35, which
    is how rules scored below the redactor's threshold (0.5) become detections.
    """

    ENTITY: ClassVar[str]
    RULES: ClassVar[tuple[PatternRule, ...]]
    CONTEXT: ClassVar[tuple[str, ...]] = ()
    _TRIM = ".,;:)]}>'\""

    def __init__(self) -> None:
        super().__init__(supported_entities=self._entities(), context=list(self.CONTEXT))
        self._compiled = [(r, r.compiled()) for r in self.RULES]

    @classmethod
    def _entities(cls) -> list[str]:
        found = {cls.ENTITY}
        for r in cls.RULES:
            found.update(re.findall(r"\(\?P<v_([A-Z_]+)>", r.pattern))
        return sorted(found)

    def accept(
        self, text: str, start: int, end: int, match: re.Match[str], rule: PatternRule
    ) -> tuple[int, int, float] | None:
        return start, end, 1.0

    def analyze(
        self, text: str, entities: list[str], nlp_artifacts: NlpArtifacts | None = None
    ) -> list[RecognizerResult]:
        out: list[RecognizerResult] = []
        for rule, rx in self._compiled:
            for m in rx.finditer(text):
                spans: list[tuple[str, int, int]] = []
                for gname, value in m.groupdict().items():
                    if value is None or not (gname == "v" or gname.startswith("v_")):
                        continue
                    etype = self.ENTITY if gname == "v" else gname[2:]
                    spans.append((etype, *m.span(gname)))
                if not spans and "v" not in rx.groupindex:
                    spans.append((self.ENTITY, *m.span()))
                for etype, s, e in spans:
                    while e > s and text[e - 1] in self._TRIM and not _keeps_final_dot(text, s, e):
                        e -= 1
                    if e <= s or etype not in entities:
                        continue
                    verdict = self.accept(text, s, e, m, rule)
                    if verdict is None:
                        continue
                    s, e, factor = verdict
                    if e > s:
                        out.append(make_result(self, etype, s, e, rule.score * factor))
        return out


def _keeps_final_dot(text: str, start: int, end: int) -> bool:
    # "Mar." / "J." keep their dot; a sentence period after a number or word does not matter.
    return text[end - 1] == "." and end - start <= 4 and text[start : end - 1].isalpha()


# -- NLP engine -----------------------------------------------------------------------------------


class BlankSpacyNlpEngine(SpacyNlpEngine):
    """Presidio NLP engine on spaCy's blank English pipeline: tokens and stop words, no NER and
    no model to load (so nothing can ever be downloaded). Lemmas are lower-cased tokens, which is
    all Presidio's context-word enhancer needs."""

    def __init__(self) -> None:
        super().__init__(models=[{"lang_code": LANG, "model_name": "blank:en"}])

    def load(self) -> None:
        import spacy

        self.nlp = {LANG: spacy.blank(LANG)}  # type: ignore[assignment]

    def get_supported_entities(self) -> list[str]:
        return []

    def _doc_to_nlp_artifact(self, doc: Any, language: str) -> NlpArtifacts:
        return NlpArtifacts(
            entities=[],
            tokens=doc,
            tokens_indices=[t.idx for t in doc],
            lemmas=[t.text.lower() for t in doc],
            nlp_engine=self,
            language=language,
            scores=[],
        )
