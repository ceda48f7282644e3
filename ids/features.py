"""Hashed text features for the injection classifier, shared by its training and by the appliance.

Contract: `featurize(texts)` returns a float32 array of shape `[len(texts), FEATURE_DIM]`, one row per
text, each row computed from `ids.normalize.normalise(text)` alone: its `text`, its `despaced` form
and every `decoded` payload. The same text always gives the same row, in any process and on any
machine: bucket and sign come from `zlib.crc32`, never from Python's salted `hash()`. Rows are
L2-normalised (an empty text gives the zero row), so the length of a text does not drive its score.

Features, each hashed into one of `FEATURE_DIM` buckets with a sign (signed feature hashing, so that
collisions cancel on average instead of adding up):
- character 2..4-grams of every word padded with spaces (" ignore " -> " i", "ig", ..., "re "),
  which survive leetspeak remnants, inflections and the languages the corpus covers;
- word unigrams and bigrams (word order: "ignore previous" versus "previous film");
- the same n-grams of every decoded payload, in the same buckets as plain text (what the classifier
  learns from plain attacks carries over to encoded ones), plus one "has a payload" feature: a
  clinical indication almost never carries base64 or URL-encoded text, an attack often does.

Counts are damped (`log1p`) before normalisation: a word repeated ten times is not ten times the
evidence. The module imports numpy and the standard library only (the appliance runs it).
"""

from __future__ import annotations

import math
import re
import zlib
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from ids.normalize import normalise

FEATURE_DIM = 8192
"""Width of a feature row: a power of two, so a bucket is the low bits of the hash."""

_MASK = FEATURE_DIM - 1
_SIGN_BIT = 1 << 31
_WORD = re.compile(r"<[a-z/|][^<>]{0,40}>|[^\W_]+", re.UNICODE)
"""A word: a run of letters/digits, or a tag token (`<system>`, `<|im_start|>`) kept whole by normalisation."""
_MAX_WORDS = 400
"""Words considered per view: normalisation already caps the text; this bounds the work per row."""


def _words(text: str) -> list[str]:
    return _WORD.findall(text)[:_MAX_WORDS]


def _grams(words: Sequence[str], namespace: str) -> Iterable[str]:
    """The n-gram strings of one view, prefixed by the namespace so views do not collide by design."""
    for word in words:
        yield f"{namespace}w:{word}"
        if word.startswith("<"):
            continue
        padded = f" {word} "
        for n in (2, 3, 4):
            for i in range(len(padded) - n + 1):
                yield f"{namespace}c:{padded[i : i + n]}"
    for left, right in zip(words, words[1:], strict=False):
        yield f"{namespace}b:{left} {right}"


def _row(text: str) -> np.ndarray:
    norm = normalise(text)
    counts: Counter[str] = Counter()
    counts.update(_grams(_words(norm.text), ""))
    if norm.despaced != norm.text:
        counts.update(_grams(_words(norm.despaced), ""))
    for payload in norm.decoded:
        counts.update(_grams(_words(payload), ""))
    if norm.decoded:
        counts["meta:decoded"] += len(norm.decoded)
    row = np.zeros(FEATURE_DIM, dtype=np.float64)
    for gram, count in counts.items():
        h = zlib.crc32(gram.encode("utf-8"))
        row[h & _MASK] += (-1.0 if h & _SIGN_BIT else 1.0) * math.log1p(count)
    norm2 = float(np.linalg.norm(row))
    if norm2 > 0.0:
        row /= norm2
    return row.astype(np.float32)


def featurize(texts: Sequence[str]) -> np.ndarray:
    """Feature rows for `texts`: float32 `[len(texts), FEATURE_DIM]`, deterministic, L2-normalised."""
    out = np.zeros((len(texts), FEATURE_DIM), dtype=np.float32)
    for i, text in enumerate(texts):
        out[i] = _row(text)
    return out
