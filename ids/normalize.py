"""Normalisation of untrusted text before any injection rule or feature looks at it.

Contract: `normalise(text)` never raises for any `str` and runs in bounded time. Only the first
`MAX_CHARS` characters are analysed (`Normalised.truncated` says when more were given; the detector
withholds such inputs rather than let an unanalysed tail reach the model). The result has:

- `text`: the analysed text after, in order, (1) Unicode tag characters (U+E0000..U+E007F, "ASCII
  smuggling") removed and their ASCII appended as a decoded payload; (2) zero-width, soft hyphen,
  bidi controls and every other format (Cf) or control character removed (controls become spaces);
  (3) HTML entities unescaped (twice, for double encoding); (4) NFKC (fullwidth and mathematical
  letters); (5) the confusables fold (Cyrillic, Greek and Armenian homoglyphs to Latin letters) and
  NFKD with combining marks dropped (so "ïgnörë" and Zalgo text read as ASCII, and German, French or
  Spanish words lose their accents: rules are written unaccented); (6) case folding; (7) XML/HTML-like
  tags as " <name> " / " </name> " tokens and chat tokens as " <|name|> "; (8) the leetspeak fold;
  (9) whitespace collapsed.
- `despaced`: `text` with runs of three or more single characters separated by spaces or punctuation
  joined ("i g n o r e", "i.g.n.o.r.e" -> "ignore", leetspeak folded in the joined word) and spaced
  tags closed up ("< s y s t e m >" -> "<system>"); word boundaries elsewhere are kept.
- `plain`: `despaced` without any tag token: "<b>write</b> <b>that</b>" reads "write that" (an
  addition to the shared contract; role rules look at `text`, where the tags are).
- `decoded`: the normalised `text` of every embedded payload: base64 (16+ characters that decode to
  mostly printable UTF-8), hex (16+ hex digits, plain, "\\x"-escaped or in separated pairs), URL
  %xx escapes (two or more), "\\uXXXX" escapes and tag characters; recursively to depth
  `MAX_DEPTH`, at most `MAX_PAYLOADS` payloads and `MAX_DECODED_CHARS` characters in all.

Leetspeak policy (0 o, 1 i, 3 e, 4 a, 5 s, 7 t, @ a, $ s, | l): a run of letters, digits and those
symbols is folded only when it has at least three characters, at least one letter and at least one
such digit or symbol, and is neither a measurement ("5mm", "3x4cm", "10cm"), nor a short code of one
letter and up to three digits ("t4", "c7", "l5", "t12", "3d"), nor part of an e-mail address or URL.
So "1gn0r3 pr3v10us" folds to "ignore previous" while "5 mm", "T4", "C7" and "L5-S1" stay readable.
"""

from __future__ import annotations

import base64
import binascii
import html
import re
import unicodedata
import urllib.parse
from dataclasses import dataclass

__all__ = [
    "MAX_CHARS",
    "MAX_DECODED_CHARS",
    "MAX_DEPTH",
    "MAX_PAYLOADS",
    "Normalised",
    "despace",
    "payload_view",
    "normalise",
]

MAX_CHARS = 4096  # analysed prefix; clinical indications are capped at 2048 by deid.indication
MAX_DEPTH = 3  # nested encodings followed (base64 of hex of URL-encoded text is depth 3)
MAX_PAYLOADS = 16
MAX_DECODED_CHARS = 2 * MAX_CHARS


@dataclass(frozen=True)
class Normalised:
    """One text as the rules and features see it (see the module docstring for each field)."""

    original: str
    text: str
    despaced: str
    decoded: tuple[str, ...]
    truncated: bool = False
    plain: str = ""


# ---- character classes ---------------------------------------------------------------------------

_TAG_FIRST, _TAG_LAST = 0xE0000, 0xE007F

