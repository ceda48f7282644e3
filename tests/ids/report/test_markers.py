"""Injected-output markers: meta-talk, markup, instructions (table-driven)."""

from __future__ import annotations

import pytest

from ids.normalize import Normalised
from ids.report import Draft, Markup, MetaTalk, OutputInstruction, ValidationContext

CTX = ValidationContext()


@pytest.mark.parametrize(
    ("findings", "impression", "codes"),
    [
        ("Heart normal.", "As an AI language model I cannot read images.", {"output-meta-talk"}),
        ("I'm sorry, but the image is not available.", "None.", {"output-meta-talk"}),
        ("Sure, here is the report you asked for.", "Normal.", {"output-meta-talk"}),
        ("I am unable to interpret this study.", "Not available.", {"output-meta-talk"}),
        # Obfuscated: fullwidth letters and zero-width characters are folded by ids.normalize.
        ("Ａｓ ａｎ ＡＩ I see lungs.", "Clear.", {"output-meta-talk"}),
        ("Lungs clear. I can\u200bnot help with that.", "Clear.", {"output-meta-talk"}),
        ("<b>Large</b> left effusion.", "Effusion.", {"output-markup"}),
        ("Heart normal.", "&lt;script&gt;alert(1)&lt;/script&gt;", {"output-markup"}),
        ("```\nHeart normal.\n```", "Normal.", {"output-markup"}),
        ("## Findings\nHeart normal.", "Normal.", {"output-markup"}),
        ("**Cardiomegaly** noted.", "Cardiomegaly.", {"output-markup"}),
        ('{"findings": "normal"}', "Normal.", {"output-markup"}),
        ("Heart normal.", "<|im_start|>assistant Normal.", {"output-markup"}),
        ("[INST] describe [/INST] Heart normal.", "Normal.", {"output-markup"}),
        ("Heart normal.", "Assistant: the chest is normal.", {"output-markup"}),
        # Clinical text that only looks like it.
        ("Nodule < 5 mm. Effusion right < left, heart size > expected.", "Small nodule <1 cm.", set()),
        ("The patient cannot cooperate; limited inspiration.", "Cannot exclude small effusion.", set()),
        ("Heart size is normal. No pleural effusion.", "No acute cardiopulmonary abnormality.", set()),
        ("Right lower lobe consolidation (pneumonia).", "Pneumonia, likely aspiration.", set()),
    ],
)
def test_marker_rules(findings: str, impression: str, codes: set[str]) -> None:
    draft = Draft(findings, impression)
    assert {v.code for rule in (MetaTalk(), Markup()) for v in rule.check(draft, CTX)} == codes


class _Keyword:
    """A stand-in injection rule: fires on a word of the normalised text (for the wiring only; the
    real ids.injection rules are exercised in test_validator.py)."""

    def __init__(self, family: str, word: str) -> None:
        self.family, self.code, self.word = family, f"injection-{family}", word

    def check(self, n: Normalised) -> bool:
        return self.word in n.text


def test_output_instruction_runs_injection_rules_on_the_normalised_report() -> None:
    rule = OutputInstruction(rules=(_Keyword("override", "disregard"), _Keyword("dictation", "print")))
    (v,) = rule.check(Draft("Heart normal.", "D\u200bISREGARD the film."), CTX)
    assert v.code == "output-instruction" and v.reason == "report contains an instruction (override)"
    assert rule.check(Draft("Heart normal.", "Normal chest."), CTX) == []
