"""`securemed doctor`: check that the spool, the job queue and the envelope store agree.

    report = check(config)            # reads config.state_dir; never writes a row or moves a file
    print(report.summary()); sys.exit(report.exit_code)

What it reads, read-only: every SQLite database of the state directory (``immutable`` after a clean
stop, so no side file is created; ``mode=ro`` when a -wal file exists, where SQLite may create the
-shm file, with the database file's mode; no row is written, no checkpoint run), the spool folders
(incoming/, claimed/, quarantine/) and the modes of every file and folder. It checks the invariants
of the durability chain (appliance.service), each a small rule class below with a name and a
severity:

* error: a broken invariant, something the service does not repair by itself (an acknowledged
  instance that is nowhere, a delivered job whose envelope is missing, a report twice, a damaged
  database, a state file readable by others). Any error makes the report inconsistent: exit 65.
* warning: what a crash legitimately leaves behind and the next start repairs (jobs left
  `running`, a claimed batch with no job yet, a finished job whose files were not yet retired, a
  file not yet indexed), or what loses nothing. Exit 0.

While the service is running (detected by the flock every live Spool holds on its
``spool/tmp/<owner>/owner.lock``), the check still runs, read-only, but the stores are read one after
the other while the service moves work between them, so every consistency rule is reported as a
warning ("service-running" says so) and only database integrity and file modes can fail the run:
stop the service for a verdict. `--repair` is deliberately left out: every repair the chain needs
is already done by the service at start-up (Appliance._recover, Spool recovery).

Examples never name patient data or original UIDs: jobs by job id (a one-way uuid5 of the batch),
envelopes by report id and study pseudonym, quarantine entries by their random file name, and
spool instances and studies by ``uid#<first 12 hex digits of SHA-256(uid)>``.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from appliance.config import ApplianceConfig
from appliance.doctor_state import EnvelopeRow, JobRow, Snapshot, display, read_state, ref
from appliance.jobs import TERMINAL, batch_job_id
from common.errors import ExitCode
from dicom_listener.spool import SUFFIX
from dicom_listener.spool.quarantine import REASON_SUFFIX

__all__ = ["ERROR", "RULES", "WARNING", "DoctorReport", "Finding", "Rule", "check", "check_state", "read_state", "ref"]

ERROR = "error"
WARNING = "warning"
MAX_EXAMPLES = 5


# ---- the rules ---------------------------------------------------------------------------------------


class Rule:
    """One invariant. `find` returns an example (safe to print) for every violation."""

    name: ClassVar[str]
    severity: ClassVar[str]
    description: ClassVar[str]
    racy: ClassVar[bool] = True  # reads more than one store: only a warning while the service runs

    def find(self, snap: Snapshot) -> list[str]:
        raise NotImplementedError


class JobsLeftRunning(Rule):
    name, severity = "jobs-left-running", WARNING
    description = "jobs left 'running' by a crash; the next start queues them again (or fails a poison job)"

    def find(self, snap: Snapshot) -> list[str]:
        return [j.job_id for j in snap.jobs if j.state == "running"]


class FinishedJobFilesPresent(Rule):
    name, severity = "finished-job-files-present", WARNING
    description = "finished jobs whose claimed files are still in the spool; the next start retires them"

    def find(self, snap: Snapshot) -> list[str]:
        return [j.job_id for j in snap.jobs if j.state in TERMINAL and any(f.exists() for f in j.files)]


class UnfinishedJobFilesMissing(Rule):
    name, severity = "unfinished-job-files-missing", ERROR
    description = "queued or running jobs whose claimed files are gone: the pipeline cannot run them"

    def find(self, snap: Snapshot) -> list[str]:
        return [j.job_id for j in snap.jobs if j.state not in TERMINAL and not all(f.exists() for f in j.files)]


class ClaimedBatchWithoutJob(Rule):
    name, severity = "claimed-batch-without-job", WARNING
    description = "claimed batches with no job (a crash between claim and queue); the next start queues them"

    def find(self, snap: Snapshot) -> list[str]:
        known = {j.job_id for j in snap.jobs}
        out = []
        for study, sops in snap.claimed.items():
            job_id = batch_job_id(study, list(sops.values()))
            if job_id not in known:
                out.append(f"would be job {job_id}")
        return out


# Jobs whose envelopes were sealed and stored: delivered reports, and the notices of withheld drafts.
REPORTED = ("delivered", "withheld")


class DeliveredEnvelopeMissing(Rule):
    name, severity = "delivered-envelope-missing", ERROR
    description = "delivered jobs naming a report id that the envelope store does not hold"

    def find(self, snap: Snapshot) -> list[str]:
        stored = {e.report_id for e in snap.envelopes}
        return [
            f"job {j.job_id} report {r}"
            for j in snap.jobs
            if j.state in REPORTED
            for r in j.report_ids
            if r not in stored
        ]


def _unfinished_by_report_id(snap: Snapshot) -> dict[str, JobRow]:
    """The report ids that queued or running jobs will deliver (to the recipients seen), and the job."""
    from appliance.stages import report_id_for  # the pipeline's own derivation

    recipients = {e.recipient_id for e in snap.envelopes}
    return {report_id_for(j.job_id, r): j for j in snap.jobs if j.state not in TERMINAL for r in recipients}


def _report_ids_of_unfinished(snap: Snapshot) -> set[str]:
    return set(_unfinished_by_report_id(snap))


class EnvelopeAwaitingJob(Rule):
    name, severity = "envelope-awaiting-job", WARNING
    description = "envelopes of jobs not yet marked finished (a crash after delivery); the re-run finds them stored"

    def find(self, snap: Snapshot) -> list[str]:
        delivered = {r for j in snap.jobs if j.state in REPORTED for r in j.report_ids}
        pending = _report_ids_of_unfinished(snap)
        return [
            f"report {e.report_id}" for e in snap.envelopes if e.report_id not in delivered and e.report_id in pending
        ]


class EnvelopeWithoutJob(Rule):
    name, severity = "envelope-without-delivered-job", ERROR
    description = "envelopes that no delivered (or unfinished) job names: a report nobody accounts for"

    def find(self, snap: Snapshot) -> list[str]:
        delivered = {r for j in snap.jobs if j.state in REPORTED for r in j.report_ids}
        pending = _report_ids_of_unfinished(snap)
        return [
            f"report {e.report_id} (study {e.study_pseudonym})"
            for e in snap.envelopes
            if e.report_id not in delivered and e.report_id not in pending
        ]


class DuplicateReport(Rule):
    name, severity = "duplicate-report", ERROR
    description = "one recipient holds two reports of one study made from the same instances"

    def find(self, snap: Snapshot) -> list[str]:
        job_of = {**_unfinished_by_report_id(snap), **{r: j for j in snap.jobs for r in j.report_ids}}
        groups: dict[tuple[str, str], list[EnvelopeRow]] = defaultdict(list)
        for e in snap.envelopes:
            groups[(e.recipient_id, e.study_pseudonym)].append(e)
        out = []
        for (recipient, pseudonym), rows in sorted(groups.items()):
            jobs = [job_of.get(e.report_id) for e in rows]
            if len(rows) < 2:
                continue
            # A follow-up batch of a study (other instances) is a new job with its own report.
            overlapping = any(
                a is None or b is None or a.sops & b.sops for i, a in enumerate(jobs) for b in jobs[i + 1 :]
            )
            if overlapping:
                out.append(f"study {pseudonym} for {recipient}: {len(rows)} reports")
        return out


class InstanceInTwoJobs(Rule):
    name, severity = "instance-in-two-jobs", ERROR
    description = "an instance that is part of more than one job (processed twice)"

    def find(self, snap: Snapshot) -> list[str]:
        jobs_of: dict[str, list[str]] = defaultdict(list)
        for j in snap.jobs:
            for sop in j.sops:
                jobs_of[sop].append(j.job_id)
        return [f"{ref(sop)} in jobs {', '.join(ids)}" for sop, ids in sorted(jobs_of.items()) if len(ids) > 1]


class EnvelopeWithoutReidentification(Rule):
    name, severity = "envelope-without-reidentification", ERROR
    description = "envelopes whose study pseudonym has no record in the re-identification store"

    def find(self, snap: Snapshot) -> list[str]:
        return sorted(
            {f"study {e.study_pseudonym}" for e in snap.envelopes if e.study_pseudonym not in snap.pseudonyms}
        )


class LostInstance(Rule):
    name, severity = "lost-instance", ERROR
    description = "instances in the spool index (acknowledged) that are neither in the spool nor in any job"

    def find(self, snap: Snapshot) -> list[str]:
        in_jobs = {sop for j in snap.jobs for sop in j.sops}
        on_disk = snap.on_disk
        return [
            f"{ref(sop)} of study {ref(study)}"
            for sop, study in sorted(snap.indexed.items())
            if sop not in on_disk and sop not in in_jobs
        ]


class UnindexedFile(Rule):
    name, severity = "unindexed-spool-file", WARNING
    description = "spool files without an index row (a crash before step 3, not acknowledged); adopted at start"

    def find(self, snap: Snapshot) -> list[str]:
        return [
            display(path, snap.root)
            for folder in (snap.incoming, snap.claimed)
            for sops in folder.values()
            for sop, path in sops.items()
            if sop not in snap.indexed
        ]


class QuarantineWithoutReason(Rule):
    name, severity = "quarantine-without-reason", WARNING
    description = "quarantined payloads without a reason file (a crash between the two renames; refused, not lost)"

    def find(self, snap: Snapshot) -> list[str]:
        names = {p.name for p in snap.quarantine}
        return [
            p.name
            for p in snap.quarantine
            if p.name.endswith(SUFFIX) and p.name[: -len(SUFFIX)] + REASON_SUFFIX not in names
        ]


class QuarantineReasonInvalid(Rule):
    name, severity = "quarantine-reason-invalid", ERROR
    description = "quarantine reason files that name no payload or are not a JSON object with a reason"

    def find(self, snap: Snapshot) -> list[str]:
        names = {p.name for p in snap.quarantine}
        out = []
        for p in snap.quarantine:
            if not p.name.endswith(REASON_SUFFIX):
                continue
            if p.name[: -len(REASON_SUFFIX)] + SUFFIX not in names:
                out.append(f"{p.name}: no payload")
                continue
            try:
                data = json.loads(p.read_text())
                valid = isinstance(data, dict) and bool(data.get("reason"))
            except (OSError, ValueError):
                valid = False
            if not valid:
                out.append(f"{p.name}: unreadable")
        return out


class FileModes(Rule):
    name, severity, racy = "file-mode", ERROR, False
    description = "state files or folders that group or others may access (files must be 0600, folders 0700)"

    def find(self, snap: Snapshot) -> list[str]:
        return [f"{path} is {mode:04o}" for path, mode, _ in snap.modes if mode & 0o077]


class DatabaseIntegrity(Rule):
    name, severity, racy = "database-integrity", ERROR, False
    description = "SQLite databases failing PRAGMA integrity_check (or that cannot be opened)"

    def find(self, snap: Snapshot) -> list[str]:
        return [f"{name}: {result}" for name, result in sorted(snap.integrity.items()) if result != "ok"]


RULES: tuple[Rule, ...] = (
    DatabaseIntegrity(),
    FileModes(),
    LostInstance(),
    UnfinishedJobFilesMissing(),
    DeliveredEnvelopeMissing(),
    EnvelopeWithoutJob(),
    DuplicateReport(),
    InstanceInTwoJobs(),
    EnvelopeWithoutReidentification(),
    QuarantineReasonInvalid(),
    JobsLeftRunning(),
    FinishedJobFilesPresent(),
    ClaimedBatchWithoutJob(),
    EnvelopeAwaitingJob(),
    UnindexedFile(),
    QuarantineWithoutReason(),
)


# ---- the report --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Finding:
    name: str
    severity: str
    description: str
    count: int
    examples: tuple[str, ...]


@dataclass(frozen=True)
class DoctorReport:
    state_dir: Path
    service_running: bool
    findings: tuple[Finding, ...]  # one per rule, passing ones with count 0
    totals: dict[str, int]

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.count]

    @property
    def consistent(self) -> bool:
        return not any(f.severity == ERROR for f in self.problems)

    @property
    def exit_code(self) -> ExitCode:
        return ExitCode.OK if self.consistent else ExitCode.DATAERR

    def to_dict(self) -> dict:
        return {
            "state_dir": str(self.state_dir),
            "consistent": self.consistent,
            "service_running": self.service_running,
            "totals": self.totals,
            "checks": [
                {
                    "name": f.name,
                    "severity": f.severity,
                    "count": f.count,
                    "examples": list(f.examples),
                    "description": f.description,
                }
                for f in self.findings
            ],
        }

    def summary(self) -> str:
        t = self.totals
        lines = [
            f"state {self.state_dir}: {t['jobs']} jobs ({t['jobs_finished']} finished), {t['envelopes']} envelopes, "
            f"{t['indexed']} indexed instances, {t['incoming']} incoming and {t['claimed']} claimed studies, "
            f"{t['quarantined']} quarantined, {t['databases']} databases"
        ]
        for f in self.problems:
            more = f" (+{f.count - len(f.examples)} more)" if f.count > len(f.examples) else ""
            lines.append(f"{f.severity.upper()} {f.name}: {f.count} {f.description}")
            lines += [f"    {example}" for example in f.examples]
            if more:
                lines.append(f"    ...{more}")
        passed = sum(1 for f in self.findings if not f.count)
        verdict = "consistent" if self.consistent else "INCONSISTENT"
        lines.append(f"{verdict}: {passed} of {len(self.findings)} checks clean")
        return "\n".join(lines)


def check_state(state_dir: Path) -> DoctorReport:
    """Check the state directory `state_dir` (see the module docstring)."""
    snap = read_state(state_dir)
    findings = []
    if snap.service_running:
        findings.append(
            Finding(
                "service-running",
                WARNING,
                "a live spool owner holds the state: consistency problems are only warnings; stop it for a verdict",
                1,
                (),
            )
        )
    for rule in RULES:
        examples = rule.find(snap)
        severity = WARNING if snap.service_running and rule.racy else rule.severity
        findings.append(Finding(rule.name, severity, rule.description, len(examples), tuple(examples[:MAX_EXAMPLES])))
    totals = {
        "jobs": len(snap.jobs),
        "jobs_finished": sum(1 for j in snap.jobs if j.state in TERMINAL),
        "envelopes": len(snap.envelopes),
        "indexed": len(snap.indexed),
        "incoming": len(snap.incoming),
        "claimed": len(snap.claimed),
        "quarantined": sum(1 for p in snap.quarantine if p.name.endswith(SUFFIX)),
        "databases": len(snap.integrity),
    }
    return DoctorReport(Path(state_dir), snap.service_running, tuple(findings), totals)


def check(config: ApplianceConfig) -> DoctorReport:
    """Check the appliance's state directory (config.state_dir)."""
    return check_state(config.state_dir)
