"""Pieces every document writer uses: clinical sentences, generated report text, names, dates."""

from __future__ import annotations

import random
from datetime import date

from training.phi_corpus.documents import _Builder, _Person
from training.phi_corpus.generators import format_date, format_name
from training.phi_corpus.sentences import HELD_OUT_SENTENCES, KNOWN_SENTENCES

_CRED = (", MD", ", M.D.", " MD", ", DO", "", "", ", PA-C", ", NP", ", RN")


def _clinical(b: _Builder, rng: random.Random, n: int, held_out_share: float, *, upper: bool = False) -> None:
    for i in range(n):
        if rng.random() < held_out_share:
            sentence, kind = rng.choice(HELD_OUT_SENTENCES), "held_out"
        else:
            sentence, kind = rng.choice(KNOWN_SENTENCES), "known"
        b.add_clinical(sentence.upper() if upper else sentence, kind)
        if i < n - 1:
            b.add(" ")


def _generated_report(rng: random.Random) -> str:
    """FINDINGS/IMPRESSION text from the project's report generator (PHI-free filler)."""
    import numpy as np

    from training.findings import sample_findings
    from training.reports import write_report

    np_rng = np.random.default_rng(rng.randrange(2**32))
    return write_report(sample_findings(np_rng), np_rng).text


def _name(b: _Builder, p: _Person, rng: random.Random, *, allow_single: bool = False) -> None:
    b.add(format_name(p, rng, allow_single=allow_single), "PERSON")


def _date(b: _Builder, d: date, rng: random.Random, **kw: bool) -> None:
    text = format_date(d, rng, **kw)
    if text.startswith("the "):  # the article is not part of the date
        b.add("the ")
        text = text[4:]
    b.add(text, "DATE")
