from __future__ import annotations

import multiprocessing
import os
from pathlib import Path

from appliance.jobs import JobStore
from appliance.pipeline import Outcome


def test_a_batch_is_queued_once_and_a_later_batch_is_a_new_job(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    first = store.enqueue("1.2.3", [tmp_path / "incoming/a.dcm", tmp_path / "incoming/b.dcm"], "DEVPACS")
    assert first is not None
    # the same batch found again (e.g. in claimed/ after a crash) is the same job
    assert store.enqueue("1.2.3", [tmp_path / "claimed/b.dcm", tmp_path / "claimed/a.dcm"]) is None
    later = store.enqueue("1.2.3", [tmp_path / "c.dcm"])
    assert later is not None and later != first
    assert [j.job_id for j in store.for_study("1.2.3")] == [first, later]


def test_claim_finish_and_counts(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    a = store.enqueue("1.1", [])
    b = store.enqueue("1.2", [])
    job = store.claim_next()
    assert job is not None and job.job_id == a and job.state == "running" and job.attempts == 1
    store.finish(a, Outcome.WITHHELD, stage="classify", reason="unsupported class")
    assert store.get(a).reason == "unsupported class"
    assert store.claim_next().job_id == b
    assert store.claim_next() is None
    assert store.counts() == {"withheld": 1, "running": 1}


def _crash_while_running(db: str) -> None:
    store = JobStore(Path(db))
    store.enqueue("9.9", [])
    store.claim_next()
    os._exit(0)  # no close, no cleanup: as after SIGKILL


def test_running_jobs_are_requeued_after_a_crash(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    proc = multiprocessing.get_context("spawn").Process(target=_crash_while_running, args=(str(db),))
    proc.start()
    proc.join(30)
    store = JobStore(db)
    assert store.counts() == {"running": 1}
    assert store.recover() == 1
    job = store.claim_next()
    assert job is not None and job.study_uid == "9.9" and job.attempts == 2
