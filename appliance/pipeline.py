"""The pipeline: one stage interface, one typed job object, one runner.

A stage takes a `Job` and returns a new `Job` (dataclasses.replace) with its results filled in, or
raises `Withheld` (the study is deliberately not reported: unsupported class, unsafe report) or
`StageFailed` (something went wrong). Any other exception is a failure too. The runner turns that into
exactly one terminal outcome per job: delivered, withheld (with reason) or failed (with reason).

Each stage declares the `Job` fields it reads and writes (`reads`, `writes`, repeated in its
docstring). The runner checks the contract on every call: a field a stage reads must have been
written by an earlier stage (or be one of the queue's fields), and a stage that changes a field it
did not declare fails the job. So no stage tests its inputs for None, and `tests/appliance/
test_stages.py` checks each stage's docstring and its real reads and writes against the declaration.

Stages must be safe to re-run from the start after a crash: the only externally visible effect is
delivery, which is idempotent by report id (derived from the job id).
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import Enum
from pathlib import Path
from typing import ClassVar, Protocol

from pydicom.dataset import Dataset

from appliance.envelope import Envelope
from deid.indication import Indication
from deid.values import HeaderValues

log = logging.getLogger("securemed.pipeline")


class Outcome(str, Enum):
    DELIVERED = "delivered"
    WITHHELD = "withheld"
    FAILED = "failed"


class Withheld(Exception):
    """The study is not reported, on purpose; `reason` is shown to operators (no patient data).

    `job`, when given, is the stage's partial result (e.g. the privacy class it determined), so the
    outcome records what was learnt before withholding. `codes`: the stable reason codes (e.g. the
    report validator's), recorded on the job. `stage`: the stage the outcome is recorded at, when
    not the raising one (the deliver stage withholds a draft the validate stage refused, once the
    notices are delivered).
    """

    def __init__(
        self, reason: str, job: Job | None = None, *, codes: Sequence[str] = (), stage: str | None = None
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.job = job
        self.codes = tuple(codes)
        self.stage = stage


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
    """The draft. token_logprobs: log-softmax of each emitted token (</s> included); finding_probs:
    the image tower's finding head (the bundle's calibration labels order), None without a head."""

    findings: str
    impression: str
    token_logprobs: tuple[float, ...] = ()
    finding_probs: tuple[float, ...] | None = None

    def __repr__(self) -> str:
        return f"Report({len(self.findings) + len(self.impression)} characters)"  # never the text


@dataclass(frozen=True)
class Validation:
    """The validator's verdict on the draft: `codes` of the violated rules (empty: it passed) and
    `reason`, the violations for operators (never quoting the report)."""

    codes: tuple[str, ...] = ()
    reason: str = ""

    @property
    def passed(self) -> bool:
        return not self.codes


@dataclass(frozen=True)
class Reidentification:
    """What the clinician needs to find the patient inside the hospital (patient data: in the
    envelope's ciphertext only)."""

    accession_number: str = ""
    study_date: str = ""


@dataclass(frozen=True)
class SealedReport:
    report_id: str
    recipient_id: str
    envelope: Envelope


@dataclass(frozen=True)
class Job:
    """Everything a study accumulates on its way through the stages.

    The first four fields come from the job queue; every other field is written by exactly one
    stage (see each stage's `writes`) and is at its empty default until then. Fields holding patient
    data (`originals`, `deidentified`, `header_values`, `reidentification`, `indication`, `prompt`,
    `report`) live in memory only and are never logged; the job store persists ids, state, reasons
    and reason codes.

    `prompt` and the code fields default to None ("not yet written"): a stage that has nothing to
    say writes "" or (), so the runner can tell "screened, no prompt" from "never screened".
    """

    job_id: str
    study_uid: str
    files: tuple[Path, ...]
    calling_aet: str = ""
    originals: tuple[Dataset, ...] = ()  # load: every instance, parsed once
    privacy: PrivacyClass | None = None  # classify
    deidentified: tuple[Dataset, ...] = ()  # anonymize: what the model may see
    study_pseudonym: str = ""  # anonymize
    reidentification: Reidentification | None = None  # anonymize
    header_values: HeaderValues = HeaderValues()  # anonymize: values the report must not contain
    indication: Indication | None = None  # anonymize: the clinical indication, cleaned (deid.indication)
    prompt: str | None = None  # screen: the text the model is given; "" when withheld or absent
    indication_codes: tuple[str, ...] | None = None  # screen: why it was withheld; () when not
    report: Report | None = None  # generate
    bundle_id: str = ""  # generate
    validation: Validation | None = None  # validate: the verdict on the draft
    sealed: tuple[SealedReport, ...] = ()  # encrypt
    timings: Mapping[str, float] = field(default_factory=dict)  # the runner

    QUEUE_FIELDS: ClassVar[frozenset[str]] = frozenset({"job_id", "study_uid", "files", "calling_aet"})


JOB_FIELDS = frozenset(f.name for f in dataclasses.fields(Job))
_DEFAULTS = {f.name: f.default for f in dataclasses.fields(Job) if f.default is not dataclasses.MISSING}


def is_set(job: Job, name: str) -> bool:
    """Whether a stage has written `name` (queue fields always count as set)."""
    return name in Job.QUEUE_FIELDS or getattr(job, name) != _DEFAULTS.get(name)


class Stage(Protocol):
    """One step of the pipeline. `reads`: the Job fields it needs (the runner guarantees they are
    set); `writes`: the only fields it may change."""

    name: str
    reads: ClassVar[frozenset[str]]
    writes: ClassVar[frozenset[str]]

    def __call__(self, job: Job) -> Job:
        """Return the job with this stage's results, or raise Withheld / StageFailed."""
        ...


class ContractViolation(Exception):
    """A stage read a field no earlier stage wrote, or changed one it does not declare (a bug)."""


@dataclass(frozen=True)
class Result:
    job: Job
    outcome: Outcome
    stage: str
    reason: str = ""
    codes: tuple[str, ...] = ()


def _changed(before: Job, after: Job) -> set[str]:
    # Identity, not equality: replace() keeps every field it is not given, and comparing datasets
    # by value would compare their pixel data.
    return {name for name in JOB_FIELDS if getattr(before, name) is not getattr(after, name)}


def run_stage(stage: Stage, job: Job) -> Job:
    """Call `stage` under its contract; ContractViolation names the offending field."""
    missing = sorted(name for name in stage.reads if not is_set(job, name))
    if missing:
        raise ContractViolation(f"{stage.name} needs {', '.join(missing)}, which no earlier stage wrote")
    out = stage(job)
    undeclared = sorted(_changed(job, out) - stage.writes)
    if undeclared:
        raise ContractViolation(f"{stage.name} changed {', '.join(undeclared)} without declaring it")
    return out


def run_pipeline(stages: Sequence[Stage], job: Job) -> Result:
    """Run every stage in order; the first Withheld or failure ends the job with its reason."""
    timings: dict[str, float] = {}
    for stage in stages:
        start = time.monotonic()
        try:
            job = run_stage(stage, job)
        except Withheld as exc:
            where = exc.stage or stage.name
            log.info("job %s withheld at %s: %s", job.job_id, where, exc.reason)
            return Result(exc.job or job, Outcome.WITHHELD, where, exc.reason, exc.codes)
        except StageFailed as exc:
            log.warning("job %s failed at %s: %s", job.job_id, stage.name, exc.reason)
            return Result(job, Outcome.FAILED, stage.name, exc.reason)
        except Exception as exc:
            # The message may quote DICOM values: only the type goes to the log (traceback at DEBUG).
            log.error("job %s: unexpected %s in %s", job.job_id, type(exc).__name__, stage.name)
            log.debug("traceback", exc_info=True)
            return Result(job, Outcome.FAILED, stage.name, f"internal error in {stage.name}: {type(exc).__name__}")
        timings[stage.name] = round(time.monotonic() - start, 4)
    return Result(replace(job, timings=timings), Outcome.DELIVERED, stages[-1].name if stages else "")


def split_stages(stages: list[Stage]) -> tuple[list[Stage], list[Stage]]:
    """(stages before generation, generation and the stages after it); all before if none is `generate`."""
    names = [stage.name for stage in stages]
    cut = names.index("generate") if "generate" in names else len(stages)
    return stages[:cut], stages[cut:]
