"""Document assembly: the corpus generator, PHI-free clinical paragraphs, the planted terms."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator

from training.phi_corpus.descriptor import _descriptor
from training.phi_corpus.documents import Document, Span, _Builder, _Cast
from training.phi_corpus.fragments import _clinical
from training.phi_corpus.generators import _Gen, _make_cast
from training.phi_corpus.names import Split
from training.phi_corpus.note import _note
from training.phi_corpus.report import _report
from training.phi_corpus.sentences import _TERM_MARK, HELD_OUT_SENTENCES, KNOWN_SENTENCES

_WRITERS: dict[str, Callable[[_Gen, _Cast, float], _Builder]] = {
    "report": _report,
    "note": _note,
    "descriptor": _descriptor,
}
_KIND_WEIGHTS = {"report": 0.5, "note": 0.3, "descriptor": 0.2}


def generate(n: int, *, seed: int = 0, split: Split = "eval", held_out_share: float = 0.15) -> list[Document]:
    """`n` documents drawn deterministically from `seed`, with names and places from `split`.

    held_out_share: probability that a clinical sentence comes from HELD_OUT_SENTENCES.
    """
    rng = random.Random(f"phi-corpus/{split}/{seed}")
    g = _Gen(rng, split)
    kinds = list(_KIND_WEIGHTS)
    weights = [_KIND_WEIGHTS[k] for k in kinds]
    docs: list[Document] = []
    for _ in range(n):
        cast = _make_cast(g)
        kind = rng.choices(kinds, weights)[0]
        b = _WRITERS[kind](g, cast, held_out_share)
        docs.append(Document(kind, b.text(), tuple(b.phi), tuple(b.terms), dict(cast.header)))
    return docs


def clinical_text(rng: random.Random, n_sentences: int, *, held_out: bool = False) -> tuple[str, tuple[Span, ...]]:
    """A PHI-free paragraph of `n_sentences` clinical sentences and its term spans."""
    b = _Builder()
    _clinical(b, rng, n_sentences, 1.0 if held_out else 0.0)
    return b.text(), tuple(b.terms)


def iter_clinical_terms(*, held_out: bool) -> Iterator[str]:
    """Every [[term]] of the known (or held-out) clinical sentences."""
    for s in HELD_OUT_SENTENCES if held_out else KNOWN_SENTENCES:
        yield from _TERM_MARK.findall(s)
