"""The runner gives every job exactly one outcome, with the stage and reason."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import ClassVar

import pytest

from appliance.classify import HEAD_CT
from appliance.pipeline import Job, Outcome, StageFailed, Withheld, run_pipeline


@dataclass
class Step:
    name: str
    effect: str = "ok"
    reads: ClassVar[frozenset[str]] = frozenset({"files"})
    writes: ClassVar[frozenset[str]] = frozenset({"bundle_id", "privacy"})

    def __call__(self, job: Job) -> Job:
        if self.effect == "withhold":
            raise Withheld("unsupported class", replace(job, privacy=HEAD_CT))
        if self.effect == "fail":
            raise StageFailed("decoder missing")
        if self.effect == "crash":
            raise KeyError("PatientName=DOE^JOHN")  # an unexpected error quoting patient data
        return replace(job, bundle_id=job.bundle_id + self.name)


JOB = Job(job_id="j1", study_uid="1.2.3", files=(Path("a.dcm"),))


@pytest.mark.parametrize(
    "effects, outcome, stage, reason",
    [
        (["ok", "ok", "ok"], Outcome.DELIVERED, "c", ""),
        (["ok", "withhold", "ok"], Outcome.WITHHELD, "b", "unsupported class"),
        (["fail", "ok", "ok"], Outcome.FAILED, "a", "decoder missing"),
        (["ok", "ok", "crash"], Outcome.FAILED, "c", "internal error in c: KeyError"),
    ],
)
def test_each_job_ends_with_one_outcome(effects, outcome, stage, reason, caplog) -> None:
    stages = [Step(n, e) for n, e in zip("abc", effects)]
    result = run_pipeline(stages, JOB)
    assert (result.outcome, result.stage, result.reason) == (outcome, stage, reason)
    assert "DOE" not in caplog.text  # exception messages may quote DICOM values: never logged
    if outcome is Outcome.DELIVERED:
        assert result.job.bundle_id == "abc" and set(result.job.timings) == {"a", "b", "c"}
    if outcome is Outcome.WITHHELD:
        assert result.job.privacy == HEAD_CT  # what the stage learnt is kept
