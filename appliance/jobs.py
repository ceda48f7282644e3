"""Durable job queue on SQLite (WAL, synchronous=FULL).

One row per claimed batch of a study. The job id is derived from the Study Instance UID and the
SOP Instance UIDs of the batch (`batch_job_id`), so the same batch found again after a crash maps to
the same job and is never queued twice, while a later batch of the same study is a new job. States:
queued -> running -> delivered | withheld | failed. A job found `running` at start-up was interrupted
by a crash and goes back to `queued`; re-running it is safe because delivery is idempotent by report
id. Rows hold ids, states, reasons, reason codes and timings, never patient data.

`codes` (a JSON list) holds the stable reason codes of the outcome: the report validator's codes of a
withheld draft, and "indication-withheld" followed by the injection detector's codes when the
indication was kept from the model. A database from before the column is migrated in place when
opened (ALTER TABLE ... ADD COLUMN, default '[]'), so existing rows read as having no codes.
"""

from __future__ import annotations

import json
import sqlite3
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from appliance.pipeline import Outcome
from common.sqlite import Database

_SCHEMA = """
CREATE TABLE IF NOT EXISTS jobs (
    job_id      TEXT PRIMARY KEY,
    study_uid   TEXT NOT NULL,
    files       TEXT NOT NULL,          -- JSON list of paths of the claimed instances
    calling_aet TEXT NOT NULL DEFAULT '',
    state       TEXT NOT NULL,          -- queued | running | delivered | withheld | failed
    stage       TEXT NOT NULL DEFAULT '',
    reason      TEXT NOT NULL DEFAULT '',
    privacy     TEXT NOT NULL DEFAULT '',
    attempts    INTEGER NOT NULL DEFAULT 0,
    report_ids  TEXT NOT NULL DEFAULT '[]',
    codes       TEXT NOT NULL DEFAULT '[]', -- JSON list of stable reason codes
    created_at  REAL NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_state ON jobs(state, created_at);
CREATE INDEX IF NOT EXISTS jobs_study ON jobs(study_uid);
"""

TERMINAL = frozenset({Outcome.DELIVERED.value, Outcome.WITHHELD.value, Outcome.FAILED.value})


@dataclass(frozen=True)
class JobRecord:
    job_id: str
    study_uid: str
    files: tuple[Path, ...]
    calling_aet: str
    state: str
    stage: str
    reason: str
    privacy: str
    attempts: int
    report_ids: tuple[str, ...]
    created_at: float
    updated_at: float
    codes: tuple[str, ...] = ()


def batch_job_id(study_uid: str, files: list[Path] | tuple[Path, ...]) -> str:
    """Deterministic job id of a batch: the study UID and the file names (SOP Instance UIDs)."""
    names = ",".join(sorted(Path(f).name for f in files))
    return str(uuid.uuid5(uuid.NAMESPACE_OID, f"securemed-job:{study_uid}:{names}"))


