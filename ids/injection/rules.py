"""The injection rules, one small class each, by attack family.

Families and their reason codes: "override" -> "injection-override" (drop your instructions),
"role" -> "injection-role" (system/assistant markup, become something else), "exfiltration" ->
"injection-exfiltration" (give away the prompt or the patient, send anything anywhere), "dictation"
-> "injection-dictation" (what the report must say). The detector adds "injection-encoded" when a
rule fires only inside a decoded payload (base64, hex, URL escapes, tag characters).

Each rule's `check(n)` looks at `n.text` and `n.despaced` of one `Normalised` view; patterns are
written for normalised text (lower case, no accents, homoglyphs and leetspeak folded).
"""

from __future__ import annotations

from ids.injection.rules_base import InjectionRule, PatternRule
from ids.injection.rules_dictation import DICTATION_RULES
from ids.injection.rules_exfiltration import EXFILTRATION_RULES
from ids.injection.rules_override import OVERRIDE_RULES
from ids.injection.rules_role import ROLE_RULES

__all__ = ["CODES", "DEFAULT_RULES", "ENCODED_CODE", "FAMILIES", "InjectionRule", "PatternRule"]

DEFAULT_RULES: tuple[InjectionRule, ...] = (*OVERRIDE_RULES, *ROLE_RULES, *EXFILTRATION_RULES, *DICTATION_RULES)

FAMILIES: tuple[str, ...] = ("override", "role", "exfiltration", "dictation")
CODES: dict[str, str] = {family: f"injection-{family}" for family in FAMILIES}
ENCODED_CODE = "injection-encoded"
