"""A small character n-gram model: how much does a capitalised word look like a person's name?

Logistic regression over hashed character n-grams of one token, pure numpy, trained by
`training/phi_name_model.py` on first and last names (the train half of Faker's lists, see
`training/phi_corpus.py`) against English and clinical vocabulary. The weights ship as
`data/name_model.npz` (float16, a few hundred kB). The free-text redactor asks it only about
capitalised tokens that no rule has claimed and that are not clinical vocabulary; it is the last
resort for names written without any context word ("Maria Okafor was informed").

Deterministic: features are CRC-32 hashes of n-grams, no randomness at inference.
"""

from __future__ import annotations

import unicodedata
import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np

#: Character n-gram orders and hash space. Changing them invalidates the shipped weights
#: (`NameModel.load` checks both).
NGRAM_MIN = 1
NGRAM_MAX = 5
N_BUCKETS = 1 << 18
MODEL_FILE = "name_model.npz"


def fold(token: str) -> str:
    """Lowercase `token` and strip accents ("José" -> "jose"); letters, apostrophes and hyphens
    are kept, anything else dropped."""
    decomposed = unicodedata.normalize("NFKD", token)
    kept = [c for c in decomposed if not unicodedata.combining(c)]
    return "".join(c for c in "".join(kept).lower() if c.isalpha() or c in "'-")


def token_features(token: str) -> np.ndarray:
    """Hashed feature indices of one token: every character n-gram (orders NGRAM_MIN..NGRAM_MAX)
    of the folded token framed by '<' and '>', plus the whole word."""
    word = fold(token)
    framed = f"<{word}>"
    grams = [f"w:{word}"]
    for n in range(NGRAM_MIN, NGRAM_MAX + 1):
        grams.extend(framed[i : i + n] for i in range(len(framed) - n + 1))
    return np.fromiter((zlib.crc32(g.encode("utf-8")) % N_BUCKETS for g in grams), dtype=np.int64, count=len(grams))


@dataclass(frozen=True)
class NameModel:
    """Weights of the token classifier; `probability(token)` is P(token is part of a name)."""

    weights: np.ndarray  # (N_BUCKETS,) float32
    bias: float

    def __post_init__(self) -> None:
        if self.weights.shape != (N_BUCKETS,):
            raise ValueError(f"weights must have shape ({N_BUCKETS},), got {self.weights.shape}")

    def logit(self, token: str) -> float:
        return float(self.weights[token_features(token)].sum() + self.bias)

    def probability(self, token: str) -> float:
        """P(name) for one token; case does not matter (features are folded)."""
        return float(1.0 / (1.0 + np.exp(-self.logit(token))))

    def probabilities(self, tokens: Sequence[str]) -> np.ndarray:
        return np.array([self.probability(t) for t in tokens], dtype=np.float64)

    def save(self, path: Path) -> None:
        """Write the model as a compressed NPZ (weights rounded to float16)."""
        np.savez_compressed(
            path,
            weights=self.weights.astype(np.float16),
            bias=np.array([self.bias], dtype=np.float64),
            config=np.array([NGRAM_MIN, NGRAM_MAX, N_BUCKETS], dtype=np.int64),
        )

    @classmethod
    def load(cls, path: Path | None = None) -> NameModel:
        """Load `path`, or the model shipped in deid/text/data when None."""
        if path is None:
            ref = resources.files("deid.text").joinpath("data", MODEL_FILE)
            with resources.as_file(ref) as p:
                return cls.load(Path(p))
        with np.load(path, allow_pickle=False) as data:
            config = tuple(int(v) for v in data["config"])
            if config != (NGRAM_MIN, NGRAM_MAX, N_BUCKETS):
                raise ValueError(f"{path.name}: feature configuration {config} does not match the code")
            return cls(weights=data["weights"].astype(np.float32), bias=float(data["bias"][0]))


def train(
    positives: Iterable[str],
    negatives: Iterable[str],
    *,
    epochs: int = 12,
    learning_rate: float = 0.2,
    l2: float = 1e-6,
    seed: int = 0,
) -> NameModel:
    """Fit the classifier with AdaGrad on the class-balanced logistic loss.

    positives: name tokens; negatives: words that are not names. Duplicates are dropped; a token
    in both sets counts as a name (for a de-identifier a missed name is worse than a redacted
    word). Pure numpy, a few seconds for ~100k tokens.
    """
    pos = sorted({fold(t) for t in positives if fold(t)})
    pos_set = set(pos)
    neg = sorted({fold(t) for t in negatives if fold(t)} - pos_set)
    if not pos or not neg:
        raise ValueError("training needs both positive and negative tokens")
    tokens = pos + neg
    labels = np.concatenate([np.ones(len(pos)), np.zeros(len(neg))])
    # Each class carries half of the loss, so the 0.5 decision point means "as name-like as not".
    sample_weight = np.where(labels == 1, 0.5 / len(pos), 0.5 / len(neg)) * len(tokens)
    feats = [token_features(t) for t in tokens]

    rng = np.random.default_rng(seed)
    w = np.zeros(N_BUCKETS, dtype=np.float64)
    b = 0.0
    g2w = np.full(N_BUCKETS, 1e-8)
    g2b = 1e-8
    batch = 256
    for _ in range(epochs):
        order = rng.permutation(len(tokens))
        for start in range(0, len(order), batch):
            idx = order[start : start + batch]
            rows = [feats[i] for i in idx]
            lengths = np.fromiter((len(r) for r in rows), dtype=np.int64, count=len(rows))
            cols = np.concatenate(rows)
            row_of = np.repeat(np.arange(len(rows)), lengths)
            z = np.bincount(row_of, weights=w[cols], minlength=len(rows)) + b
            p = 1.0 / (1.0 + np.exp(-z))
            err = (p - labels[idx]) * sample_weight[idx] / len(idx)
            gw = np.bincount(cols, weights=err[row_of], minlength=N_BUCKETS)
            touched = np.unique(cols)
            gw_t = gw[touched] + l2 * w[touched]
            g2w[touched] += gw_t**2
            w[touched] -= learning_rate * gw_t / np.sqrt(g2w[touched])
            gb = float(err.sum())
            g2b += gb**2
            b -= learning_rate * gb / np.sqrt(g2b)
    return NameModel(weights=w.astype(np.float32), bias=b)
