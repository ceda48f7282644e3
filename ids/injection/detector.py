"""The injection detector: rules on every view of a text, and the project's classifier when given.

Contract: `InjectionDetector.screen(text)` returns a `Screening` whose `reasons` are sorted, unique
reason codes and whose `verdict` is "withhold" exactly when there is a reason. It never raises for
any `str` (a rule or classifier failure is a bug and propagates; normalisation never raises).

Views: the normalised text and its despaced form, then each decoded payload (its own text and
despaced form). A rule that fires only on a payload adds "injection-encoded" to its family's code.
The classifier scores the original text; "injection-classifier" when its probability reaches the
classifier's threshold. An input longer than `ids.normalize.MAX_CHARS` is withheld as
"input-too-long": its tail was not analysed and must not reach the model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from ids.injection.rules import DEFAULT_RULES, ENCODED_CODE, InjectionRule
from ids.normalize import Normalised, normalise, payload_view

if TYPE_CHECKING:
    from ids.injection.classifier import InjectionClassifier

__all__ = ["CLASSIFIER_CODE", "TOO_LONG_CODE", "InjectionDetector", "Screening"]

CLASSIFIER_CODE = "injection-classifier"
TOO_LONG_CODE = "input-too-long"


@dataclass(frozen=True)
class Screening:
    """The detector's answer for one text: reason codes only, never the text."""

    verdict: Literal["pass", "withhold"]
    reasons: tuple[str, ...]

    @classmethod
    def of(cls, reasons: set[str]) -> Screening:
        """The screening for a set of reason codes (sorted; "withhold" iff any)."""
        ordered = tuple(sorted(reasons))
        return cls("withhold" if ordered else "pass", ordered)


def payload_views(n: Normalised) -> list[Normalised]:
    """Each decoded payload of `n` as a view of its own (already normalised: no further decoding)."""
    return [payload_view(d) for d in n.decoded]


class InjectionDetector:
    """Screens texts with `rules` (default: every family) and, when given, `classifier`."""

    def __init__(
        self,
        rules: Sequence[InjectionRule] = DEFAULT_RULES,
        classifier: InjectionClassifier | None = None,
    ) -> None:
        self.rules: tuple[InjectionRule, ...] = tuple(rules)
        self.classifier = classifier

    def rule_reasons(self, text: str) -> set[str]:
        """The reason codes of the rules alone for `text`."""
        n = normalise(text)
        reasons: set[str] = {TOO_LONG_CODE} if n.truncated else set()
        fired: set[str] = set()
        for rule in self.rules:
            if rule.check(n):
                fired.add(rule.code)
        reasons |= fired
        for view in payload_views(n):
            for rule in self.rules:
                if rule.check(view):
                    reasons.add(rule.code)
                    if rule.code not in fired:
                        reasons.add(ENCODED_CODE)
        return reasons

    def screen(self, text: str) -> Screening:
        """The screening of one text (module docstring)."""
        return self.screen_many([text])[0]

    def screen_many(self, texts: Sequence[str]) -> list[Screening]:
        """The screenings of `texts`, in order; the classifier scores them in one batch."""
        all_reasons = [self.rule_reasons(t) for t in texts]
        if self.classifier is not None and len(texts):
            scores = self.classifier.scores(list(texts))
            for reasons, score in zip(all_reasons, scores, strict=True):
                if float(score) >= self.classifier.threshold:
                    reasons.add(CLASSIFIER_CODE)
        return [Screening.of(r) for r in all_reasons]
