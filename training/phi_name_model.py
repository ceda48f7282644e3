"""Train the name model of the free-text redactor (deid/text/model.py).

Positives: the "train" half of the name pool of training/phi_corpus/ (first and last names of
28 Faker locales) plus the capitalised entries (proper nouns: names, places) of an English word
list that fall in the same "train" half of the hash split, so no evaluation name is ever seen.
Negatives: the lower-case words of that list (default /usr/share/dict/words, Debian package
`wamerican`, SCOWL: permissive licence), minus words that are also listed capitalised ("terry",
"bill"), plus the redactor's clinical lexicon. Tokens of the held-out clinical terms of the corpus
are removed from the negatives so that they stay unseen. Prints a validation on the "eval" half
of the names and a hashed tenth of the word list, then writes the model:

    python -m training.phi_name_model            # -> deid/text/data/name_model.npz

Pure numpy, about ten seconds on one core; deterministic (same inputs, same bytes). Needs Faker (train dependency).
"""

from __future__ import annotations

import argparse
import hashlib
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import numpy as np

from deid.text.model import MODEL_FILE, NameModel, fold, train
from training.phi_corpus import iter_clinical_terms, name_pool, split_of

DEFAULT_WORDS = Path("/usr/share/dict/words")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "deid" / "text" / "data" / MODEL_FILE


def _lexicon() -> list[str]:
    text = resources.files("deid.text").joinpath("data", "clinical_lexicon.txt").read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _dictionary_words(path: Path) -> tuple[list[str], list[str]]:
    """(lower-case words that are never written capitalised in the list, capitalised entries)."""
    lower, proper = [], []
    for line in path.read_text("utf-8", errors="replace").splitlines():
        w = line.strip()
        if not w or "'" in w or not w.isalpha():
            continue
        if w == w.lower():
            lower.append(w)
        elif w[0].isupper() and w[1:] == w[1:].lower():
            proper.append(w)
    homographs = {w.lower() for w in proper}
    return [w for w in lower if w not in homographs], proper


def _held_out_tokens() -> set[str]:
    out: set[str] = set()
    for term in iter_clinical_terms(held_out=True):
        out.update(fold(t) for t in re.split(r"[\s]+", term) if t)
        out.update(fold(t) for t in re.split(r"[\s\-]+", term) if t)
    return out


def _is_validation(word: str) -> bool:
    return hashlib.blake2b(word.encode(), digest_size=4).digest()[0] < 26  # ~10 %


def _tokens(pool_first: dict[str, tuple[str, ...]], pool_last: dict[str, tuple[str, ...]]) -> list[str]:
    out: list[str] = []
    for names in (*pool_first.values(), *pool_last.values()):
        out.extend(names)
    return out


def training_tokens(words_path: Path) -> tuple[list[str], list[str]]:
    """(positives, negatives) of the shipped model: see the module docstring. No token of the
    "eval" half of the name pool is among the positives (asserted by a test)."""
    train_pool = name_pool("train")
    lower, proper = _dictionary_words(words_path)
    lexicon = {fold(w) for w in _lexicon()}
    # Proper nouns of the train half only; brand names that are clinical vocabulary stay out.
    extra = [w for w in proper if split_of(w) == "train" and fold(w) not in lexicon]
    positives = _tokens(train_pool.first, train_pool.last) + extra
    held_out = _held_out_tokens()
    negatives = [w for w in lower if w not in held_out] + [w for w in _lexicon() if fold(w) not in held_out]
    return positives, negatives


def _accuracy(model: NameModel, names: Iterable[str], words: Iterable[str], threshold: float) -> tuple[float, float]:
    pn = model.probabilities(list(names))
    pw = model.probabilities(list(words))
    return float((pn >= threshold).mean()), float((pw < threshold).mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=Path, default=DEFAULT_WORDS, help="English word list, one word per line")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--learning-rate", type=float, default=0.5)
    args = ap.parse_args(argv)

    positives, negatives = training_tokens(args.words)
    # Validation: fit without a hashed tenth of the word list, score eval-half names against it.
    fit_negatives = [w for w in negatives if not _is_validation(w)]
    val_words = [w for w in negatives if _is_validation(w) and w == w.lower()]
    model = train(positives, fit_negatives, epochs=args.epochs, learning_rate=args.learning_rate)
    eval_names = sorted(name_pool("eval").tokens())
    for thr in (0.5, 0.7, 0.9):
        name_recall, word_specificity = _accuracy(model, eval_names, val_words, thr)
        print(
            f"threshold {thr:.1f}: eval-half names recognised {name_recall:.3f}, held-out words rejected {word_specificity:.3f}"
        )
    held = sorted(_held_out_tokens())
    print(f"held-out clinical tokens scored >= 0.5: {int((model.probabilities(held) >= 0.5).sum())}/{len(held)}")
    print(f"positives {len(positives)}, negatives {len(negatives)}")
    model = train(positives, negatives, epochs=args.epochs, learning_rate=args.learning_rate)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(
        f"wrote {args.out} ({args.out.stat().st_size // 1024} kB, {np.count_nonzero(model.weights)} non-zero weights)"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
