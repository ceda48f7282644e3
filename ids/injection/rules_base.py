"""The rule protocol of the injection detector and the pattern rule every family builds on.

A rule looks at one `Normalised` view's `text` and `despaced` (the detector hands it each decoded
payload as a view of its own, and adds "injection-encoded" when a rule fires only there). Patterns
are written against normalised text: lower case, accents stripped, leetspeak and homoglyphs folded.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from importlib import import_module
from typing import Any, Protocol, runtime_checkable

from ids.normalize import Normalised

__all__ = ["FILL", "SEP", "START", "InjectionRule", "PatternRule", "fill", "one_of", "words"]

# Between two words of a phrase: any non-word characters, or none (the despaced view joins words).
SEP = r"[\W_]*"
# A sentence start: the beginning of the text or after a sentence or clause break; where imperative
# phrases ("write that ...") are told apart from reported speech ("the patient writes that ...").
START = r"(?:^|[.!?;:\n>\]\)\"'*-]\s*|\b(?:please|pls|now|just|simply|always|only|then|and|bitte|jetzt|nun|"
START += r"s'il vous plait|svp|maintenant|por favor|ahora|per favore|ora|alsjeblieft|graag|nu|agora)\s+)"


def fill(n: int) -> str:
    """Up to `n` filler words between the parts of a phrase ("ignore [all of the] previous ...").

    Fillers never cross a clause break (".,;:!?" or a new line): "cancel CT, new instructions to
    follow" is two clauses, not one command.
    """
    return rf"(?:[\w'’-]+[^\w.,;:!?\n]+){{0,{n}}}?"


FILL = fill(4)


def one_of(words: Sequence[str]) -> str:
    """A non-capturing alternation of literal `words`, longest first. A space inside a word matches
    any run of non-word characters, or none (the despaced view glues words together)."""
    escaped = (
        SEP.join(re.escape(part) for part in w.split(" ")) for w in sorted(set(words), key=lambda w: (-len(w), w))
    )
    return "(?:" + "|".join(escaped) + ")"


def trie_of(words: Sequence[str]) -> str:
    """The same alternation as a trie ("ign(?:ore|orez)"), for the gate: the regex engine tries a few
    first letters per position instead of every word."""
    trie: dict[str, dict] = {}
    for word in set(words):
        node = trie
        for ch in word:
            node = node.setdefault(ch, {})
        node[""] = {}
    return _emit(trie)


def _emit(node: dict[str, dict]) -> str:
    ends = "" in node
    branches = [re.escape(ch) + _emit(child) for ch, child in sorted(node.items()) if ch]
    if not branches:
        return ""
    body = branches[0] if len(branches) == 1 else "(?:" + "|".join(branches) + ")"
    return f"(?:{body})?" if ends else body


@runtime_checkable
class InjectionRule(Protocol):
    """A rule: `code` is the stable reason code, `family` the attack family; `check` is pure."""

    code: str
    family: str

    def check(self, n: Normalised) -> bool: ...


class PatternRule:
    """Fires when any of `patterns` matches the view's `text`, `despaced` or `plain` (no tags).

    Subclasses set `code`, `family`, `name` (what the rule is about, for the README and tests) and
    `patterns` (regular expressions, compiled once per class).
    """

    code: str = ""
    family: str = ""
    name: str = ""
    patterns: tuple[str, ...] = ()
    _compiled: tuple[re.Pattern[str], ...] = ()
    _gate: re.Pattern[str] | None = None

    def __init_subclass__(cls) -> None:
        super().__init_subclass__()
        cls._compiled = tuple(re.compile(p) for p in cls.patterns)
        cls._gate = gate_for(cls.patterns)

    def check(self, n: Normalised) -> bool:
        """True when the text, its despaced form or its plain form matches one of the rule's patterns."""
        views = {n.text, n.despaced, n.plain or n.despaced}
        if self._gate is not None:
            views = {v for v in views if self._gate.search(v)}
        return any(p.search(view) for p in self._compiled for view in views)

    def __repr__(self) -> str:
        return f"{type(self).__name__}(code={self.code!r})"


def words(spec: str) -> list[str]:
    """Words written "a|b|c" (a compact form for long word lists)."""
    return spec.split("|")


# ---- the gate ------------------------------------------------------------------------------------
# Most texts are clean and most rules do not fire; proving that a rule's patterns cannot match is the
# cost. Every pattern needs some literal ("ignore", "prompt", ":"); the gate is a trie of those
# literals, searched once per view: when none occurs, the rule's patterns cannot match and are skipped.

_Req = frozenset[str] | None

# The regex parser is CPython's own (re._parser since 3.11); the gate is only a speed-up, so without
# it every rule simply runs all its patterns.
try:
    _c: Any = import_module("re._constants")
    _parser: Any = import_module("re._parser")
except ImportError:  # pragma: no cover - other interpreters
    _c = _parser = None


def _required(items: object) -> _Req:
    """Literals of which every match of the parsed sequence `items` contains at least one, or None."""
    factors: list[frozenset[str]] = []
    run: list[str] = []
    for op, av in items:  # type: ignore[attr-defined]
        if op is _c.LITERAL:
            run.append(chr(av))
            continue
        if run:
            factors.append(frozenset(["".join(run)]))
            run = []
        req = _required_item(op, av)
        if req is not None:
            factors.append(req)
    if run:
        factors.append(frozenset(["".join(run)]))
    if not factors:
        return None
    return max(factors, key=lambda f: (min(len(x) for x in f), -len(f)))


def _required_item(op: object, av: object) -> _Req:
    if op is _c.SUBPATTERN:
        return _required(av[3])  # type: ignore[index]
    if op is _c.ATOMIC_GROUP:
        return _required(av)
    if op in (_c.MAX_REPEAT, _c.MIN_REPEAT, _c.POSSESSIVE_REPEAT):
        low: int = av[0]  # type: ignore[index]
        inner: object = av[2]  # type: ignore[index]
        return _required(inner) if low >= 1 else None
    if op is _c.BRANCH:
        union: set[str] = set()
        for alternative in av[1]:  # type: ignore[index]
            req = _required(alternative)
            if req is None:
                return None
            union |= req
        return frozenset(union)
    return None


def gate_for(patterns: Sequence[str]) -> re.Pattern[str] | None:
    """A regex that matches wherever one of `patterns` could match (None when no literal is required)."""
    if _parser is None:  # pragma: no cover
        return None
    literals: set[str] = set()
    for pattern in patterns:
        req = _required(_parser.parse(pattern))
        if req is None:
            return None
        literals |= req
    return re.compile(trie_of(sorted(literals))) if literals else None