class JobStore:
    """Thread-safe; every method is one transaction (common.sqlite.Database: WAL, synchronous=FULL)."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self._db = Database(path, _SCHEMA)
        self._migrate()

    def _migrate(self) -> None:
        """Add the columns of later versions to a database created before them (in place, once)."""
        with self._db.transaction() as conn:
            columns = {row[1] for row in conn.execute("PRAGMA table_info(jobs)")}
            if "codes" not in columns:
                conn.execute("ALTER TABLE jobs ADD COLUMN codes TEXT NOT NULL DEFAULT '[]'")

    def close(self) -> None:
        self._db.close()

    def _tx(self, sql: str, args: tuple = ()) -> sqlite3.Cursor:
        with self._db.transaction() as conn:
            return conn.execute(sql, args)

    def _rows(self, sql: str, args: tuple = ()) -> list[JobRecord]:
        rows = self._db.query(sql, args)
        return [
            JobRecord(
                r[0],
                r[1],
                tuple(Path(p) for p in json.loads(r[2])),
                r[3],
                r[4],
                r[5],
                r[6],
                r[7],
                r[8],
                tuple(json.loads(r[9])),
                r[10],
                r[11],
                tuple(json.loads(r[12])),
            )
            for r in rows
        ]

    _COLUMNS = (
        "job_id, study_uid, files, calling_aet, state, stage, reason, privacy, attempts, report_ids, "
        "created_at, updated_at, codes"
    )

    def enqueue(self, study_uid: str, files: list[Path], calling_aet: str = "") -> str | None:
        """Queue a batch; returns its job id, or None if this batch already has a job."""
        job_id = batch_job_id(study_uid, files)
        now = time.time()
        cur = self._tx(
            "INSERT OR IGNORE INTO jobs (job_id, study_uid, files, calling_aet, state, created_at, updated_at) "
            "VALUES (?, ?, ?, ?, 'queued', ?, ?)",
            (job_id, study_uid, json.dumps([str(f) for f in files]), calling_aet, now, now),
        )
        return job_id if cur.rowcount == 1 else None

    def for_study(self, study_uid: str) -> list[JobRecord]:
        return self._rows(f"SELECT {self._COLUMNS} FROM jobs WHERE study_uid = ? ORDER BY created_at", (study_uid,))

    def fail_poisoned(
        self, max_attempts: int, *, delivered: Callable[[str], tuple[str, ...] | None] = lambda job_id: None
    ) -> list[str]:
        """After a crash: a job left `running` that has been claimed `max_attempts` times fails, with
        the reason, instead of being re-queued (an instance that kills the service at every attempt,
        e.g. a decoder bomb, must not turn `Restart=on-failure` into a permanent outage). Call before
        `recover`. `delivered(job_id)` returns the job's report ids when all its envelopes are already
        stored (the last attempt delivered, then the service died before `finish`): such a job is
        finished as delivered, not failed. Returns the failed job ids."""
        failed: list[str] = []
        with self._db.transaction() as db:
            rows = db.execute(
                "SELECT job_id, attempts FROM jobs WHERE state = 'running' AND attempts >= ?", (max_attempts,)
            ).fetchall()
            for job_id, attempts in rows:
                report_ids = delivered(job_id)
                if report_ids:
                    db.execute(
                        "UPDATE jobs SET state = 'delivered', stage = 'deliver', reason = ?, report_ids = ?, "
                        "updated_at = ? WHERE job_id = ?",
                        ("delivered; finished at recovery", json.dumps(list(report_ids)), time.time(), job_id),
                    )
                    continue
                db.execute(
                    "UPDATE jobs SET state = 'failed', stage = 'recovery', reason = ?, updated_at = ? WHERE job_id = ?",
                    (
                        f"poison: the service stopped abnormally during each of its {attempts} attempts",
                        time.time(),
                        job_id,
                    ),
                )
                failed.append(job_id)
        return failed

    def recover(self) -> int:
        """After a crash: jobs left `running` go back to `queued`. Returns how many."""
        cur = self._tx("UPDATE jobs SET state = 'queued', updated_at = ? WHERE state = 'running'", (time.time(),))
        return cur.rowcount

    def claim_next(self) -> JobRecord | None:
        """Oldest queued job, marked running (attempts + 1), or None.

        Safe with many workers, threads or processes: the read and the update are one IMMEDIATE
        transaction (SQLite's write lock), so a job is handed to exactly one caller.
        """
        with self._db.transaction() as conn:
            row = conn.execute("SELECT job_id FROM jobs WHERE state = 'queued' ORDER BY created_at LIMIT 1").fetchone()
            if row:
                conn.execute(
                    "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ? WHERE job_id = ?",
                    (time.time(), row[0]),
                )
        return self.get(row[0]) if row else None

    def release(self, job_id: str) -> bool:
        """A running job goes back to the queue unfinished (the service stopped mid-job). True if it was running."""
        cur = self._tx(
            "UPDATE jobs SET state = 'queued', updated_at = ? WHERE job_id = ? AND state = 'running'",
            (time.time(), job_id),
        )
        return cur.rowcount == 1

    def finish(
        self,
        job_id: str,
        outcome: Outcome,
        *,
        stage: str,
        reason: str = "",
        privacy: str = "",
        report_ids: tuple[str, ...] = (),
        codes: tuple[str, ...] = (),
    ) -> None:
        """Record the job's outcome; `codes` are its stable reason codes (see the module docstring)."""
        self._tx(
            "UPDATE jobs SET state = ?, stage = ?, reason = ?, privacy = ?, report_ids = ?, codes = ?, updated_at = ? "
            "WHERE job_id = ?",
            (
                outcome.value,
                stage,
                reason,
                privacy,
                json.dumps(list(report_ids)),
                json.dumps(list(codes)),
                time.time(),
                job_id,
            ),
        )

    def get(self, job_id: str) -> JobRecord | None:
        rows = self._rows(f"SELECT {self._COLUMNS} FROM jobs WHERE job_id = ?", (job_id,))
        return rows[0] if rows else None

    def all(self) -> list[JobRecord]:
        return self._rows(f"SELECT {self._COLUMNS} FROM jobs ORDER BY created_at")

    def pending(self) -> int:
        """Jobs queued or running (the back-pressure measure; uses the state index)."""
        rows = self._db.query("SELECT COUNT(*) FROM jobs WHERE state IN ('queued', 'running')")
        return int(rows[0][0])

    def counts(self) -> dict[str, int]:
        return dict(self._db.query("SELECT state, COUNT(*) FROM jobs GROUP BY state"))

    def code_counts(self) -> dict[str, int]:
        """Finished jobs per reason code (a job counts once per code it records): the per-reason
        counts the metrics expose."""
        rows = self._db.query(
            "SELECT value, COUNT(DISTINCT job_id) FROM jobs, json_each(jobs.codes) GROUP BY value ORDER BY value"
        )
        return {str(code): int(n) for code, n in rows}

    def __iter__(self) -> Iterator[JobRecord]:
        return iter(self.all())
