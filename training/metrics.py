"""Evaluation metrics for generated reports: label F1, R2Gen-style text cleaning, corpus BLEU.

- `label_f1`: per-label precision/recall/F1 of binary label matrices (e.g. labels read back from
  generated reports by `training.labeler.label_report` against the ground truth), with a macro
  F1 over the labels that occur.
- `clean_report_r2gen`: the IU X-ray report normalisation of R2Gen (Chen et al., EMNLP 2020),
  re-implemented so that BLEU here is computed on the same tokens as in that literature.
- `corpus_bleu`: Papineni et al. (2002) corpus-level BLEU with brevity penalty, no smoothing.

Pure Python + numpy; no torch.
"""

from __future__ import annotations

import math
import re
from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

from training.findings import FINDINGS


class MetricsInputError(ValueError):
    """Inputs to a metric have the wrong shape, length or values."""


def _as_binary_matrix(y: Any, name: str) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim == 1:
        arr = arr[None, :]
    if arr.ndim != 2:
        raise MetricsInputError(f"{name} must be a 1-D or 2-D array of 0/1 labels")
    if arr.size and not np.isin(arr, (0, 1)).all():
        raise MetricsInputError(f"{name} must contain only 0 and 1")
    return arr.astype(bool)


def label_f1(y_true: Any, y_pred: Any, labels: Sequence[str] = FINDINGS) -> dict[str, Any]:
    """Per-label precision, recall and F1, plus macro and micro F1.

    y_true, y_pred: (n_studies, n_labels) arrays of 0/1 (one study may be 1-D), columns in the
    order of `labels` (default FINDINGS).

    Returns {"per_label": {name: {"precision", "recall", "f1", "support", "predicted"}},
    "macro_f1", "macro_labels", "micro_f1"}. For each label, precision = TP/(TP+FP) and
    recall = TP/(TP+FN), each 0.0 when its denominator is 0; F1 = 2TP/(2TP+FP+FN).
    "macro_f1" is the mean F1 over the labels with at least one positive in y_true or in
    y_pred ("macro_labels"): a label absent from both has nothing to score and would otherwise
    count as a free 0 or 1. When no label occurs at all, macro_f1 is 1.0 (nothing was
    missed or invented). "micro_f1" pools TP/FP/FN over all labels (1.0 when all are 0).
    """
    t = _as_binary_matrix(y_true, "y_true")
    p = _as_binary_matrix(y_pred, "y_pred")
    if t.shape != p.shape:
        raise MetricsInputError(f"y_true {t.shape} and y_pred {p.shape} differ in shape")
    if t.shape[1] != len(labels):
        raise MetricsInputError(f"{t.shape[1]} label columns but {len(labels)} label names")
    tp = (t & p).sum(axis=0)
    fp = (~t & p).sum(axis=0)
    fn = (t & ~p).sum(axis=0)
    per_label: dict[str, dict[str, float | int]] = {}
    macro: list[float] = []
    macro_labels: list[str] = []
    for i, name in enumerate(labels):
        tpi, fpi, fni = int(tp[i]), int(fp[i]), int(fn[i])
        denom = 2 * tpi + fpi + fni
        f1 = 2 * tpi / denom if denom else 0.0
        per_label[name] = {
            "precision": tpi / (tpi + fpi) if tpi + fpi else 0.0,
            "recall": tpi / (tpi + fni) if tpi + fni else 0.0,
            "f1": f1,
            "support": tpi + fni,
            "predicted": tpi + fpi,
        }
        if denom:
            macro.append(f1)
            macro_labels.append(name)
    total = 2 * int(tp.sum()) + int(fp.sum()) + int(fn.sum())
    return {
        "per_label": per_label,
        "macro_f1": float(np.mean(macro)) if macro else 1.0,
        "macro_labels": macro_labels,
        "micro_f1": 2 * int(tp.sum()) / total if total else 1.0,
    }


# R2Gen's sentence cleaner strips this character class. Written as in R2Gen, ":-\[" is a range
# from ':' to '[' (so '<', '=', '>', '@' and capitals go too) and '-' itself survives; we keep
# that quirk because matching R2Gen's tokens is the point of this function.
_R2GEN_STRIP = re.compile(r"[.,?;*!%^&_+():-\[\]{}]")
_R2GEN_DELETE = str.maketrans("", "", "\"/\\'")


def _r2gen_sentence(sentence: str) -> str:
    return _R2GEN_STRIP.sub("", sentence.translate(_R2GEN_DELETE).strip().lower())


def clean_report_r2gen(text: str) -> str:
    """R2Gen's IU X-ray report cleaning (`clean_report_iu_xray`), re-implemented.

    Collapses runs of periods, drops list numbering "1. " .. "5. ", lowercases, splits into
    sentences on ". ", removes quotes, slashes and the punctuation class above from each
    sentence, and joins the sentences with " . ", ending with " .". Digits and hyphens are kept;
    a decimal point disappears ("2.5 cm" -> "25 cm"). Empty sentences are kept, as in R2Gen.
    """
    t = text
    for _ in range(3):
        t = t.replace("..", ".")
    t = t.replace("1. ", "")
    for k in "2345":
        t = t.replace(f". {k}. ", ". ")
    for k in "2345":
        t = t.replace(f" {k}. ", ". ")
    sentences = t.strip().lower().split(". ")
    return " . ".join(_r2gen_sentence(s) for s in sentences) + " ."


def _ngrams(tokens: list[str], n: int) -> Counter[tuple[str, ...]]:
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def corpus_bleu(references: Sequence[str], hypotheses: Sequence[str], max_n: int = 4, *, clean: bool = True) -> float:
    """Corpus BLEU-max_n (Papineni et al., 2002), one reference per hypothesis.

    Texts are cleaned with clean_report_r2gen (unless clean=False) and split on whitespace.
    Modified n-gram precisions p_n are pooled over the corpus (clipped matches / hypothesis
    n-grams), combined as a uniform geometric mean, and multiplied by the brevity penalty
    exp(1 - r/c) when the total hypothesis length c is not longer than the total reference
    length r. No smoothing: if any p_n is 0 (or there is no hypothesis n-gram) BLEU is 0.0.
    """
    if len(references) != len(hypotheses):
        raise MetricsInputError(f"{len(references)} references but {len(hypotheses)} hypotheses")
    if max_n < 1:
        raise MetricsInputError("max_n must be >= 1")
    matches = [0] * max_n
    totals = [0] * max_n
    ref_len = hyp_len = 0
    for ref, hyp in zip(references, hypotheses):
        r = (clean_report_r2gen(ref) if clean else ref).split()
        h = (clean_report_r2gen(hyp) if clean else hyp).split()
        ref_len += len(r)
        hyp_len += len(h)
        for n in range(1, max_n + 1):
            hyp_counts = _ngrams(h, n)
            ref_counts = _ngrams(r, n)
            matches[n - 1] += sum(min(c, ref_counts[g]) for g, c in hyp_counts.items())
            totals[n - 1] += max(len(h) - n + 1, 0)
    if hyp_len == 0 or any(m == 0 for m in matches) or any(t == 0 for t in totals):
        return 0.0
    log_precision = sum(math.log(m / t) for m, t in zip(matches, totals)) / max_n
    brevity = 1.0 if hyp_len > ref_len else math.exp(1.0 - ref_len / hyp_len)
    return brevity * math.exp(log_precision)
