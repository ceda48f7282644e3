"""Injected-output markers: text a radiology report never contains but a derailed or injected
model writes.

Codes:
- "output-meta-talk": the model talking about itself or to a user ("as an AI", "language model",
  "I cannot", "I'm sorry", "sure, here is", "I am unable", "I apologize", "let me know if"), read on
  the normalised text (ids.normalize: case, confusables, zero-width and spacing tricks, leetspeak)
  and on every payload decoded from it.
- "output-markup": HTML/XML tags (also when entity-encoded), markdown code fences, headers, bold
  or links, JSON objects, chat-template tokens ("<|im_start|>", "[INST]", "<<SYS>>", a
  "system:" / "assistant:" role prefix). Read on the text after HTML unescaping and NFKC only: the
  normaliser's own tag tokens would turn "right < left ... >" into a tag. Comparison signs in
  measurements ("< 5 mm", "<1 cm") are not tags.
- "output-instruction": the input side's injection rules (ids.injection.rules.DEFAULT_RULES, the
  families override, role, exfiltration, dictation) fire on the normalised report or on a payload
  decoded from it: an instruction in a report is a marker of an injection that reached the model.
  The reason names the families.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ids.normalize import Normalised, normalise
from ids.report.base import Draft, ValidationContext, Violation, report_text

if TYPE_CHECKING:
    from ids.injection.rules import InjectionRule

_APOS = r"(?:'|\u2019|`)"
_META_TALK = re.compile(
    r"\b(?:as an? (?:ai|artificial intelligence|language model|llm|assistant|chatbot|radiology assistant)"
    r"|(?:large )?language models?|an ai (?:model|assistant|system)|chat ?gpt|openai"
    rf"|i (?:cannot|can ?not|can{_APOS}?t|am unable|{_APOS}m unable|am not able|{_APOS}m not able|won{_APOS}?t be able)"
    rf"|i{_APOS}?m sorry|i am sorry|sorry,? (?:but )?i\b|i apologi[sz]e"
    rf"|sure[,!.]? here(?: is|{_APOS}s)|certainly[,!.]? here(?: is|{_APOS}s)"
    r"|here is (?:the|a|your) (?:draft |generated |requested )?report"
    r"|i do not have (?:access|the ability)|i don.?t have (?:access|the ability)"
    r"|i hope this helps|let me know if|my (?:training|knowledge) (?:data|cutoff))"
)

_TAG = re.compile(r"</?[a-zA-Z][\w:-]{0,30}(?:\s+[\w:-]+(?:\s*=\s*(?:\"[^\"]*\"|'[^']*'|[^\s<>]+))?)*\s*/?>")
_MARKUP: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("an HTML/XML tag", _TAG),
    ("a markdown code fence", re.compile(r"```|~~~")),
    ("a markdown header", re.compile(r"(?m)(?:^|[.!?:]\s+)#{1,6} +\S")),
    (
        "markdown emphasis or a link",
        re.compile(r"\*\*[^*\n]{1,80}\*\*|__[^_\n]{1,80}__|\[[^\]\n]{1,80}\]\([^)\s]{1,200}\)"),
    ),
    ("a JSON object", re.compile(r"\{\s*\"[^\"\n]{1,40}\"\s*:|\[\s*\{\s*\"")),
    (
        "a chat-template token",
        re.compile(
            r"<\|[^|<>\n]{1,40}\|>|\[/?inst\]|<</?sys>>|\[/?(?:system|user|assistant)\]"
            r"|(?:^|[.!?\n]\s*)(?:system|user|assistant|human)\s*:",
            re.I,
        ),
    ),
)


def _views(n: Normalised) -> tuple[str, ...]:
    return (n.text, n.despaced, *n.decoded)


@dataclass(frozen=True)
class MetaTalk:
    """The model talking about itself (see the module docstring)."""

    code: str = "output-meta-talk"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        n = normalise(report_text(draft))
        if any(_META_TALK.search(view) for view in _views(n)):
            return [Violation(self.code, "report contains model meta-talk")]
        return []


@dataclass(frozen=True)
class Markup:
    """Markup or chat-template tokens in the report (see the module docstring)."""

    code: str = "output-markup"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        raw = report_text(draft)
        text = unicodedata.normalize("NFKC", html.unescape(html.unescape(raw)))
        return [Violation(self.code, f"report contains {what}") for what, pattern in _MARKUP if pattern.search(text)]


def _injection_rules() -> tuple[Any, ...]:
    from ids.injection.rules import DEFAULT_RULES

    return tuple(DEFAULT_RULES)


@dataclass(frozen=True)
class OutputInstruction:
    """The input side's injection rules fire on the report (see the module docstring).

    rules: the injection rules to run; None uses ids.injection.rules.DEFAULT_RULES (imported on
    first use; if that import fails the validator records "rule-error": fail closed)."""

    rules: Sequence[InjectionRule] | None = None
    code: str = "output-instruction"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        rules = self.rules if self.rules is not None else _injection_rules()
        n = normalise(report_text(draft))
        # Each decoded payload is a view of its own, as the input side's detector reads it.
        views = (n, *(normalise(payload) for payload in n.decoded))
        families = sorted({rule.family for rule in rules for view in views if rule.check(view)})
        if families:
            return [Violation(self.code, f"report contains an instruction ({', '.join(families)})")]
        return []
