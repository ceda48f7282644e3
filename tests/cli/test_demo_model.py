"""The demo-model recipe's calibration and model card (cli.demo_model), on synthetic evaluations, and
the committed demo bundle's records of both."""

from __future__ import annotations

import argparse

import numpy as np
import pytest

pytest.importorskip("torch")

from cli.demo_model import _calibrate, _prompt_table
from runtime.bundle import ModelBundle
from runtime.generator import GeneratedReport
from tests.conftest import DEMO_BUNDLE
from training.evaluate import Evaluation
from training.findings import FINDINGS

NORMAL = ("The heart size is normal. No pleural effusion. No pneumothorax.", "No acute cardiopulmonary abnormality.")


def _reports(n: int, rng: np.random.Generator, *, bad: bool = False) -> tuple[GeneratedReport, ...]:
    out = []
    for _ in range(n):
        lp = -rng.gamma(1.0, 0.05, 30) - (3.0 if bad else 0.0)
        probs = rng.uniform(0.0, 0.1, len(FINDINGS)) + (0.8 if bad else 0.0)
        out.append(GeneratedReport(*NORMAL, tuple(range(30)), tuple(lp), tuple(probs)))
    return tuple(out)


def _evaluation(precision: str, kind: str, f1: float, reports: tuple[GeneratedReport, ...]) -> Evaluation:
    per_label = dict.fromkeys(FINDINGS, f1)
    return Evaluation(precision, len(reports), f1, per_label, 0.4, 0.01, prompts=kind, reports=reports)


def _evaluations(second_half_bad: bool, f1: dict[str, float]) -> dict[str, dict[str, Evaluation]]:
    rng = np.random.default_rng(0)
    out: dict[str, dict[str, Evaluation]] = {}
    for precision in ("fp32", "int8"):
        out[precision] = {
            kind: _evaluation(precision, kind, f1[kind], _reports(50, rng) + _reports(50, rng, bad=second_half_bad))
            for kind in ("consistent", "inconsistent", "empty")
        }
    return out


def test_thresholds_come_from_the_first_half_and_the_rate_from_the_second() -> None:
    f1 = {"consistent": 0.9, "inconsistent": 0.85, "empty": 0.86}
    clean, _ = _calibrate(_evaluations(False, f1), 100)
    calibration, rates = _calibrate(_evaluations(True, f1), 100)
    # identical first halves, so identical thresholds, whatever the second half holds
    assert calibration.logprob_mean_min == clean.logprob_mean_min
    assert calibration.agreement_min == clean.agreement_min
    assert rates == dict.fromkeys(rates, 1.0) and len(rates) == 4
    assert calibration.source["flagged_rate"] == rates
    assert calibration.source["n"] == 100 and calibration.source["n_studies"] == 50
    assert calibration.source["seeds"]["calibrating_indices"] == [0, 50]
    assert calibration.labels == FINDINGS


@pytest.mark.parametrize(
    ("f1", "uses", "derailed"),
    [
        ({"consistent": 0.90, "inconsistent": 0.85, "empty": 0.86}, "uses them", "not derailed"),
        ({"consistent": 0.80, "inconsistent": 0.70, "empty": 0.86}, "does not use them", "derailed"),
    ],
)
def test_prompt_table_reports_the_numbers_as_they_are(f1: dict[str, float], uses: str, derailed: str) -> None:
    lines = _prompt_table(_evaluations(False, f1))
    text = "\n".join(lines)
    assert f"| fp32 | consistent | {f1['consistent']:.3f} |" in text
    assert f"| int8 | inconsistent | {f1['inconsistent']:.3f} |" in text
    summary = [line for line in lines if line.startswith("- fp32")][0]
    assert f"({uses})" in summary and f"({derailed}," in summary
    assert f"{f1['consistent'] - f1['empty']:+.3f}" in summary


def test_model_card_carries_the_calibration() -> None:
    from cli.demo_model import model_card

    class _History:
        steps, seconds, losses = 10, 1.0, [0.5]

    class _Check:
        max_abs_error, graph, output = 1e-6, "decoder", "logits"

    evaluations = _evaluations(False, {"consistent": 0.9, "inconsistent": 0.85, "empty": 0.86})
    calibration, rates = _calibrate(evaluations, 100)
    args = argparse.Namespace(train=10, test=100, threads=2)
    card = model_card(args, _History(), _History(), evaluations, (3, 3), [_Check()], "{}", calibration)
    assert f"logprob_mean_min {calibration.logprob_mean_min:.4f}" in card
    for key, rate in rates.items():
        assert f"Flagged on the measuring half ({key}): {100 * rate:.2f} %" in card


@pytest.mark.skipif(not (DEMO_BUNDLE / "manifest.json").exists(), reason="demo bundle missing")
def test_the_committed_demo_bundle_is_calibrated_and_has_the_head() -> None:
    m = ModelBundle.open(DEMO_BUNDLE).manifest
    if m.validation is None:
        pytest.skip("the committed demo bundle predates the calibration (rebuild with make demo-model)")
    assert m.finding_labels == FINDINGS == m.validation.labels
    assert m.validation.agreement_min is not None and 0.0 < m.validation.agreement_min < 1.0
    assert m.validation.logprob_min_min <= m.validation.logprob_mean_min < 0.0
    source = m.validation.source
    assert source["quantile"] == 0.005 and source["precision"] == "fp32" and "flagged_rate" in source
    assert set(m.metrics["heldout_prompts"]["fp32"]) == {"consistent", "inconsistent", "empty"}
