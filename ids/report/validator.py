"""The report validator: every rule over the draft, failing closed.

`ReportValidator(rules)` runs each rule in order and concatenates their violations; rules=None is
the default set (`default_rules()`: structure, PHI, consistency, medical constraints, injected-output
markers, anomaly). A draft passes when the list is empty.

Policy when a rule raises (a bug, or a model input no rule anticipated): the validator does not
crash and does not pass the draft silently. The exception becomes a violation with code
"rule-error" naming the rule's code and the exception's type (never its message, which could quote
the report), the remaining rules still run, and the draft is withheld. The error is logged at ERROR
level by rule code and exception type only (a message or traceback could carry report text).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence

from ids.report.base import Draft, ReportRule, ValidationContext, Violation, codes_of

log = logging.getLogger(__name__)

RULE_ERROR = "rule-error"


def default_rules() -> tuple[ReportRule, ...]:
    """The default rule set, fresh objects (the PHI entity rule builds its redactor on first use)."""
    from ids.report.rules import DEFAULT_RULE_TYPES

    return tuple(kind() for kind in DEFAULT_RULE_TYPES)


def default_codes() -> tuple[str, ...]:
    """Every reason code the default rules can report, then "rule-error" (for metrics and docs)."""
    from ids.report.rules import DEFAULT_RULE_TYPES

    # Each rule's `code` / `codes` are dataclass defaults, readable on the class itself.
    return (*codes_of(DEFAULT_RULE_TYPES), RULE_ERROR)


class ReportValidator:
    """Runs rules over a draft; see the module docstring for the fail-closed policy."""

    def __init__(self, rules: Sequence[ReportRule] | None = None) -> None:
        self.rules: tuple[ReportRule, ...] = default_rules() if rules is None else tuple(rules)

    def check(self, draft: Draft, context: ValidationContext | None = None) -> list[Violation]:
        """Every violation of the draft, in rule order; empty when it passes."""
        context = context if context is not None else ValidationContext()
        out: list[Violation] = []
        for rule in self.rules:
            try:
                out.extend(rule.check(draft, context))
            except Exception as exc:  # fail closed: see the module docstring
                code = getattr(rule, "code", type(rule).__name__)
                log.error("report rule %s raised %s", code, type(exc).__name__)
                out.append(Violation(RULE_ERROR, f"rule {code} raised {type(exc).__name__}"))
        return out
