"""The pipeline: one stage interface, one typed job object, one runner.

A stage takes a `Job` and returns a new `Job` (dataclasses.replace) with its results filled in, or
raises `Withheld` (the study is deliberately not reported: unsupported class, unsafe report) or
`StageFailed` (something went wrong). Any other exception is a failure too. The runner turns that into
exactly one terminal outcome per job: delivered, withheld (with reason) or failed (with reason).

Stages must be safe to re-run from the start after a crash: the only externally visible effect is
delivery, which is idempotent by report id (derived from the job id).
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import Any, Mapping, Protocol, Sequence

log = logging.getLogger("securemed.pipeline")


class Outcome(str, Enum):
    DELIVERED = "delivered"
    WITHHELD = "withheld"
    FAILED = "failed"


class Withheld(Exception):
    """The study is not reported, on purpose; `reason` is shown to operators (no patient data).

    `job`, when given, is the stage's partial result (e.g. the privacy class it determined), so the
    outcome records what was learnt before withholding.
    """

    def __init__(self, reason: str, job: "Job | None" = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.job = job


class StageFailed(Exception):
    """A stage could not complete; `reason` is shown to operators (no patient data)."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass(frozen=True)
class PrivacyClass:
    name: str  # e.g. "Chest X-ray"
    level: str  # "high" | "medium" | "low"
    epsilon: float


@dataclass(frozen=True)
class Report:
    findings: str
    impression: str


@dataclass(frozen=True)
class SealedReport:
    report_id: str
    recipient_id: str
    envelope: Any  # appliance.envelope.Envelope


@dataclass(frozen=True)
class Job:
    """Everything a study accumulates on its way through the stages.

    Fields holding patient data (`datasets`, `reidentification`, `report`) live in memory only and are
    never logged; the job store persists ids, state and reasons.
    """

    job_id: str
    study_uid: str
    files: tuple[Path, ...]
    calling_aet: str = ""
    privacy: PrivacyClass | None = None
    datasets: tuple[Any, ...] = ()  # anonymised pydicom datasets, after the anonymize stage
    pending: frozenset[str] = frozenset()  # de-identification work not yet done (pixels)
    study_pseudonym: str = ""
    reidentification: Mapping[str, str] = field(default_factory=dict)  # accession, study date
    # Original header values the report must not contain (for the validate stage).
    identifying_values: tuple[str, ...] = ()
    free_text_values: tuple[str, ...] = ()
    report: Report | None = None
    bundle_id: str = ""
    sealed: tuple[SealedReport, ...] = ()
    timings: Mapping[str, float] = field(default_factory=dict)


class Stage(Protocol):
    name: str

    def __call__(self, job: Job) -> Job:
        """Return the job with this stage's results, or raise Withheld / StageFailed."""
        ...


@dataclass(frozen=True)
class Result:
    job: Job
    outcome: Outcome
    stage: str
    reason: str = ""


def run_pipeline(stages: Sequence[Stage], job: Job) -> Result:
    """Run every stage in order; the first Withheld or failure ends the job with its reason."""
    timings: dict[str, float] = {}
    for stage in stages:
        start = time.monotonic()
        try:
            job = stage(job)
        except Withheld as exc:
            log.info("job %s withheld at %s: %s", job.job_id, stage.name, exc.reason)
            return Result(exc.job or job, Outcome.WITHHELD, stage.name, exc.reason)
        except StageFailed as exc:
            log.warning("job %s failed at %s: %s", job.job_id, stage.name, exc.reason)
            return Result(job, Outcome.FAILED, stage.name, exc.reason)
        except Exception as exc:  # noqa: BLE001 - every job must end with an outcome
            # The message may quote DICOM values: only the type goes to the log (traceback at DEBUG).
            log.error("job %s: unexpected %s in %s", job.job_id, type(exc).__name__, stage.name)
            log.debug("traceback", exc_info=True)
            return Result(job, Outcome.FAILED, stage.name, f"internal error in {stage.name}: {type(exc).__name__}")
        timings[stage.name] = round(time.monotonic() - start, 4)
    return Result(replace(job, timings=timings), Outcome.DELIVERED, stages[-1].name if stages else "")
