"""Scanning person names in free text (see deid/text/): pure functions, no Presidio.

Contract: each scanner returns the (start, end) span of a name at a position of the text, or
None. `scan_name` reads forwards (capitalised non-lexical words, initials, particles such as
"van der", DICOM PN carets and one "Last, First" comma), `scan_name_backward` reads backwards
from where an after-name context ("..., MD", "... was notified") starts, and `scan_lower_name`
reads lower-case names after a title or a label ("dr smith", "pt: doe, jane").
`followed_by_head_noun` says when the word after a span makes it an eponym ("Kerley B lines",
"Crohn's disease"). `CREDENTIAL` is the regex of credentials written after a name ("MD",
"R.N.", "PhD", ...), `CREDENTIAL_RX` the same as a whole word. Vocabulary comes from
`deid.text.lexicon`.
"""

from __future__ import annotations

import re as _stdre

import regex as re

from deid.text.lexicon import NAME_TOKEN_RX, is_head_noun, is_lexical, is_name_like, skip_blanks, stop_words
from deid.text.model import fold

#: Lower-case particles inside names ("Ludwig van Beethoven", "Maria de la Cruz").
_PARTICLES = frozenset(
    {"van", "von", "de", "der", "den", "da", "di", "du", "del", "della", "la", "le", "bin", "ibn"}
    | {"al", "el", "ter", "ten", "dos", "das"}
)

#: Credentials written after a name ("Mary Johnson, MD", "Ruth Day RN").
CREDENTIAL = (
    r"(?:M\.?D\.?|D\.?O\.?|R\.?N\.?|N\.?P\.?|P\.?A\.?-?C|Ph\.?D\.?|M\.?B\.?B\.?S\.?|FRCR|FRCPC|FACR|DNP|CRNA|APRN|"
    r"PharmD|RT(?:\s?\(R\))?|RRT|RDMS|CNM|LPN|MSN|BSN|FNP|FNP-BC|AGNP|DPM|DDS|DMD|MPH|MS|MSc)"
)
CREDENTIAL_RX = re.compile(CREDENTIAL + r"(?![\w])")
_LOWER_WORD_RX = re.compile(r"\p{Ll}[\p{Ll}'\u2019]*(?:-\p{Ll}[\p{Ll}'\u2019]*)*")


def scan_name(text: str, pos: int, *, max_tokens: int = 5, allow_comma: bool = True) -> tuple[int, int] | None:
    """The span of a person name starting at `pos` (after optional blanks): capitalised non-
    lexical words, initials ("J." or "J" between words), name particles ("van der"), PN carets
    and one "Last, First" comma. None when the first word is not name-like."""
    n = len(text)
    i = pos
    while i < n and text[i] in " \t":
        i += 1
    if i < n and text[i] == "\n" and text[pos:i].strip() == "":
        i += 1
        while i < n and text[i] in " \t":
            i += 1
    start = i
    end = -1
    tokens = 0
    used_comma = False
    after_initial = False
    single_gap = False
    while tokens < max_tokens and i < n:
        m = NAME_TOKEN_RX.match(text, i)
        if not m:
            break
        word = m.group()
        w_end = m.end()
        if len(word) == 1 and word.isupper():
            # An initial counts only between/after name words.
            if w_end < n and text[w_end] == ".":
                w_end += 1
            if end >= 0:
                end = w_end
        elif word.lower() in _PARTICLES and end >= 0:
            pass
        elif is_name_like(word) or text[w_end : w_end + 1] == "^":
            end = w_end  # a word before a PN caret is a name part even when it is also a word
        elif end >= 0 and after_initial and single_gap and word[:1].isupper() and fold(word) not in stop_words():
            end = w_end  # "Francis P. Day": a capitalised word after a middle initial is a surname
        else:
            break
        after_initial = len(word) == 1
        tokens += 1
        # Separator to the next word.
        j = w_end
        sep = ""
        while j < n and text[j] in " \t^,":
            sep += text[j]
            j += 1
        single_gap = sep == " "
        if not sep or len(sep) > 3:
            break
        if "," in sep:
            if not allow_comma or used_comma or sep.count(",") > 1:
                break
            nxt = NAME_TOKEN_RX.match(text, j)
            if not nxt or len(nxt.group()) < 2 or not is_name_like(nxt.group()) or CREDENTIAL_RX.match(text, j):
                break
            used_comma = True
        i = j
    if end < 0:
        return None
    return (start, end)


def scan_name_backward(
    text: str, end: int, *, max_tokens: int = 4, lenient_last: bool = False
) -> tuple[int, int] | None:
    """The span of a person name ending at `end` (before optional blanks/comma): up to
    `max_tokens` name-like words (initials allowed inside), scanning leftwards. With
    `lenient_last`, the word right before `end` may be an ordinary capitalised word when a
    name-like word precedes it ("Erin Best, MD")."""
    j = end
    while j > 0 and text[j - 1] in " \t,":
        j -= 1
    stop = j
    words = list(NAME_TOKEN_RX.finditer(text[max(0, j - 120) : j]))
    offset = max(0, j - 120)
    start = -1
    cursor = j
    for count, m in enumerate(reversed(words)):  # count: words taken so far
        s, e = m.start() + offset, m.end() + offset
        gap = text[e:cursor]
        if cursor != j and (len(gap) > 3 or not _stdre.fullmatch(r"[ \t^]*\.?[ \t^]*|,[ \t]?", gap)):
            break
        if cursor == j and gap.strip(". "):
            break
        word = m.group()
        if len(word) == 1 and word.isupper():
            # A middle initial at the end ("Doe, Ruth D") waits for a name word before it; one
            # before the name words ("J. Doe") is part of the name.
            if start >= 0:
                start = s
        elif word.lower() in _PARTICLES and start >= 0:
            pass
        elif is_name_like(word):
            start = s
        elif lenient_last and count == 0 and word[:1].isupper() and fold(word) not in stop_words():
            pass  # a surname that is also a word; kept only if a name-like word precedes it
        else:
            break
        cursor = s
        if count + 1 >= max_tokens:
            break
    if start < 0:
        return None
    return (start, stop)


def followed_by_head_noun(text: str, end: int) -> bool:
    """True when the word after `end` (skipping a possessive "'s" and one capital letter, as in
    "Crohn's disease", "Kerley B lines", "Golden S sign") makes the words before it an eponym
    or a named thing that is not a person."""
    m = re.match(r"(?:['\u2019]s?)?[ \t]+(?:\p{Lu}\.?[ \t]+)?(\p{L}[\p{L}\-]*)", text[end : end + 60])
    return bool(m and is_head_noun(m.group(1)))


def scan_lower_name(text: str, pos: int, *, max_tokens: int = 3) -> tuple[int, int] | None:
    """A lower-case name at `pos` ("dr smith", "pt: doe, jane"): non-lexical lower-case words
    separated by a blank or one comma."""
    i = skip_blanks(text, pos)
    start, end, tokens, used_comma = i, -1, 0, False
    while tokens < max_tokens:
        m = _LOWER_WORD_RX.match(text, i)
        if not m or len(m.group()) < 2 or is_lexical(m.group()):
            break
        end = m.end()
        tokens += 1
        sep = re.match(r",?[ \t]", text[end : end + 2])
        if not sep:
            break
        if "," in sep.group():
            if used_comma:
                break
            used_comma = True
        i = end + len(sep.group())
    return (start, end) if end > 0 else None
