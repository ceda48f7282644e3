"""Anomaly of a draft against the bundle's calibration (runtime.bundle.ValidationCalibration): the
generator's own token log-probabilities and the agreement of the image tower's finding head with
the labels the report states.

Codes:
- "anomaly-logprob": mean(draft.token_logprobs) < calibration.logprob_mean_min, or
  min(draft.token_logprobs) < calibration.logprob_min_min. No calibration or no log-probabilities:
  no check (older bundles, drafts from elsewhere).
- "anomaly-image-agreement": agreement(draft.finding_probs, label_report(findings + impression)
  in calibration.labels order) < calibration.agreement_min. No calibration, no agreement_min or no
  finding_probs: no check. A calibration whose labels the labeler does not know, or whose length
  differs from finding_probs, is an error (the validator turns it into "rule-error": fail closed).

The calibration is read by attribute (labels, logprob_mean_min, logprob_min_min, agreement_min), so
any object with those attributes works; thresholds are chosen on held-out phantoms (the MODEL
helper's bundle writer records how in `source`).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from common.errors import ExitCode
from ids.errors import IdsError
from ids.report.base import Draft, ValidationContext, Violation, report_text
from ids.report.labeler import label_report
from ids.report.labels import FINDINGS


class CalibrationMismatchError(IdsError):
    """The bundle's calibration does not fit the labeler or the draft's finding probabilities (a
    bundle problem: exit 78, CONFIG). Inside the validator it becomes "rule-error"."""

    exit_code = ExitCode.CONFIG


def agreement(finding_probs: Sequence[float], labels: Sequence[float]) -> float:
    """mean over i of (1 - |p_i - y_i|): 1.0 when image head and report agree fully, 0.0 when every
    label is the opposite of a confident probability. Both sequences must have the same non-zero
    length; values are probabilities in [0, 1]."""
    if len(finding_probs) != len(labels) or not labels:
        raise ValueError("finding_probs and labels must have the same non-zero length")
    return sum(1.0 - abs(float(p) - float(y)) for p, y in zip(finding_probs, labels)) / len(labels)


def report_labels(draft: Draft, names: Sequence[str]) -> list[float]:
    """The labeler's 0/1 labels of the draft, in the order of `names` (FINDINGS names)."""
    vector = label_report(report_text(draft))
    index = {name: i for i, name in enumerate(FINDINGS)}
    unknown = [name for name in names if name not in index]
    if unknown:
        raise CalibrationMismatchError(f"calibration names {len(unknown)} labels the labeler does not know")
    return [float(vector[index[name]]) for name in names]


@dataclass(frozen=True)
class LogprobAnomaly:
    """The generator was unusually unsure of its own draft (see the module docstring)."""

    code: str = "anomaly-logprob"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        calibration = context.calibration
        values = draft.token_logprobs
        if calibration is None or not values:
            return []
        if not all(math.isfinite(v) for v in values):
            return [Violation(self.code, "token log-probabilities are not finite")]
        mean, low = sum(values) / len(values), min(values)
        out = []
        if mean < calibration.logprob_mean_min:
            out.append(
                Violation(self.code, f"mean token log-probability {mean:.3f} below {calibration.logprob_mean_min:.3f}")
            )
        if low < calibration.logprob_min_min:
            out.append(
                Violation(self.code, f"minimum token log-probability {low:.3f} below {calibration.logprob_min_min:.3f}")
            )
        return out


@dataclass(frozen=True)
class ImageAgreementAnomaly:
    """The image tower's findings disagree with the report's (see the module docstring)."""

    code: str = "anomaly-image-agreement"

    def check(self, draft: Draft, context: ValidationContext) -> list[Violation]:
        calibration = context.calibration
        if calibration is None or calibration.agreement_min is None or draft.finding_probs is None:
            return []
        if len(draft.finding_probs) != len(calibration.labels):
            raise CalibrationMismatchError("finding_probs and calibration.labels differ in length")
        score = agreement(draft.finding_probs, report_labels(draft, calibration.labels))
        if score < calibration.agreement_min:
            return [Violation(self.code, f"image-report agreement {score:.3f} below {calibration.agreement_min:.3f}")]
        return []
