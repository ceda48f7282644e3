"""Role and system markup: text that poses as the system, the assistant or a developer, or tells the
model to become something else ("<system>", "[INST]", "<|im_start|>", "### system", "you are now",
"act as an AI", "developer mode", "jailbreak", "DAN").

Clinical phrases pass: "act as per sepsis protocol", "system upgrade of the portable unit",
"respiratory system: clear", "the line may act as a nidus".
"""

from __future__ import annotations

import re

from ids.injection.rules_base import SEP, START, PatternRule, one_of, words
from ids.normalize import Normalised

__all__ = ["ROLE_RULES"]

CODE = "injection-role"
FAMILY = "role"

_ROLE = one_of(
    words(
        "system|assistant|developer|user|sys|admin|administrator|root|instructions|instruction|prompt|ai|model|bot|human|operator"
    )
)
_CHAT_NAMES = one_of(
    words("im_start|im_end|im_sep|endoftext|start_header_id|end_header_id|eot_id|eom_id|begin_of_text|system|assistant|user|end|start|sep|pad|bos|eos|fim_prefix")
)  # fmt: skip


class RoleMarkup(PatternRule):
    """Chat-template and role markup: <system>, </assistant>, [INST], <<SYS>>, <|im_start|>, "### system"."""

    code, family, name = CODE, FAMILY, "role markup"
    patterns = (
        rf"<\|{_CHAT_NAMES}\|>",
        rf"<\|?/?{_ROLE}\|?>",
        r"\[/?(?:inst|sys|system|assistant|user|s)\]",
        r"<<\s*/?\s*sys\s*>>",
        r"</?s>",
        r"(?:^|\n|[.!?]\s)\s*#{1,6}\s*(?:system|assistant|developer|instructions?|response|prompt|new task|admin)\b",
        rf"(?:^|[.!?;\n>\]\)]\s*)(?:system|assistant|developer|ai|admin|operator)(?:{SEP}(?:prompt|message|note|instruction|override))?\s*:",
        rf"\b(?:begin|end|start){SEP}(?:of{SEP})?(?:system|developer|admin){SEP}(?:prompt|message|instructions)\b",
        r"\b(?:system|developer|admin|root|sudo|debug|god|dev|unrestricted|jailbreak)\s*(?:override|mode|access|privileges)\b",
        r"\bsudo\b",
    )


class RoleChange(PatternRule):
    """Telling the model to be something else: "you are now", "act as an AI", "pretend to be", DAN."""

    code, family, name = CODE, FAMILY, "role change"
    _persona = one_of(
        words("ai|an ai|a chatbot|chatbot|chatgpt|gpt|llm|a language model|language model|an assistant|assistant|dan|an unrestricted|unrestricted|a jailbroken|jailbroken|evil|uncensored|unfiltered|a different|another|a new|a hacker|hacker|a pirate|my|no longer|not bound|free|root|admin|the system|developer")
    )  # fmt: skip
    patterns = (
        rf"\byou{SEP}(?:are|'re|re){SEP}now\b",
        rf"\byou{SEP}(?:are|'re){SEP}(?:no{SEP}longer|not){SEP}(?:an?{SEP})?(?:ai|assistant|model|bound|restricted|limited|a radiology)",
        rf"\byou{SEP}(?:are|'re|will be|shall be){SEP}{_persona}\b",
        rf"{START}act{SEP}as\b(?!{SEP}(?:per|needed|indicated|required|usual|appropriate|before|planned|directed|if needed)\b)",
        rf"\b(?:you|must|shall|will|to|can){SEP}act{SEP}as{SEP}(?:an?{SEP})?(?:ai|dan|chatgpt|gpt|llm|chatbot|unrestricted|jailbroken|evil|uncensored|language model|assistant|system|developer|admin|different|new|hacker|pirate|my)\b",
        rf"\bact{SEP}as{SEP}(?:an?{SEP})?(?:ai|dan|chatgpt|gpt|llm|chatbot|unrestricted|jailbroken|evil|uncensored|language model|different ai|hacker|pirate)\b",
        rf"\b(?:pretend|imagine|suppose|assume){SEP}(?:to{SEP}be|you{SEP}(?:are|were)|that{SEP}you)\b",
        rf"\b(?:role{SEP}?play|roleplay|simulate|emulate|impersonate)\b(?:{SEP}as)?",
        rf"\b(?:developer|dev|god|debug|jailbreak|unrestricted|dan|evil|admin|sudo){SEP}mode\b",
        r"\bjail\s*-?\s*break(?:s|ing|ed|en)?\b",
        rf"\bdo{SEP}anything{SEP}now\b",
        rf"\b(?:as|stay|be){SEP}dan\b(?!{SEP}(?:\d|\w+{SEP}\d))",
        rf"\bswitch{SEP}(?:to|into){SEP}(?:\w+{SEP})?(?:mode|persona|role)\b",
        rf"\b(?:new|your){SEP}(?:persona|role|identity){SEP}(?:is|:)",
        # the same in the other languages of the project
        rf"\b(?:du{SEP}bist{SEP}(?:jetzt|nun|ab{SEP}sofort)|sie{SEP}sind{SEP}(?:jetzt|nun){SEP}(?:ein|eine|der|die)|tu{SEP}es{SEP}maintenant|vous{SEP}etes{SEP}maintenant|ahora{SEP}eres|ahora{SEP}es{SEP}usted|ora{SEP}sei|adesso{SEP}sei|je{SEP}bent{SEP}nu|u{SEP}bent{SEP}nu|agora{SEP}voce{SEP}e|agora{SEP}es|tu{SEP}e{SEP}agora)\b",
        rf"\b(?:tu{SEP}(?:so{SEP})?als{SEP}(?:ob|warst|waren|seist)|gib{SEP}vor|fingi{SEP}di{SEP}essere|finge{SEP}ser|finge{SEP}que|fais{SEP}comme{SEP}si|faca{SEP}de{SEP}conta|doe{SEP}net{SEP}alsof|spiel|spiele|fais{SEP}semblant|joue{SEP}le{SEP}role|finge|finja|haz{SEP}de|fai{SEP}finta|doe{SEP}alsof|speel{SEP}de{SEP}rol|finja{SEP}ser)\b",
    )


class RoleUppercaseDan(PatternRule):
    """ "DAN" written in capitals in the original (the jailbreak persona); "dan" is Dutch for "than",
    and Dan is a name: not after a title ("Dr. Dan", "DR.DAN"), and not in a text mostly in capitals
    (a request line typed in upper case, where every "dan" is "DAN")."""

    code, family, name = CODE, FAMILY, "DAN persona"
    _dan = re.compile(r"(?<![A-Za-z])(?<!dr\.)(?<!dr\. )(?<!dr )D\.?A\.?N(?![A-Za-z])(?!\s*\d)", re.I)
    _upper_dan = re.compile(r"D\.?A\.?N")

    def check(self, n: Normalised) -> bool:
        """True when the original holds "DAN" in capitals (not before a number, as in a unit code),
        outside a title and in a text that is not mostly upper case."""
        original = n.original[:4096]
        letters = [ch for ch in original if ch.isalpha()]
        if letters and sum(ch.isupper() for ch in letters) > 0.6 * len(letters):
            return False
        return any(self._upper_dan.fullmatch(m.group()) for m in self._dan.finditer(original))


ROLE_RULES: tuple[PatternRule, ...] = (RoleMarkup(), RoleChange(), RoleUppercaseDan())
