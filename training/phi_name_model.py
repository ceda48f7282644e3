"""Train the name model of the free-text redactor (appliance/deid/text_model.py).

Positives: the "train" half of the name pool of training/phi_corpus.py (first and last names of
28 Faker locales). Negatives: the lower-case words of an English word list (default
/usr/share/dict/words, Debian package `wamerican`, SCOWL: permissive licence) plus the
redactor's clinical lexicon. Tokens of the held-out clinical terms of the corpus are removed from
the negatives so that they stay unseen. Prints a validation on the "eval" half of the names and a
hashed tenth of the word list, then writes the model:

    python -m training.phi_name_model            # -> appliance/deid/textdata/name_model.npz

Pure numpy, about a minute on one core. Needs Faker (train dependency).
"""

from __future__ import annotations

import argparse
import hashlib
import re
from collections.abc import Iterable
from importlib import resources
from pathlib import Path

import numpy as np

from appliance.deid.text_model import MODEL_FILE, NameModel, fold, train
from training.phi_corpus import iter_clinical_terms, name_pool

DEFAULT_WORDS = Path("/usr/share/dict/words")
DEFAULT_OUT = Path(__file__).resolve().parents[1] / "appliance" / "deid" / "textdata" / MODEL_FILE


def _lexicon() -> list[str]:
    text = resources.files("appliance.deid").joinpath("textdata", "clinical_lexicon.txt").read_text("utf-8")
    return [line.strip() for line in text.splitlines() if line.strip() and not line.startswith("#")]


def _dictionary_words(path: Path) -> list[str]:
    words = []
    for line in path.read_text("utf-8", errors="replace").splitlines():
        w = line.strip()
        # Lower-case entries only: capitalised ones are proper nouns (names, places, brands).
        if w and w == w.lower() and not w.endswith("'s") and w.isalpha():
            words.append(w)
    return words


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


def _accuracy(model: NameModel, names: Iterable[str], words: Iterable[str], threshold: float) -> tuple[float, float]:
    pn = model.probabilities(list(names))
    pw = model.probabilities(list(words))
    return float((pn >= threshold).mean()), float((pw < threshold).mean())


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--words", type=Path, default=DEFAULT_WORDS, help="English word list, one word per line")
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    ap.add_argument("--epochs", type=int, default=12)
    args = ap.parse_args(argv)

    train_pool = name_pool("train")
    eval_pool = name_pool("eval")
    positives = _tokens(train_pool.first, train_pool.last)
    held_out = _held_out_tokens()
    words = [w for w in _dictionary_words(args.words) if w not in held_out]
    fit_words = [w for w in words if not _is_validation(w)]
    val_words = [w for w in words if _is_validation(w)]
    negatives = fit_words + [w for w in _lexicon() if fold(w) not in held_out]

    model = train(positives, negatives, epochs=args.epochs)
    eval_names = sorted(eval_pool.tokens())
    for thr in (0.5, 0.7, 0.9):
        name_recall, word_specificity = _accuracy(model, eval_names, val_words, thr)
        print(f"threshold {thr:.1f}: eval-half names recognised {name_recall:.3f}, held-out words rejected {word_specificity:.3f}")
    held = sorted(held_out)
    print(f"held-out clinical tokens scored >= 0.5: {int((model.probabilities(held) >= 0.5).sum())}/{len(held)}")
    # Refit on every word (validation words included) for the shipped model.
    model = train(positives, words + [w for w in _lexicon() if fold(w) not in held_out], epochs=args.epochs)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    model.save(args.out)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} kB, {np.count_nonzero(model.weights)} non-zero weights)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