# Homoglyphs NFKC leaves alone, folded to the Latin letter they imitate (lower case: case folding
# follows anyway). Cyrillic, Greek, Armenian and a few Latin-script look-alikes (IPA, dotless i).
_CONFUSABLES = str.maketrans(
    {
        # Cyrillic
        "а": "a", "А": "a", "в": "b", "В": "b", "с": "c", "С": "c", "ԁ": "d", "е": "e", "Е": "e",
        "ё": "e", "Ё": "e", "һ": "h", "Н": "h", "н": "h", "і": "i", "І": "i", "ї": "i", "Ї": "i",
        "ј": "j", "Ј": "j", "к": "k", "К": "k", "ӏ": "l", "Ӏ": "l", "м": "m", "М": "m", "п": "n",
        "о": "o", "О": "o", "р": "p", "Р": "p", "ԛ": "q", "г": "r", "ѕ": "s", "Ѕ": "s", "т": "t",
        "Т": "t", "и": "u", "ц": "u", "ѵ": "v", "Ѵ": "v", "ԝ": "w", "Ԝ": "w", "ш": "w", "х": "x",
        "Х": "x", "у": "y", "У": "y", "Ү": "y", "ү": "y", "з": "3", "б": "6", "Ь": "b", "ь": "b",
        # Greek
        "α": "a", "Α": "a", "β": "b", "Β": "b", "ϲ": "c", "Ϲ": "c", "ε": "e", "Ε": "e", "η": "n",
        "Η": "h", "ι": "i", "Ι": "i", "ϳ": "j", "κ": "k", "Κ": "k", "Μ": "m", "ν": "v", "Ν": "n",
        "ο": "o", "Ο": "o", "ρ": "p", "Ρ": "p", "τ": "t", "Τ": "t", "υ": "u", "Υ": "y", "χ": "x",
        "Χ": "x", "Ζ": "z", "ω": "w", "ϱ": "p",
        # Armenian
        "ա": "w", "ց": "g", "հ": "h", "ի": "h", "լ": "l", "ո": "n", "ռ": "n", "օ": "o", "Օ": "o",
        "ք": "p", "զ": "q", "ս": "u", "Ս": "u", "վ": "d", "ւ": "l", "Լ": "l",
        # Latin-script look-alikes
        "ı": "i", "ɩ": "i", "ɪ": "i", "ɡ": "g", "ɑ": "a", "ʀ": "r", "ʏ": "y", "ᴀ": "a", "ᴇ": "e",
        "ᴏ": "o", "ᴛ": "t", "ᴜ": "u", "ꜱ": "s", "ɴ": "n", "ᴍ": "m", "ᴋ": "k", "ʜ": "h", "ᴅ": "d",
        "ᴄ": "c", "ᴠ": "v", "ᴡ": "w", "ᴢ": "z", "ʟ": "l", "ᴘ": "p", "ꞯ": "q", "ʙ": "b", "ɢ": "g",
        "ʃ": "s", "ꝛ": "r", "ø": "o", "Ø": "o", "đ": "d", "Đ": "d", "ł": "l", "Ł": "l", "ŧ": "t",
        "ħ": "h", "ƀ": "b", "ɨ": "i", "ɇ": "e",
    }
)  # fmt: skip

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "@": "a", "$": "s", "|": "l"})
_LEET_CHARS = frozenset("0134579@$|")

_WHITESPACE = re.compile(r"\s+")
_LEET_RUN = re.compile(r"[a-z0-9@$|]+")
_MEASUREMENT = re.compile(r"\d+(?:[.,x]\d+)*[a-z]{0,4}")
_SHORT_CODE = re.compile(r"[a-z]\d{1,3}|\d{1,3}[a-z]")
_EMAIL_OR_URL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.-]+|(?:https?|ftp)://\S+|www\.\S+")
_TAG = re.compile(r"<\s*(/?)\s*([a-z][\w:.-]{0,40})(\s[^<>]{0,200})?\s*/?\s*>")
_CHAT_TOKEN = re.compile(r"<\s*\|\s*([^<>|]{1,40}?)\s*\|\s*>")
_SPACED_RUN = re.compile(r"(?<![^\W_])[^\W_](?:[\s.\-_*·,/|+~]{1,3}[^\W_](?![^\W_])){2,}")
_RUN_SEPARATORS = re.compile(r"[\s.\-_*·,/|+~]")
_SPACED_TAG = re.compile(r"<[\s._*\-]*(/?)[\s._*\-]*([a-z|][a-z_|]{0,40}?)[\s._*\-]*>")
_TAG_TOKEN = re.compile(r"\s*<\|?/?[a-z][\w:.|-]{0,40}>\s*")

_B64 = re.compile(r"(?<![A-Za-z0-9+/=_-])[A-Za-z0-9+/_-]{16,}={0,2}")
_HEX_ESCAPED = re.compile(r"(?:\\x[0-9a-fA-F]{2}){4,}")
_HEX_PAIRS = re.compile(r"(?<![0-9a-fA-F])(?:0x)?[0-9a-fA-F]{2}(?:[\s:,]{1,2}(?:0x)?[0-9a-fA-F]{2}){7,}(?![0-9a-fA-F])")
_HEX_PLAIN = re.compile(r"[0-9a-fA-F]+")
_UNICODE_ESCAPED = re.compile(r"(?:\\u[0-9a-fA-F]{4}){3,}")
_URL_ESCAPE = re.compile(r"%[0-9a-fA-F]{2}")


