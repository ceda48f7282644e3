"""Contact recognizers of the free-text redactor (see deid/text/).

Contract: `PhoneRecognizer` (PHONE) reports phone, fax and pager numbers; a seven-digit local
number alone scores 0.3, under the redactor's threshold, and becomes a detection only when a
phone word (CONTEXT: "phone", "call", "pager", ...) precedes it, through Presidio's context
enhancer. `EmailRecognizer` (EMAIL) and `UrlRecognizer` (URL) never look a domain up.
`IpAddressRecognizer` (IP_ADDRESS) reports IPv4 and IPv6 addresses, not times ("10:30:15") or
ratios.
"""

from __future__ import annotations

import regex as re

from deid.text.base import EMAIL, IP_ADDRESS, PHONE, URL, PatternRule, RuleRecognizer


class PhoneRecognizer(RuleRecognizer):
    """Phone, fax and pager numbers: NANP forms with or without country code and extension,
    international "+CC ..." numbers, short extensions/pagers after their label, and seven-digit
    local numbers near a phone word."""

    ENTITY = PHONE
    CONTEXT = (
        "phone",
        "telephone",
        "tel",
        "call",
        "callback",
        "cell",
        "mobile",
        "fax",
        "pager",
        "beeper",
        "contact",
        "reach",
        "reached",
        "number",
        "ext",
        "extension",
        "home",
        "work",
        "office",
    )
    RULES = (
        PatternRule(
            "nanp",
            r"(?<![\w+\-/.])(?P<v>(?:\+?1[\s.\-]?)?(?:\(\d{3}\)\s?|\d{3}[\s.\-])\d{3}[\s.\-]\d{4}"
            r"(?:\s*(?i:x|ext\.?|extension)\s*\d{1,6})?)(?![\d\-/])",
            0.85,
        ),
        PatternRule(
            "labelled_digits",
            r"(?i:\b(?:phone|tel|telephone|fax|cell|mobile|contact|call|callback|ph)\b\.?(?:\s*(?:number|no\.?|\#))?)"
            r"\s*[:\#]?\s*(?P<v>\+?\d{10,11})(?!\d)",
            0.9,
        ),
        # Seven digits alone ("596-9742") are a phone number only near a phone word (CONTEXT).
        PatternRule("local", r"(?<![\w+\-/.])(?P<v>\d{3}[\s.\-]\d{4})(?![\d\-/])", 0.3),
        PatternRule(
            "international",
            r"(?<![\w+])(?P<v>\+(?:[2-9]\d{0,2})[\s.\-]?\(?\d{1,4}\)?(?:[\s.\-]?\d{2,4}){2,4})(?![\d\-])",
            0.75,
        ),
        PatternRule(
            "extension_or_pager",
            r"(?i:\b(?:ext|extension|pager|pgr|beeper|bpr|vocera|spectralink)\b\.?\s*[:\#]?\s*|\bx(?=\d))"
            r"(?P<v>\d(?:[\s\-]?\d){3,6})(?![\d])",
            0.85,
        ),
        PatternRule(
            "paged_at",
            r"(?i:\b(?:paged?|call(?:ed)?|reach(?:ed)?|contact(?:ed)?)\b(?:[^.\n]|(?<=\b\p{Lu})\.){0,60}?\bat\s+)(?P<v>\d{4,6})\b"
            r"(?!\s*(?i:hours?|hrs?|h\b|am\b|pm\b))",
            0.8,
        ),
    )


class EmailRecognizer(RuleRecognizer):
    """E-mail addresses (no domain lookups: Presidio's own recognizer calls tldextract)."""

    ENTITY = EMAIL
    RULES = (
        PatternRule(
            "address",
            r"(?<![\w.+\-])(?P<v>[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)*\.[A-Za-z]{2,24})\b",
            0.95,
        ),
    )


class UrlRecognizer(RuleRecognizer):
    """URLs: scheme://..., www...., and bare host names under common top-level domains."""

    ENTITY = URL
    RULES = (
        PatternRule("scheme", r"(?i:\b(?P<v>(?:https?|ftp|dicomweb)://[^\s<>\"'\])]+))", 0.95),
        PatternRule("www", r"(?i:(?<![\w.@])(?P<v>www\d{0,3}\.[^\s<>\"'\])]+))", 0.9),
        PatternRule(
            "bare_host",
            r"(?i:(?<![\w.@/\-])(?P<v>[a-z0-9][a-z0-9\-]*(?:\.[a-z0-9\-]+)*\.(?:com|org|net|edu|gov|mil|io"
            r"|health|care|clinic|hospital|med|info|biz|us)(?:/[^\s<>\"'\])]*)?)(?![\w@\-]))",
            0.8,
        ),
    )


class IpAddressRecognizer(RuleRecognizer):
    """IPv4 and IPv6 addresses."""

    ENTITY = IP_ADDRESS
    _OCTET = r"(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)"
    RULES = (
        PatternRule("ipv4", rf"(?<![\w.])(?P<v>{_OCTET}(?:\.{_OCTET}){{3}})(?![\w]|\.\d)", 0.9),
        PatternRule(
            "ipv6",
            r"(?i:(?<![\w:])(?P<v>(?:[0-9a-f]{1,4}:){7}[0-9a-f]{1,4}|(?:[0-9a-f]{1,4}:){1,6}:(?:[0-9a-f]{1,4}"
            r"(?::[0-9a-f]{1,4}){0,5})?)(?![\w:]))",
            0.85,
        ),
    )

    def accept(
        self, text: str, start: int, end: int, match: re.Match[str], rule: PatternRule
    ) -> tuple[int, int, float] | None:
        value = text[start:end]
        # Times ("10:30", "10:30:15") and ratios are not IPv6 addresses.
        if ":" in value and "::" not in value and value.count(":") < 7:
            return None
        if ":" in value and not any(c.isalpha() for c in value) and value.count(":") < 4:
            return None
        return start, end, 1.0
