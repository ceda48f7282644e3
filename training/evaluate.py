"""Evaluate a model bundle end to end on held-out phantoms: DICOM file -> runtime -> report -> labels.

Uses the torch-free runtime exactly as the appliance does, the negation-aware labeler on the generated
text, macro label-F1 against the drawn findings, and corpus BLEU-4 after R2Gen-style cleaning.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from runtime.bundle import ModelBundle
from runtime.generator import ReportGenerator
from runtime.preprocess import preprocess
from runtime.session import SessionSettings
from training.findings import FINDINGS
from training.labeler import label_report
from training.metrics import clean_report_r2gen, corpus_bleu, label_f1


@dataclass(frozen=True)
class Evaluation:
    precision: str
    n: int
    macro_f1: float
    per_label_f1: Mapping[str, float]
    bleu4: float
    seconds_per_report: float

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "n": self.n,
            "macro_label_f1": round(self.macro_f1, 4),
            "per_label_f1": {k: round(v, 4) for k, v in self.per_label_f1.items()},
            "bleu4": round(self.bleu4, 4),
            "seconds_per_report": round(self.seconds_per_report, 4),
        }


def generate_reports(generator: ReportGenerator, files: Sequence[Path], batch_size: int = 16) -> list[str]:
    cfg = generator.bundle.manifest.preprocessing
    texts: list[str] = []
    for start in range(0, len(files), batch_size):
        images = [preprocess(f, cfg) for f in files[start : start + batch_size]]
        texts += [r.text for r in generator.generate(images)]
    return texts


def evaluate_bundle(
    bundle_dir: Path, rows: Sequence[Mapping[str, Any]], root: Path, precision: str = "fp32", threads: int = 0
) -> Evaluation:
    """`rows` are phantom manifest entries (file, labels, report) relative to `root`."""
    generator = ReportGenerator(
        ModelBundle.open(bundle_dir), precision=precision, settings=SessionSettings(intra_op_threads=threads)
    )
    start = time.monotonic()
    hypotheses = generate_reports(generator, [root / r["file"] for r in rows])
    elapsed = time.monotonic() - start
    y_true = np.array([r["labels"] for r in rows], dtype=np.float32)
    y_pred = np.stack([label_report(h) for h in hypotheses])
    scores = label_f1(y_true, y_pred)
    per_label = {name: float(scores["per_label"][name]["f1"]) for name in FINDINGS if name in scores["per_label"]}
    bleu = corpus_bleu([clean_report_r2gen(r["report"]) for r in rows], [clean_report_r2gen(h) for h in hypotheses])
    return Evaluation(
        precision, len(rows), float(scores["macro_f1"]), per_label, float(bleu), elapsed / max(1, len(rows))
    )