def _strip_invisible(text: str) -> tuple[str, str]:
    """`text` without tag, format (Cf) and control characters, and the ASCII the tag characters spell.

    Controls other than those become spaces, so "ignore\\x00previous" still reads as two words.
    """
    kept: list[str] = []
    smuggled: list[str] = []
    for ch in text:
        cp = ord(ch)
        if _TAG_FIRST <= cp <= _TAG_LAST:
            if 0xE0020 <= cp <= 0xE007E:
                smuggled.append(chr(cp - _TAG_FIRST))
            continue
        cat = unicodedata.category(ch)
        if cat in ("Cf", "Cs", "Co", "Cn"):
            continue  # format (zero-width, bidi, soft hyphen), surrogates, private use, unassigned
        if cat == "Cc":
            kept.append(" ")
            continue
        if cp == 0x034F or 0xFE00 <= cp <= 0xFE0F or 0xE0100 <= cp <= 0xE01EF:
            continue  # combining grapheme joiner and variation selectors: invisible too
        kept.append(ch)
    return "".join(kept), "".join(smuggled)


def _fold_letters(text: str) -> str:
    """NFKC, homoglyphs to Latin, then NFKD with combining marks dropped (NFC to recompose the rest)."""
    text = unicodedata.normalize("NFKC", text).translate(_CONFUSABLES)
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if unicodedata.category(ch) not in ("Mn", "Me"))
    return unicodedata.normalize("NFC", stripped).translate(_CONFUSABLES)


def _leet_run(match: re.Match[str]) -> str:
    run = match.group(0)
    if len(run) < 3 or not any(ch in _LEET_CHARS for ch in run) or not any("a" <= ch <= "z" for ch in run):
        return run
    if _MEASUREMENT.fullmatch(run) or _SHORT_CODE.fullmatch(run):
        return run
    return run.translate(_LEET)


def _fold_leet(text: str) -> str:
    """The leetspeak fold, token by token (whitespace-separated), sparing tags, e-mails and URLs."""
    out: list[str] = []
    for token in text.split(" "):
        if token.startswith("<") and token.endswith(">") or _EMAIL_OR_URL.search(token):
            out.append(token)
        else:
            out.append(_LEET_RUN.sub(_leet_run, token))
    return " ".join(out)


def _tokens_for_tags(text: str) -> str:
    text = _CHAT_TOKEN.sub(lambda m: f" <|{m.group(1).strip()}|> ", text)
    # Attributes stay as words after the token: hiding text inside a tag must not hide it from rules.
    return _TAG.sub(lambda m: f" <{m.group(1)}{m.group(2)}> {(m.group(3) or '').strip(' /')} ", text)


def despace(text: str) -> str:
    """`text` with runs of 3+ single characters split by spaces or punctuation joined into one word.

    "i g n o r e" and "i.g.n.o.r.e" become "ignore"; "i g n o r e p r e v i o u s" becomes
    "ignoreprevious" (rules allow zero separators between words on this view).
    """
    joined = _SPACED_RUN.sub(lambda m: _join_run(m.group(0)), text)
    return _SPACED_TAG.sub(lambda m: f"<{m.group(1)}{m.group(2)}>", joined)


def _join_run(run: str) -> str:
    word = _RUN_SEPARATORS.sub("", run)
    return _LEET_RUN.sub(_leet_run, word)


def _untagged(text: str) -> str:
    """`text` without tag tokens ("<b>", "</i>", "<|im_start|>"), whitespace collapsed."""
    return _WHITESPACE.sub(" ", _TAG_TOKEN.sub(" ", text)).strip()


# ---- payloads ------------------------------------------------------------------------------------


