"""Settings of the free-text redactor (see deid/text/).

Contract: `TextRedactorSettings` is immutable and validated on construction: an invalid
setting raises `TextRedactionError` naming the setting, never a text. Every threshold lies in
[0, 1]; `entities` is a non-empty subset of `DEFAULT_ENTITIES`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from deid.text.base import DEFAULT_ENTITIES, TextRedactionError


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
