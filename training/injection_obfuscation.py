"""The disguises of the injection corpora: obfuscations an attacker applies to an attack, and the
harmless noise real request lines carry (both corpora, training and evaluation, use them).

Contract: each obfuscation is `f(text, rng) -> text`, deterministic for the state of `rng`;
`obfuscate` applies none, one or two of a table's techniques and names them ("+"-joined, "none").
"""

from __future__ import annotations

import base64
import random
import urllib.parse
from collections.abc import Callable, Mapping

_HOMOGLYPHS = {"a": "а", "e": "е", "o": "о", "p": "р", "c": "с", "x": "х", "y": "у", "i": "і", "s": "ѕ"}
_ZERO_WIDTH = ("\u200b", "\u200c", "\u200d", "\u2060", "\ufeff")
_LEET = {"a": "4", "e": "3", "i": "1", "o": "0", "s": "5", "t": "7"}


def homoglyphs(text: str, rng: random.Random) -> str:
    """Latin letters swapped for Cyrillic look-alikes, about half of the swappable ones."""
    return "".join(_HOMOGLYPHS[ch] if ch in _HOMOGLYPHS and rng.random() < 0.5 else ch for ch in text)


def zero_width(text: str, rng: random.Random) -> str:
    """Zero-width characters inside words (between letters, about one gap in three)."""
    out: list[str] = []
    for prev, ch in zip(" " + text, text, strict=False):
        if prev.isalpha() and ch.isalpha() and rng.random() < 0.33:
            out.append(rng.choice(_ZERO_WIDTH))
        out.append(ch)
    return "".join(out)


def spacing(text: str, rng: random.Random) -> str:
    """The longer words spelled out with a separator between letters ("i g n o r e", "i.g.n.o.r.e")."""
    sep = rng.choice((" ", ".", "-", " . ", "_"))
    words = text.split(" ")
    return " ".join(sep.join(w) if len(w) >= 5 and rng.random() < 0.6 else w for w in words)


def leetspeak(text: str, rng: random.Random) -> str:
    """Letters swapped for the digits that look like them, about two in three."""
    return "".join(_LEET[ch.lower()] if ch.lower() in _LEET and rng.random() < 0.66 else ch for ch in text)


def tags(text: str, rng: random.Random) -> str:
    """The text wrapped in an XML/HTML-like element, or its words split by inline markup."""
    if rng.random() < 0.5:
        name = rng.choice(("instruction", "system", "admin", "note", "prompt", "hidden"))
        return f"<{name}>{text}</{name}>"
    return " ".join(f"<b>{w}</b>" if rng.random() < 0.4 else w for w in text.split(" "))


def mixed_case(text: str, rng: random.Random) -> str:
    """Each letter upper or lower at random."""
    return "".join(ch.upper() if rng.random() < 0.5 else ch.lower() for ch in text)


def b64(text: str, rng: random.Random) -> str:
    """The payload in base64, sometimes behind a short lead-in."""
    lead = rng.choice(("", "", "Ref: ", "Note: ", "decode: "))
    return lead + base64.b64encode(text.encode("utf-8")).decode("ascii")


def hexadecimal(text: str, rng: random.Random) -> str:
    """The payload's UTF-8 bytes in hex, plain, spaced or as \\x escapes."""
    data = text.encode("utf-8")
    style = rng.randrange(3)
    if style == 0:
        return data.hex()
    if style == 1:
        return " ".join(f"{b:02x}" for b in data)
    return "".join(f"\\x{b:02x}" for b in data)


def url_encoding(text: str, rng: random.Random) -> str:
    """The payload percent-encoded (all of it, or just the spaces and punctuation)."""
    return urllib.parse.quote(text, safe="" if rng.random() < 0.5 else "abcdefghijklmnopqrstuvwxyz")


Obfuscation = Callable[[str, random.Random], str]
OBFUSCATIONS: Mapping[str, Obfuscation] = {
    "homoglyphs": homoglyphs,
    "zero-width": zero_width,
    "spacing": spacing,
    "leetspeak": leetspeak,
    "tags": tags,
    "mixed-case": mixed_case,
    "base64": b64,
    "hex": hexadecimal,
    "url": url_encoding,
}
ENCODINGS = frozenset({"base64", "hex", "url"})


def obfuscate(text: str, rng: random.Random, table: Mapping[str, Obfuscation] = OBFUSCATIONS) -> tuple[str, str]:
    """`text` under none, one or two techniques of `table`, and their "+"-joined names ("none").

    An encoding, when drawn, is applied last: a second technique inside it is what an attacker does
    (base64 of leetspeak), one outside it would only damage the payload.
    """
    draw = rng.random()
    if draw < 0.3:
        return text, "none"
    names = [rng.choice(sorted(table))]
    if draw > 0.8:
        second = rng.choice(sorted(set(table) - set(names)))
        names.append(second)
    names.sort(key=lambda name: name in ENCODINGS)
    if sum(name in ENCODINGS for name in names) > 1:
        names = names[1:]
    for name in names:
        text = table[name](text, rng)
    return text, "+".join(names)


def benign_noise(text: str, rng: random.Random) -> str:
    """Harmless formatting a real request line carries: capitals, <br>, entities, spaces, NBSP."""
    draw = rng.random()
    if draw < 0.5:
        return text
    if draw < 0.62:
        return text.upper()
    if draw < 0.7:
        return text.lower()
    if draw < 0.8:
        return text.replace(". ", ".<br>").replace(", ", ",<br/>", 1)
    if draw < 0.87:
        return text.replace(" and ", " &amp; ").replace(" / ", " &#47; ") + rng.choice(("", " &nbsp;"))
    if draw < 0.94:
        return "  ".join(text.split(" ")) + rng.choice(("  ", "\t", "\n"))
    return text.replace(" ", "\u00a0", 2)
