"""Anomaly calibration: thresholds are the stated quantiles of clean reports' scores, and `flagged`
applies exactly the contract's rule (mean, min token log-prob, image-report agreement)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from runtime.bundle import ValidationCalibration
from runtime.generator import GeneratedReport
from tests.conftest import REPORT_SAMPLES
from training.evaluate import anomaly_scores, calibrate, flagged
from training.findings import FINDINGS
from training.labeler import label_report


def _report(text: str, logprobs: list[float], probs: list[float] | None) -> GeneratedReport:
    findings, _, impression = text.partition(" IMPRESSION: ")
    return GeneratedReport(
        findings=findings.removeprefix("FINDINGS: "),
        impression=impression,
        token_ids=tuple(range(len(logprobs))),
        token_logprobs=tuple(logprobs),
        finding_probs=None if probs is None else tuple(probs),
    )


def _clean(n: int, seed: int = 0) -> list[GeneratedReport]:
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        text = REPORT_SAMPLES[i % len(REPORT_SAMPLES)]
        y = label_report(text)
        probs = np.clip(y + rng.normal(0, 0.1, len(FINDINGS)), 0, 1)
        out.append(_report(text, list(-rng.gamma(1.0, 0.1, 20)), list(probs)))
    return out


def test_thresholds_are_the_quantiles_of_the_clean_scores() -> None:
    reports = _clean(400)
    cal = calibrate(reports, FINDINGS, quantile=0.01, source={"seeds": "test"})
    means = [np.mean(r.token_logprobs) for r in reports]
    mins = [np.min(r.token_logprobs) for r in reports]
    agree = [np.mean(1 - np.abs(np.array(r.finding_probs) - label_report(r.text))) for r in reports]
    assert cal.logprob_mean_min == pytest.approx(np.quantile(means, 0.01))
    assert cal.logprob_min_min == pytest.approx(np.quantile(mins, 0.01))
    assert cal.agreement_min == pytest.approx(np.quantile(agree, 0.01))
    assert cal.labels == FINDINGS
    assert cal.source == {"n": 400, "quantile": 0.01, "quantile_method": "linear", "seeds": "test"}
    # on fresh clean reports from the same distribution, few are flagged (three checks of 1 % each)
    rate = flagged(_clean(2000, seed=1), cal).mean()
    assert 0.0 < rate < 0.06


CAL = ValidationCalibration(FINDINGS, logprob_mean_min=-1.0, logprob_min_min=-5.0, agreement_min=0.8)
NORMAL = REPORT_SAMPLES[0]  # labels all zero
AGREEING = [0.0] * len(FINDINGS)


@pytest.mark.parametrize(
    ("logprobs", "probs", "expected"),
    [
        ([-0.1, -0.2, -0.3], AGREEING, False),
        ([-1.5, -1.2, -1.1], AGREEING, True),  # mean below
        ([-0.1, -0.1, -6.0], AGREEING, True),  # one token below the minimum (mean -2.07 too)
        ([-0.01] * 300 + [-5.5], AGREEING, True),  # minimum alone
        ([-0.1, -0.2], [1.0] * 3 + [0.0] * (len(FINDINGS) - 3), True),  # agreement 0.75 < 0.8
        ([-0.1, -0.2], [1.0] * 2 + [0.0] * (len(FINDINGS) - 2), False),  # agreement 0.83
        ([-0.1, -0.2], None, False),  # no head: agreement not checked
        ([], AGREEING, True),  # nothing emitted at all
    ],
)
def test_flagged_applies_the_contracts_rule(logprobs, probs, expected: bool) -> None:
    assert bool(flagged([_report(NORMAL, logprobs, probs)], CAL)[0]) is expected


def test_agreement_is_not_calibrated_without_a_head() -> None:
    reports = [_report(NORMAL, [-0.1, -0.3], None) for _ in range(10)]
    cal = calibrate(reports, FINDINGS)
    assert cal.agreement_min is None and cal.labels == ()
    assert np.isnan(anomaly_scores(reports).agreement).all()


def test_no_reports_is_an_error() -> None:
    with pytest.raises(ValueError, match="no reports"):
        calibrate([], FINDINGS)


def test_evaluation_with_prompts_keeps_its_reports(tiny_bundle: Path, tmp_path: Path) -> None:
    from runtime.bundle import ModelBundle
    from runtime.generator import ReportGenerator
    from training.evaluate import evaluate_bundle, generate_all
    from training.phantoms import write_phantom_set
    from training.phantoms.manifest import load_phantom_manifest

    root = write_phantom_set(tmp_path / "ph", 3, seed=5)
    rows = load_phantom_manifest(root)
    prompts = ["? left effusion", "", "Post central line insertion, check position"]
    ev = evaluate_bundle(tiny_bundle, rows, root, prompts=prompts, prompts_name="consistent")
    assert len(ev.reports) == 3 and ev.to_dict()["prompts"] == "consistent" and "reports" not in ev.to_dict()
    assert all(len(r.token_logprobs) == len(r.token_ids) for r in ev.reports)
    generator = ReportGenerator(ModelBundle.open(tiny_bundle))
    with pytest.raises(ValueError, match="one prompt per file"):
        generate_all(generator, [root / r["file"] for r in rows], prompts=prompts[:2])