def _readable(data: bytes) -> str | None:
    """`data` as text when it is UTF-8 that reads like text (printable, mostly letters and spaces)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if len(text) < 4:
        return None
    printable = sum(1 for ch in text if ch.isprintable() or ch in "\n\r\t")
    wordy = sum(1 for ch in text if ch.isalpha() or ch.isspace())
    if printable < 0.95 * len(text):
        return None
    if wordy < 0.6 * len(text) and not _ENCODED_LAYER.fullmatch(text.strip()):
        return None
    return text


# A decoded layer that is itself an encoding (hex digits, %xx or \x escapes): not words, but kept so
# that the next depth decodes it (base64 of hex of URL-encoded text).
_ENCODED_LAYER = re.compile(
    r"(?:[0-9a-fA-F]{2}[\s:]?){8,}"  # hex digits, maybe in separated pairs
    r"|(?=.*%[0-9a-fA-F]{2})(?:%[0-9a-fA-F]{2}|[\w.~+-]){8,}"  # URL escapes, at least one
    r"|(?:\\x[0-9a-fA-F]{2}){8,}"  # \x escapes
)


def _from_hex(digits: str) -> str | None:
    if len(digits) < 16 or len(digits) % 2:
        return None
    try:
        return _readable(bytes.fromhex(digits))
    except ValueError:
        return None


def _from_base64(candidate: str) -> str | None:
    body = candidate.rstrip("=")
    if len(body) % 4 == 1:
        body = body[:-1]  # one stray character cannot be base64; the rest may be
    padded = body + "=" * (-len(body) % 4)
    for alphabet in (b"+/", b"-_"):
        try:
            data = base64.b64decode(padded.encode("ascii"), altchars=alphabet, validate=True)
        except (binascii.Error, ValueError):
            continue
        text = _readable(data)
        if text is not None:
            return text
    return None


def _payloads(raw: str) -> list[str]:
    """Every decodable payload embedded in `raw` (case preserved: base64 needs it), in text order."""
    found: list[tuple[int, str]] = []
    for m in _HEX_ESCAPED.finditer(raw):
        text = _from_hex(m.group(0).replace("\\x", "").replace("\\X", ""))
        if text is not None:
            found.append((m.start(), text))
    for m in _HEX_PAIRS.finditer(raw):
        text = _from_hex(re.sub(r"0x|[\s:,]", "", m.group(0)))
        if text is not None:
            found.append((m.start(), text))
    for m in _B64.finditer(raw):
        candidate = m.group(0)
        text = _from_hex(candidate) if _HEX_PLAIN.fullmatch(candidate) else None
        if text is None:
            text = _from_base64(candidate)
        if text is not None:
            found.append((m.start(), text))
    for m in _UNICODE_ESCAPED.finditer(raw):
        chars = [chr(int(m.group(0)[i + 2 : i + 6], 16)) for i in range(0, len(m.group(0)), 6)]
        found.append((m.start(), "".join(chars)))
    if len(_URL_ESCAPE.findall(raw)) >= 2:
        unquoted = urllib.parse.unquote(raw, errors="replace")
        if unquoted != raw:
            found.append((len(raw), unquoted))
    found.sort(key=lambda item: item[0])
    return [text for _, text in found]


# ---- the whole ------------------------------------------------------------------------------------


class _Budget:
    """What is left of the payload bounds for one `normalise` call."""

    def __init__(self) -> None:
        self.payloads = MAX_PAYLOADS
        self.chars = MAX_DECODED_CHARS

    def take(self, text: str) -> str | None:
        if self.payloads <= 0 or self.chars <= 0:
            return None
        self.payloads -= 1
        text = text[: self.chars]
        self.chars -= len(text)
        return text


def _analyse(raw: str, depth: int, budget: _Budget, decoded: list[str]) -> str:
    """The normalised text of `raw`; its payloads' normalised texts are appended to `decoded`."""
    visible, smuggled = _strip_invisible(raw)
    # Again after unescaping: "ig&#8203;nore" hides a zero-width space behind an entity.
    unescaped, more = _strip_invisible(html.unescape(html.unescape(visible)))
    smuggled += more
    compat = unicodedata.normalize("NFKC", unescaped)
    folded = _fold_letters(compat).casefold()
    folded = _WHITESPACE.sub(" ", _tokens_for_tags(folded)).strip()
    text = _WHITESPACE.sub(" ", _fold_leet(folded)).strip()
    if depth < MAX_DEPTH:
        inner = ([smuggled] if smuggled.strip() else []) + _payloads(compat)
        for payload in inner:
            taken = budget.take(payload)
            if taken is None:
                break
            slot = len(decoded)
            decoded.append("")
            decoded[slot] = _analyse(taken, depth + 1, budget, decoded)
    return text


def normalise(text: str) -> Normalised:
    """`text` normalised for the injection rules and features (module docstring); never raises."""
    if not isinstance(text, str):  # the contract is str; anything else is analysed as its repr
        text = repr(text)
    truncated = len(text) > MAX_CHARS
    head = text[:MAX_CHARS]
    try:
        decoded: list[str] = []
        analysed = _analyse(head, 0, _Budget(), decoded)
        despaced = despace(analysed)
        return Normalised(
            original=text,
            text=analysed,
            despaced=despaced,
            decoded=tuple(d for d in decoded if d),
            truncated=truncated,
            plain=_untagged(despaced),
        )
    except Exception:
        plain = _WHITESPACE.sub(" ", head.encode("ascii", "ignore").decode("ascii").casefold()).strip()
        return Normalised(original=text, text=plain, despaced=plain, decoded=(), truncated=truncated, plain=plain)


def payload_view(payload: str) -> Normalised:
    """One decoded payload (already normalised text) as a view of its own, with no further decoding."""
    despaced = despace(payload)
    return Normalised(original=payload, text=payload, despaced=despaced, decoded=(), plain=_untagged(despaced))
