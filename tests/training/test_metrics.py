"""Label F1, R2Gen cleaning and corpus BLEU against hand-computed values and properties."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from training.findings import FINDINGS
from training.metrics import (
    MetricsInputError,
    clean_report_r2gen,
    corpus_bleu,
    label_f1,
)


def test_label_f1_hand_computed() -> None:
    labels = ("a", "b", "c", "d")
    y_true = np.array([[1, 0, 1, 0], [1, 1, 0, 0], [0, 0, 1, 0]])
    y_pred = np.array([[1, 1, 0, 0], [0, 1, 0, 0], [0, 0, 1, 0]])
    out = label_f1(y_true, y_pred, labels)
    a, b, c, d = (out["per_label"][k] for k in labels)
    # a: TP 1, FN 1 -> P 1, R 0.5, F1 2/3
    assert (a["precision"], a["recall"], a["f1"]) == pytest.approx((1.0, 0.5, 2 / 3))
    # b: TP 1, FP 1 -> P 0.5, R 1, F1 2/3
    assert (b["precision"], b["recall"], b["f1"]) == pytest.approx((0.5, 1.0, 2 / 3))
    # c: TP 1, FN 1 -> F1 2/3
    assert c["f1"] == pytest.approx(2 / 3)
    assert (a["support"], b["support"], c["support"], b["predicted"]) == (2, 1, 2, 2)
    # d never occurs: scored 0 but left out of the macro average.
    assert d["f1"] == 0.0
    assert out["macro_labels"] == ["a", "b", "c"]
    assert out["macro_f1"] == pytest.approx(2 / 3)
    # micro: TP 3, FP 1, FN 2 -> 6 / 9
    assert out["micro_f1"] == pytest.approx(6 / 9)


def test_label_f1_perfect_and_empty() -> None:
    y = np.eye(len(FINDINGS), dtype=np.float32)
    assert label_f1(y, y)["macro_f1"] == 1.0
    zeros = np.zeros((3, len(FINDINGS)))
    out = label_f1(zeros, zeros)
    assert out["macro_f1"] == 1.0 and out["macro_labels"] == []
    # A label only predicted (never true) counts, with F1 0.
    pred = zeros.copy()
    pred[0, 0] = 1
    out = label_f1(zeros, pred)
    assert out["macro_labels"] == ["cardiomegaly"] and out["macro_f1"] == 0.0


@pytest.mark.parametrize(
    ("y_true", "y_pred"),
    [
        (np.zeros((2, 12)), np.zeros((3, 12))),
        (np.zeros((2, 11)), np.zeros((2, 11))),
        (np.full((2, 12), 0.5), np.zeros((2, 12))),
        (np.zeros((2, 2, 12)), np.zeros((2, 2, 12))),
    ],
)
def test_label_f1_rejects_bad_input(y_true: np.ndarray, y_pred: np.ndarray) -> None:
    with pytest.raises(MetricsInputError):
        label_f1(y_true, y_pred)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("The heart is normal. No effusion.", "the heart is normal . no effusion ."),
        ("1. The heart is normal. 2. No effusion.", "the heart is normal . no effusion ."),
        ("Heart normal.. Lungs clear...", "heart normal . lungs clear ."),
        ("A 2.5 cm nodule (right), stable!", "a 25 cm nodule right stable ."),
        ("Well-expanded lungs; no pneumothorax.", "well-expanded lungs no pneumothorax ."),
        ('Patient\'s "old" film/comparison.', "patients old filmcomparison ."),
        # R2Gen's character class runs from ':' to '[', so '<', '=', '>' and '@' go too.
        ("Size <3 mm = stable @ base.", "size 3 mm  stable  base ."),
        ("FINDINGS: Clear. IMPRESSION: Normal.", "findings clear . impression normal ."),
    ],
)
def test_clean_report_r2gen(text: str, expected: str) -> None:
    assert clean_report_r2gen(text) == expected


@given(st.text(max_size=80))
def test_clean_report_r2gen_output_form(text: str) -> None:
    out = clean_report_r2gen(text)
    assert out.endswith(" .")
    assert out == out.lower()
    assert not any(ch in out.replace(" . ", "  ")[:-2] for ch in ",;:()!?\"'/")


def test_bleu_hand_computed() -> None:
    # p1 = 4/4, p2 = 3/3, c = 4 < r = 6: BP = exp(1 - 6/4).
    assert corpus_bleu(["a b c d e f"], ["a b c d"], max_n=2, clean=False) == pytest.approx(math.exp(-0.5))
    # Clipping: "the" counts at most twice. p1 = 2/4, BP = exp(1 - 6/4).
    assert corpus_bleu(["the cat is on the mat"], ["the the the the"], max_n=1, clean=False) == pytest.approx(
        0.5 * math.exp(-0.5)
    )
    # Corpus pooling, not an average of sentence scores: p1 = (3 + 1) / (3 + 2), no BP.
    assert corpus_bleu(["a b c", "a b"], ["a b c", "a x"], max_n=1, clean=False) == pytest.approx(0.8)
    # After cleaning, "." is a token: hyp "no pneumothorax ." (3), ref 6 tokens, p1 = p2 = 1.
    assert corpus_bleu(["No pneumothorax. No effusion."], ["No pneumothorax."], max_n=2) == pytest.approx(
        math.exp(1 - 6 / 3)
    )
    # BLEU-4 by hand: ref "a b c d e", hyp "a b c d x": p = 4/5, 3/4, 2/3, 1/2, c = r.
    expected = (4 / 5 * 3 / 4 * 2 / 3 * 1 / 2) ** 0.25
    assert corpus_bleu(["a b c d e"], ["a b c d x"], clean=False) == pytest.approx(expected)


def test_bleu_longer_hypothesis_has_no_brevity_penalty() -> None:
    # p1 = 3/4, p2 = 2/3, c = 4 > r = 3.
    assert corpus_bleu(["a b c"], ["a b c d"], max_n=2, clean=False) == pytest.approx(math.sqrt(3 / 4 * 2 / 3))


def test_bleu_without_smoothing_is_zero_when_an_order_has_no_match() -> None:
    assert corpus_bleu(["a b c d"], ["d c b a"], max_n=2, clean=False) == 0.0
    assert corpus_bleu(["a b"], ["a"], max_n=2, clean=False) == 0.0
    assert corpus_bleu([], [], max_n=4) == 0.0


def test_bleu_rejects_mismatched_corpora() -> None:
    with pytest.raises(MetricsInputError):
        corpus_bleu(["a"], ["a", "b"])


_words = st.lists(
    st.sampled_from(["heart", "lungs", "clear", "no", "effusion", "normal", "size"]), min_size=4, max_size=15
)


@given(st.lists(_words.map(" ".join), min_size=1, max_size=5))
def test_bleu_of_identical_corpus_is_one(texts: list[str]) -> None:
    assert corpus_bleu(texts, texts) == pytest.approx(1.0)


@given(st.lists(_words.map(" ".join), min_size=1, max_size=5))
def test_bleu_of_disjoint_vocabulary_is_zero(texts: list[str]) -> None:
    hyps = [" ".join("x" + w for w in t.split()) for t in texts]
    assert corpus_bleu(texts, hyps, clean=False) == 0.0


@given(st.lists(st.tuples(_words.map(" ".join), _words.map(" ".join)), min_size=1, max_size=6), st.randoms())
def test_bleu_is_bounded_and_order_free(pairs: list[tuple[str, str]], rnd) -> None:  # type: ignore[no-untyped-def]
    refs, hyps = [p[0] for p in pairs], [p[1] for p in pairs]
    score = corpus_bleu(refs, hyps)
    assert 0.0 <= score <= 1.0
    shuffled = pairs[:]
    rnd.shuffle(shuffled)
    assume(len(pairs) > 1)
    assert corpus_bleu([p[0] for p in shuffled], [p[1] for p in shuffled]) == pytest.approx(score)


@given(st.text(max_size=80))
def test_cleaning_cleaned_text_keeps_its_tokens(text: str) -> None:
    # corpus_bleu cleans its inputs; text that was cleaned already tokenises the same again.
    once = clean_report_r2gen(text)
    assert clean_report_r2gen(once).split() == once.split()
