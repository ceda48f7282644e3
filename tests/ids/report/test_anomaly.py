"""Anomaly rules against a calibration built here (runtime.bundle.ValidationCalibration)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from ids.report import Draft, ImageAgreementAnomaly, LogprobAnomaly, ReportValidator, ValidationContext, agreement
from ids.report.anomaly import CalibrationMismatchError, report_labels
from ids.report.labels import FINDINGS
from runtime.bundle import ValidationCalibration

CAL = ValidationCalibration(
    labels=FINDINGS, logprob_mean_min=-1.5, logprob_min_min=-8.0, agreement_min=0.8, source={"n": 0}
)
NORMAL = Draft("Heart size is normal. No pleural effusion or pneumothorax.", "No acute cardiopulmonary abnormality.")
EFFUSION = Draft("Moderate left pleural effusion.", "Moderate left pleural effusion.")


def probs(**high: float) -> tuple[float, ...]:
    return tuple(high.get(name, 0.05) for name in FINDINGS)


@pytest.mark.parametrize(
    ("p", "y", "expected"),
    [
        ([1.0, 0.0], [1.0, 0.0], 1.0),
        ([0.0, 1.0], [1.0, 0.0], 0.0),
        ([0.5, 0.5], [1.0, 0.0], 0.5),
        ([0.9, 0.2, 0.6], [1.0, 0.0, 0.0], (0.9 + 0.8 + 0.4) / 3),
    ],
)
def test_agreement(p: list[float], y: list[float], expected: float) -> None:
    assert agreement(p, y) == pytest.approx(expected)


@given(st.lists(st.tuples(st.floats(0, 1), st.sampled_from([0.0, 1.0])), min_size=1, max_size=12))
def test_agreement_is_in_the_unit_interval_and_one_only_when_equal(pairs: list[tuple[float, float]]) -> None:
    p, y = [a for a, _ in pairs], [b for _, b in pairs]
    score = agreement(p, y)
    assert 0.0 <= score <= 1.0
    if p == y:
        assert score == 1.0
    if max(abs(a - b) for a, b in pairs) > 1e-6:
        assert score < 1.0


def test_agreement_refuses_mismatched_lengths() -> None:
    with pytest.raises(ValueError):
        agreement([0.5], [1.0, 0.0])


@pytest.mark.parametrize(
    ("draft", "calibration", "codes"),
    [
        (Draft(NORMAL.findings, NORMAL.impression, token_logprobs=(-0.2, -0.5, -0.1)), CAL, []),
        (Draft(NORMAL.findings, NORMAL.impression, token_logprobs=(-2.0, -2.5, -1.9)), CAL, ["anomaly-logprob"]),
        (Draft(NORMAL.findings, NORMAL.impression, token_logprobs=(-0.1,) * 9 + (-9.0,)), CAL, ["anomaly-logprob"]),
        (
            Draft(NORMAL.findings, NORMAL.impression, token_logprobs=(-3.0, -12.0)),
            CAL,
            ["anomaly-logprob", "anomaly-logprob"],
        ),
        (Draft(NORMAL.findings, NORMAL.impression, token_logprobs=(-0.1, math.nan)), CAL, ["anomaly-logprob"]),
        # No calibration or no log-probabilities: no check.
        (Draft(NORMAL.findings, NORMAL.impression, token_logprobs=(-9.0,)), None, []),
        (Draft(NORMAL.findings, NORMAL.impression), CAL, []),
    ],
)
def test_logprob_anomaly(draft: Draft, calibration, codes: list[str]) -> None:
    assert [v.code for v in LogprobAnomaly().check(draft, ValidationContext(calibration=calibration))] == codes


@pytest.mark.parametrize(
    ("draft", "calibration", "codes"),
    [
        (Draft(NORMAL.findings, NORMAL.impression, finding_probs=probs()), CAL, []),
        (Draft(EFFUSION.findings, EFFUSION.impression, finding_probs=probs(effusion_left=0.9)), CAL, []),
        # The image head sees an effusion, a pneumothorax and a tube the normal report does not state.
        (
            Draft(
                NORMAL.findings,
                NORMAL.impression,
                finding_probs=probs(effusion_left=0.95, pneumothorax_right=0.95, tube=0.9),
            ),
            CAL,
            ["anomaly-image-agreement"],
        ),
        # No finding head, no agreement threshold, or no calibration: no check.
        (Draft(NORMAL.findings, NORMAL.impression), CAL, []),
        (
            Draft(
                NORMAL.findings, NORMAL.impression, finding_probs=probs(effusion_left=1, pneumothorax_right=1, tube=1)
            ),
            ValidationCalibration(FINDINGS, -1.5, -8.0, None),
            [],
        ),
        (Draft(NORMAL.findings, NORMAL.impression, finding_probs=probs(effusion_left=1, tube=1)), None, []),
    ],
)
def test_image_agreement_anomaly(draft: Draft, calibration, codes: list[str]) -> None:
    assert [v.code for v in ImageAgreementAnomaly().check(draft, ValidationContext(calibration=calibration))] == codes


def test_calibration_labels_order_is_followed() -> None:
    """The head's probabilities are read in the calibration's label order, not FINDINGS order."""
    labels = ("effusion_left", "cardiomegaly")
    assert report_labels(EFFUSION, labels) == [1.0, 0.0]
    cal = ValidationCalibration(labels, -1.5, -8.0, 0.9)
    context = ValidationContext(calibration=cal)
    assert (
        ImageAgreementAnomaly().check(
            Draft(EFFUSION.findings, EFFUSION.impression, finding_probs=(0.97, 0.02)), context
        )
        == []
    )
    assert ImageAgreementAnomaly().check(
        Draft(EFFUSION.findings, EFFUSION.impression, finding_probs=(0.02, 0.97)), context
    )


def test_a_calibration_that_does_not_fit_fails_closed() -> None:
    cal = ValidationCalibration(("effusion_left", "not_a_label"), -1.5, -8.0, 0.5)
    draft = Draft(EFFUSION.findings, EFFUSION.impression, finding_probs=(0.9, 0.1))
    with pytest.raises(CalibrationMismatchError):
        ImageAgreementAnomaly().check(draft, ValidationContext(calibration=cal))
    short = Draft(EFFUSION.findings, EFFUSION.impression, finding_probs=(0.9,))
    violations = ReportValidator([ImageAgreementAnomaly()]).check(short, ValidationContext(calibration=CAL))
    assert [v.code for v in violations] == ["rule-error"]
