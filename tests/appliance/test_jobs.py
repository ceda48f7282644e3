from __future__ import annotations

import multiprocessing
import os
import re
import sqlite3
import threading
import time
from pathlib import Path

from appliance.jobs import TERMINAL, JobStore
from appliance.pipeline import Outcome
from tests.conftest import DEMO_BUNDLE


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


# ---- several workers ------------------------------------------------------------------------------


def _claim_all(db: str, delay: float = 0.0) -> list[str]:
    """A worker: claim until the queue is empty; returns the job ids it got."""
    store = JobStore(Path(db))
    got = []
    while (record := store.claim_next()) is not None:
        assert record.state == "running"
        got.append(record.job_id)
        time.sleep(delay)  # "processing": lets the other workers interleave
    store.close()
    return got


def test_many_threads_on_two_connections_never_claim_a_job_twice(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    shared = JobStore(db)
    queued = {shared.enqueue(f"1.2.{i}", [tmp_path / f"{i}.dcm"]) for i in range(60)}
    claims: list[list[str]] = [[] for _ in range(8)]

    def worker(slot: int) -> None:
        if slot % 2:
            claims[slot] = _claim_all(str(db))  # its own connection, as another process would have
        else:
            while (record := shared.claim_next()) is not None:
                claims[slot].append(record.job_id)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    flat = [job for c in claims for job in c]
    assert len(flat) == len(set(flat)) == len(queued)
    assert set(flat) == queued
    assert all(r.attempts == 1 and r.state == "running" for r in shared.all())
    assert sum(1 for c in claims if c) > 1  # the workers really competed


def test_worker_processes_never_claim_a_job_twice(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    store = JobStore(db)
    queued = {store.enqueue(f"2.2.{i}", []) for i in range(30)}
    with multiprocessing.get_context("spawn").Pool(3) as pool:
        results = pool.starmap(_claim_all, [(str(db), 0.01)] * 3, chunksize=1)
    flat = [job for r in results for job in r]
    assert sorted(flat) == sorted(queued)
    assert store.counts() == {"running": 30}


def test_release_returns_only_a_running_job_to_the_queue(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    a = store.enqueue("3.1", [])
    assert not store.release(a)  # queued, not running
    assert store.claim_next().job_id == a
    assert store.release(a)
    again = store.claim_next()
    assert again.job_id == a and again.attempts == 2
    store.finish(a, Outcome.DELIVERED, stage="deliver")
    assert not store.release(a) and store.get(a).state == "delivered"


# ---- the service: N workers, N studies, one batch -------------------------------------------------


def _dev_config(text: str, **values: object) -> str:
    """The dev config (`securemed init --dev`) with `key = value` lines replaced; header de-identification
    only (Presidio and OCR cost seconds per study and are not under test here)."""
    values = {"clean_pixel_data": "false", "clean_descriptors": "false", **values}
    for key, value in values.items():
        text, count = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
        assert count == 1, f"{key} is not in the dev config"
    return text


def _send(port: int, datasets: list) -> None:
    from pynetdicom import AE

    ae = AE(ae_title="DEVPACS")
    for sop_class in {str(ds.SOPClassUID) for ds in datasets}:
        ae.add_requested_context(sop_class, "1.2.840.10008.1.2.1")
    assoc = ae.associate("127.0.0.1", port, ae_title="SECUREMED")
    assert assoc.is_established
    try:
        for ds in datasets:
            status = assoc.send_c_store(ds)
            assert status and status.Status == 0x0000, status
    finally:
        assoc.release()


def answered(record) -> bool:  # type: ignore[no-untyped-def]
    """Delivered, or withheld by the report validator with its notice delivered (the demo model's
    drafts are sometimes refused): either way the study got exactly one envelope per recipient."""
    notice = (record.state, record.stage) == ("withheld", "validate") and bool(record.codes)
    return (record.state == "delivered" or notice) and len(record.report_ids) == 1


def test_the_service_runs_n_studies_on_n_workers_once_each_and_batches_generation(tmp_path: Path) -> None:
    """The real service (listener, dispatcher, N workers, batcher, delivery) with the committed demo model."""
    from appliance.config import load_config
    from appliance.devsetup import init_dev
    from appliance.service import Appliance
    from training.phantoms import make_phantom

    n = 4
    assert (DEMO_BUNDLE / "manifest.json").exists(), "the demo bundle must be committed (make demo-model)"
    config_path = init_dev(tmp_path / "dev", dicom_port=0, grpc_port=0, bundle=DEMO_BUNDLE, quiet_period_s=0.3)
    config_path.write_text(
        _dev_config(
            config_path.read_text(), threads=1, allow_spinning="false", max_batch=n, workers=n, batch_window_ms=3000
        )
    )
    appliance = Appliance(load_config(config_path), poll_interval=0.05)
    ports = appliance.start()
    try:
        datasets = [make_phantom(100 + i).dataset for i in range(n)]
        _send(ports.dicom, datasets)
        deadline = time.monotonic() + 60
        assert appliance.jobs is not None
        while time.monotonic() < deadline:
            records = appliance.jobs.all()
            if len(records) == n and all(r.state in TERMINAL for r in records):
                break
            time.sleep(0.1)
        records = appliance.jobs.all()
        assert len(records) == n and all(r.state in TERMINAL for r in records), records
        assert {r.study_uid for r in records} == {str(ds.StudyInstanceUID) for ds in datasets}
        assert all(r.attempts == 1 for r in records)  # every job claimed by exactly one worker, once
        assert all(answered(r) for r in records), [(r.state, r.stage, r.reason) for r in records]
        report_ids = [rid for r in records for rid in r.report_ids]
        assert len(report_ids) == len(set(report_ids)) == n  # one recipient (dr-a): one report per study
        stats = appliance.batcher.stats()  # what the generator was asked, as the service ran it
        assert stats.requests == n and stats.failed_calls == 0
        assert stats.calls < n, stats  # studies ready together were generated together
    finally:
        appliance.stop(grace=2)
    with sqlite3.connect(tmp_path / "dev" / "state" / "envelopes.sqlite3") as db:
        stored = {row[0] for row in db.execute("SELECT report_id FROM envelopes")}
    assert stored == set(report_ids)


def test_a_job_waiting_for_generation_at_stop_is_queued_again_and_delivered_after_restart(tmp_path: Path) -> None:
    from appliance.config import load_config
    from appliance.devsetup import init_dev
    from appliance.service import Appliance
    from training.phantoms import make_phantom

    config_path = init_dev(tmp_path / "dev", dicom_port=0, grpc_port=0, bundle=DEMO_BUNDLE, quiet_period_s=0.3)
    base = config_path.read_text()
    # A lone study waits for company far longer than the stop's grace.
    config_path.write_text(_dev_config(base, threads=1, max_batch=4, workers=2, batch_window_ms=5000))
    appliance = Appliance(load_config(config_path), poll_interval=0.05)
    ports = appliance.start()
    ds = make_phantom(300).dataset
    try:
        _send(ports.dicom, [ds])
        deadline = time.monotonic() + 30
        while appliance.batcher.pending() == 0:
            assert time.monotonic() < deadline, "the study never reached the generate stage"
            time.sleep(0.05)
    finally:
        appliance.stop(grace=0.3)
    with sqlite3.connect(tmp_path / "dev" / "state" / "jobs.sqlite3") as db:
        assert db.execute("SELECT state, attempts FROM jobs").fetchall() == [("queued", 1)]
    assert not (tmp_path / "dev" / "state" / "failed").exists()
    assert list((tmp_path / "dev" / "state" / "spool" / "claimed").iterdir())  # kept for the next start

    config_path.write_text(_dev_config(base, threads=1, batch_window_ms=0))
    again = Appliance(load_config(config_path), poll_interval=0.05)
    again.start()
    try:
        deadline = time.monotonic() + 30
        while (record := again.jobs.all()[0]).state not in TERMINAL:
            assert time.monotonic() < deadline, record
            time.sleep(0.05)
        assert (record.state, record.attempts, record.study_uid) == ("delivered", 2, str(ds.StudyInstanceUID))
    finally:
        again.stop(grace=2)


def test_a_failed_study_is_kept_privately_and_every_state_file_is_the_service_users(tmp_path: Path) -> None:
    """A study the model cannot read fails with its reason; its copy under failed/ and every file in the
    state directory (spool, stores, WAL files, ports) are readable by the service user only."""
    import stat

    from appliance.config import load_config
    from appliance.devsetup import init_dev
    from appliance.service import Appliance
    from training.phantoms import make_phantom

    config_path = init_dev(tmp_path / "dev", dicom_port=0, grpc_port=0, bundle=DEMO_BUNDLE, quiet_period_s=0.2)
    config_path.write_text(_dev_config(config_path.read_text(), threads=1, batch_window_ms=0))
    appliance = Appliance(load_config(config_path), poll_interval=0.05)
    ports = appliance.start()
    ds = make_phantom(301).dataset
    ds.PixelData = ds.PixelData[:100]  # the header promises far more
    try:
        _send(ports.dicom, [ds])
        deadline = time.monotonic() + 30
        assert appliance.jobs is not None
        while not (records := appliance.jobs.all()) or records[0].state not in TERMINAL:
            assert time.monotonic() < deadline, records
            time.sleep(0.05)
        (record,) = records
        assert (record.state, record.stage) == ("failed", "generate"), record
        assert record.reason.startswith("image not readable by the model")
        state = tmp_path / "dev" / "state"
        kept = state / "failed" / record.job_id
        assert sorted(p.name for p in kept.iterdir()) == sorted([f"{ds.SOPInstanceUID}.dcm", "reason.json"])
        loose = {
            str(p.relative_to(state)): oct(stat.S_IMODE(p.stat().st_mode))
            for p in [state, *state.rglob("*")]
            if stat.S_IMODE(p.stat().st_mode) & 0o077
        }
        assert loose == {}
    finally:
        appliance.stop(grace=2)


def test_a_worker_survives_a_store_failure_and_the_job_is_delivered_once_it_clears(tmp_path: Path) -> None:
    """The job store refusing the outcome (as with a full disk) re-queues the job; the worker lives on."""
    import sqlite3 as sqlite

    from appliance.config import load_config
    from appliance.devsetup import init_dev
    from appliance.service import Appliance
    from training.phantoms import make_phantom

    config_path = init_dev(tmp_path / "dev", dicom_port=0, grpc_port=0, bundle=DEMO_BUNDLE, quiet_period_s=0.2)
    config_path.write_text(_dev_config(config_path.read_text(), threads=1, batch_window_ms=0, workers=1))
    appliance = Appliance(load_config(config_path), poll_interval=0.05)
    ports = appliance.start()
    assert appliance.jobs is not None
    real_finish = appliance.jobs.finish
    calls = []

    def full_disk_once(*args: object, **kwargs: object) -> None:
        calls.append(args)
        if len(calls) == 1:
            raise sqlite.OperationalError("database or disk is full")
        real_finish(*args, **kwargs)  # type: ignore[arg-type]

    appliance.jobs.finish = full_disk_once  # type: ignore[method-assign]
    try:
        _send(ports.dicom, [make_phantom(302).dataset])
        deadline = time.monotonic() + 30
        while not (records := appliance.jobs.all()) or records[0].state not in TERMINAL:
            assert time.monotonic() < deadline, records
            time.sleep(0.05)
        (record,) = records
        assert record.state == "delivered" and record.attempts == 2 and len(calls) == 2
        assert all(t.is_alive() for t in appliance._threads)
    finally:
        appliance.stop(grace=2)


def test_a_study_the_queue_refused_is_claimed_again_and_delivered(tmp_path: Path) -> None:
    """The job store refusing a new job (as with a full disk) gives the study back to the spool."""
    import sqlite3 as sqlite

    from appliance.config import load_config
    from appliance.devsetup import init_dev
    from appliance.service import Appliance
    from training.phantoms import make_phantom

    config_path = init_dev(tmp_path / "dev", dicom_port=0, grpc_port=0, bundle=DEMO_BUNDLE, quiet_period_s=0.2)
    config_path.write_text(_dev_config(config_path.read_text(), threads=1, batch_window_ms=0, workers=1))
    appliance = Appliance(load_config(config_path), poll_interval=0.05)
    ports = appliance.start()
    assert appliance.jobs is not None
    real_enqueue = appliance.jobs.enqueue
    calls = []

    def full_disk_once(*args: object, **kwargs: object) -> str | None:
        calls.append(args)
        if len(calls) == 1:
            raise sqlite.OperationalError("database or disk is full")
        return real_enqueue(*args, **kwargs)  # type: ignore[arg-type]

    appliance.jobs.enqueue = full_disk_once  # type: ignore[method-assign]
    try:
        _send(ports.dicom, [make_phantom(303).dataset])
        deadline = time.monotonic() + 30
        while not (records := appliance.jobs.all()) or records[0].state not in TERMINAL:
            assert time.monotonic() < deadline, (records, calls)
            time.sleep(0.05)
        assert [r.state for r in records] == ["delivered"] and len(calls) == 2
    finally:
        appliance.stop(grace=2)


def test_a_job_that_killed_the_service_at_every_attempt_fails_as_poison(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    poison = store.enqueue("1.2.3", [Path("a/1.2.3.1.dcm")])
    healthy = store.enqueue("1.2.4", [Path("a/1.2.4.1.dcm")])
    for crash in range(3):  # claimed, then the process dies (nothing finishes it), then a restart
        assert store.claim_next().job_id == poison
        if crash == 2:
            assert store.claim_next().job_id == healthy  # one crashed attempt only
        assert store.fail_poisoned(3) == ([poison] if crash == 2 else [])
        store.recover()
    record = store.get(poison)
    assert (record.state, record.stage, record.attempts) == ("failed", "recovery", 3)
    assert record.reason == "poison: the service stopped abnormally during each of its 3 attempts"
    assert store.get(healthy).state == "queued"  # re-queued as before
    store.close()


def test_a_job_whose_last_attempt_delivered_before_the_crash_finishes_delivered_not_poison(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.sqlite3")
    job = store.enqueue("1.2.3", [Path("a/1.2.3.1.dcm")])
    for _ in range(3):
        assert store.claim_next().job_id == job
        store.recover()
    assert store.claim_next().job_id == job  # left running by the last crash, after its envelopes were stored
    assert store.fail_poisoned(3, delivered=lambda job_id: ("r-1", "r-2") if job_id == job else None) == []
    record = store.get(job)
    assert (record.state, record.report_ids, record.reason) == (
        "delivered",
        ("r-1", "r-2"),
        "delivered; finished at recovery",
    )
    store.close()


# ---- reason codes ---------------------------------------------------------------------------------


def test_reason_codes_are_persisted_with_the_outcome(tmp_path: Path) -> None:
    store = JobStore(tmp_path / "jobs.db")
    withheld, delivered, plain = (store.enqueue(f"4.{i}", [tmp_path / f"{i}.dcm"]) for i in range(3))
    store.finish(withheld, Outcome.WITHHELD, stage="validate", reason="r", codes=("contradiction", "repetition"))
    store.finish(delivered, Outcome.DELIVERED, stage="deliver", codes=("indication-withheld", "injection-override"))
    store.finish(plain, Outcome.DELIVERED, stage="deliver")
    store.close()
    reopened = JobStore(tmp_path / "jobs.db")
    assert reopened.get(withheld).codes == ("contradiction", "repetition")
    assert reopened.get(delivered).codes == ("indication-withheld", "injection-override")
    assert reopened.get(plain).codes == ()
    assert reopened.code_counts() == {
        "contradiction": 1,
        "indication-withheld": 1,
        "injection-override": 1,
        "repetition": 1,
    }


_OLD_SCHEMA = """
CREATE TABLE jobs (
    job_id TEXT PRIMARY KEY, study_uid TEXT NOT NULL, files TEXT NOT NULL, calling_aet TEXT NOT NULL DEFAULT '',
    state TEXT NOT NULL, stage TEXT NOT NULL DEFAULT '', reason TEXT NOT NULL DEFAULT '',
    privacy TEXT NOT NULL DEFAULT '', attempts INTEGER NOT NULL DEFAULT 0, report_ids TEXT NOT NULL DEFAULT '[]',
    created_at REAL NOT NULL, updated_at REAL NOT NULL
);
"""


def test_a_database_from_before_the_codes_column_is_migrated_in_place(tmp_path: Path) -> None:
    db = tmp_path / "jobs.db"
    with sqlite3.connect(db) as conn:
        conn.executescript(_OLD_SCHEMA)
        conn.execute(
            "INSERT INTO jobs (job_id, study_uid, files, state, reason, report_ids, created_at, updated_at) "
            "VALUES ('old', '1.9', '[]', 'delivered', '', '[\"r1\"]', 1.0, 1.0)"
        )
    store = JobStore(db)
    old = store.get("old")
    assert old is not None and (old.state, old.report_ids, old.codes) == ("delivered", ("r1",), ())
    new = store.enqueue("2.9", [tmp_path / "a.dcm"])
    store.finish(new, Outcome.WITHHELD, stage="validate", codes=("phi-pattern",))
    store.close()
    store = JobStore(db)  # opening a migrated database again changes nothing
    assert store.get(new).codes == ("phi-pattern",) and store.get("old").codes == ()
    with sqlite3.connect(db) as conn:
        assert [r[1] for r in conn.execute("PRAGMA table_info(jobs)")].count("codes") == 1
