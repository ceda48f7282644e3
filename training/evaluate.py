"""Evaluate a model bundle end to end on held-out phantoms: DICOM file -> runtime -> report -> labels.

Uses the torch-free runtime exactly as the appliance does, the negation-aware labeler on the generated
text, macro label-F1 against the drawn findings, and corpus BLEU-4 after R2Gen-style cleaning.
`prompts` (one clinical indication per row, "" or None for none) are given to the model as the
appliance gives them; the generated reports are kept on the Evaluation (token log-probabilities and
finding-head probabilities included) for the anomaly calibration.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from runtime.bundle import ModelBundle, ValidationCalibration
from runtime.generator import GeneratedReport, ReportGenerator
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
    prompts: str = "empty"  # which indications the model was given (a name, e.g. a training.indications kind)
    reports: tuple[GeneratedReport, ...] = field(default=(), repr=False, compare=False)

    def to_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision,
            "prompts": self.prompts,
            "n": self.n,
            "macro_label_f1": round(self.macro_f1, 4),
            "per_label_f1": {k: round(v, 4) for k, v in self.per_label_f1.items()},
            "bleu4": round(self.bleu4, 4),
            "seconds_per_report": round(self.seconds_per_report, 4),
        }


def generate_all(
    generator: ReportGenerator,
    files: Sequence[Path],
    batch_size: int = 16,
    prompts: Sequence[str | None] | None = None,
) -> list[GeneratedReport]:
    """Reports for DICOM files, in batches, with one optional indication per file."""
    if prompts is not None and len(prompts) != len(files):
        raise ValueError("one prompt per file")
    cfg = generator.bundle.manifest.preprocessing
    out: list[GeneratedReport] = []
    for start in range(0, len(files), batch_size):
        images = [preprocess(f, cfg) for f in files[start : start + batch_size]]
        batch = None if prompts is None else [p or None for p in prompts[start : start + batch_size]]
        out += generator.generate(images, batch)
    return out


def generate_reports(
    generator: ReportGenerator,
    files: Sequence[Path],
    batch_size: int = 16,
    prompts: Sequence[str | None] | None = None,
) -> list[str]:
    return [r.text for r in generate_all(generator, files, batch_size, prompts)]


def evaluate_bundle(
    bundle_dir: Path,
    rows: Sequence[Mapping[str, Any]],
    root: Path,
    precision: str = "fp32",
    threads: int = 0,
    prompts: Sequence[str | None] | None = None,
    prompts_name: str = "empty",
) -> Evaluation:
    """`rows` are phantom manifest entries (file, labels, report) relative to `root`."""
    generator = ReportGenerator(
        ModelBundle.open(bundle_dir), precision=precision, settings=SessionSettings(intra_op_threads=threads)
    )
    start = time.monotonic()
    reports = generate_all(generator, [root / r["file"] for r in rows], prompts=prompts)
    hypotheses = [r.text for r in reports]
    elapsed = time.monotonic() - start
    y_true = np.array([r["labels"] for r in rows], dtype=np.float32)
    y_pred = np.stack([label_report(h) for h in hypotheses])
    scores = label_f1(y_true, y_pred)
    per_label = {name: float(scores["per_label"][name]["f1"]) for name in FINDINGS if name in scores["per_label"]}
    bleu = corpus_bleu([clean_report_r2gen(r["report"]) for r in rows], [clean_report_r2gen(h) for h in hypotheses])
    return Evaluation(
        precision,
        len(rows),
        float(scores["macro_f1"]),
        per_label,
        float(bleu),
        elapsed / max(1, len(rows)),
        prompts=prompts_name,
        reports=tuple(reports),
    )


# ---- anomaly calibration ------------------------------------------------------------------------

CALIBRATION_QUANTILE = 0.005  # 0.5 %: the thresholds flag about 1 in 200 clean held-out reports


def _contract_agreement(finding_probs: Sequence[float], labels: Sequence[float]) -> float:
    """mean_i (1 - |p_i - y_i|): the contract's formula of ids.report.anomaly.agreement."""
    p, y = np.asarray(finding_probs, dtype=np.float64), np.asarray(labels, dtype=np.float64)
    return float(np.mean(1.0 - np.abs(p - y)))


# ids.report (the report validator's package) owns `agreement` and the labeler; it is being built
# alongside this module, so until it exists the same formula and training.labeler (the same labeler)
# stand in. Resolved once at import, so one run never mixes the two.
try:
    _anomaly = importlib.import_module("ids.report.anomaly")
    _ids_labeler = importlib.import_module("ids.report.labeler")
    _agreement: Callable[[Sequence[float], Sequence[float]], float] = _anomaly.agreement
    _label: Callable[[str], np.ndarray] = _ids_labeler.label_report
except ImportError:
    _agreement, _label = _contract_agreement, label_report


@dataclass(frozen=True)
class AnomalyScores:
    """Per report: mean and minimum token log-probability, image-report agreement (NaN without a head)."""

    logprob_mean: np.ndarray
    logprob_min: np.ndarray
    agreement: np.ndarray


def anomaly_scores(reports: Sequence[GeneratedReport]) -> AnomalyScores:
    # The labeler reads the sections joined by a line break, as the validator does (ids.report.base).
    means, mins, agree = [], [], []
    for r in reports:
        lp = np.asarray(r.token_logprobs, dtype=np.float64)
        means.append(float(lp.mean()) if lp.size else -np.inf)
        mins.append(float(lp.min()) if lp.size else -np.inf)
        agree.append(
            np.nan
            if r.finding_probs is None
            else float(_agreement(r.finding_probs, [float(v) for v in _label(f"{r.findings}\n{r.impression}")]))
        )
    return AnomalyScores(np.array(means), np.array(mins), np.array(agree))


def calibrate(
    reports: Sequence[GeneratedReport],
    labels: Sequence[str],
    *,
    quantile: float = CALIBRATION_QUANTILE,
    source: Mapping[str, Any] | None = None,
) -> ValidationCalibration:
    """Thresholds at the `quantile` of clean reports' mean/min token log-prob and agreement.

    `reports` are the model's own reports of held-out studies (no anomaly among them by
    construction); `source` is merged into the record of how the thresholds were computed.
    """
    if not reports:
        raise ValueError("no reports to calibrate on")
    s = anomaly_scores(reports)
    with_head = ~np.isnan(s.agreement)
    agreement_min = float(np.quantile(s.agreement[with_head], quantile)) if with_head.all() else None
    return ValidationCalibration(
        labels=tuple(labels) if agreement_min is not None else (),
        logprob_mean_min=float(np.quantile(s.logprob_mean, quantile)),
        logprob_min_min=float(np.quantile(s.logprob_min, quantile)),
        agreement_min=agreement_min,
        source={"n": len(reports), "quantile": quantile, "quantile_method": "linear", **dict(source or {})},
    )


def flagged(reports: Sequence[GeneratedReport], calibration: ValidationCalibration) -> np.ndarray:
    """Which reports the anomaly checks would withhold under `calibration` (bool [n])."""
    s = anomaly_scores(reports)
    out = (s.logprob_mean < calibration.logprob_mean_min) | (s.logprob_min < calibration.logprob_min_min)
    if calibration.agreement_min is not None:
        out |= np.nan_to_num(s.agreement, nan=1.0) < calibration.agreement_min
    return out
