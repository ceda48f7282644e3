"""Stages across studies: prepare threads -> bounded ready queue -> batched generation, back-pressure to
the listener, and a stop with prepared jobs in the queue. The real service (listener, dispatcher, job
store, batcher, delivery) with the committed demo model; header de-identification only."""

from __future__ import annotations

import inspect
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from appliance.jobs import TERMINAL
from tests.appliance.test_jobs import _dev_config, _send, answered
from tests.conftest import DEMO_BUNDLE


def _appliance(tmp_path: Path, **values: object):
    from appliance.config import load_config
    from appliance.devsetup import init_dev
    from appliance.service import Appliance

    assert (DEMO_BUNDLE / "manifest.json").exists(), "the demo bundle must be committed (make demo-model)"
    config_path = init_dev(tmp_path / "dev", dicom_port=0, grpc_port=0, bundle=DEMO_BUNDLE, quiet_period_s=0.2)
    config_path.write_text(_dev_config(config_path.read_text(), threads=1, allow_spinning="false", **values))
    return Appliance(load_config(config_path), poll_interval=0.05), config_path


def _wait(predicate, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, what
        time.sleep(0.05)


def _studies(first: int, n: int) -> list:
    from training.phantoms import make_phantom

    return [make_phantom(first + i).dataset for i in range(n)]


def test_a_burst_reaches_the_generator_in_batches_larger_than_the_prepare_threads(tmp_path: Path) -> None:
    """Two prepare threads, batches of 8: studies prepared while the first waits for company join its
    batch (with one thread running a job end to end, at most two studies could ever meet)."""
    n = 8
    appliance, _ = _appliance(tmp_path, max_batch=n, workers=2, batch_window_ms=1500)
    ports = appliance.start()
    try:
        datasets = _studies(500, n)
        _send(ports.dicom, datasets)
        assert appliance.jobs is not None
        _wait(lambda: len(r := appliance.jobs.all()) == n and all(x.state in TERMINAL for x in r), 60, "burst")
        records = appliance.jobs.all()
        assert len(records) == n and all(answered(r) for r in records), [(r.state, r.stage, r.reason) for r in records]
        assert all(r.attempts == 1 for r in records)
        stats = appliance.batcher.stats()
        assert stats.requests == n and stats.failed_calls == 0
        assert stats.largest > 2, stats  # more than the prepare threads: the ready queue decoupled them
    finally:
        appliance.stop(grace=2)


def test_admission_refuses_at_max_pending_and_accepts_again_after_draining(tmp_path: Path) -> None:
    from appliance.jobs import JobStore
    from appliance.pipeline import Outcome

    appliance, _ = _appliance(tmp_path, max_pending=2)
    appliance.jobs = jobs = JobStore(tmp_path / "jobs.sqlite3")  # the store alone: nothing claims
    try:
        assert appliance.admission() is None
        jobs.enqueue("1.2.3", [Path("a.dcm")])
        time.sleep(appliance.poll_interval)
        assert appliance.admission() is None
        jobs.enqueue("1.2.4", [Path("b.dcm")])
        time.sleep(appliance.poll_interval)
        reason = appliance.admission()
        assert reason == "pipeline_full"  # a fixed reason: the listener counts refusals by it
        record = jobs.claim_next()
        time.sleep(appliance.poll_interval)  # the count is re-read at most once per poll interval
        assert record is not None and appliance.admission() == "pipeline_full"  # running still counts
        jobs.finish(record.job_id, Outcome.DELIVERED, stage="deliver")
        assert appliance.admission() == "pipeline_full"  # not re-read yet
        time.sleep(appliance.poll_interval)
        assert appliance.admission() is None
    finally:
        jobs.close()


def test_the_listener_refuses_associations_while_the_pipeline_is_full(tmp_path: Path) -> None:
    from pynetdicom import AE

    from dicom_listener import create_server

    if "admission" not in inspect.signature(create_server).parameters:
        pytest.skip("dicom_listener.create_server has no admission hook yet")
    appliance, _ = _appliance(tmp_path, max_pending=1, max_batch=2, batch_window_ms=2500)
    ports = appliance.start()
    try:
        _send(ports.dicom, _studies(520, 1))
        _wait(lambda: appliance.batcher.pending() == 1, 30, "the study never reached generation")

        def associate() -> bool:
            ae = AE(ae_title="DEVPACS")
            ae.add_requested_context("1.2.840.10008.1.1")
            assoc = ae.associate("127.0.0.1", ports.dicom, ae_title="SECUREMED")
            accepted = assoc.is_established
            if accepted:
                assoc.release()
            else:
                assert assoc.is_rejected
            return accepted

        assert not associate()  # one job running = max_pending
        assert appliance.jobs is not None
        _wait(lambda: appliance.jobs.all()[0].state in TERMINAL, 30, "the job did not finish")
        assert associate()
    finally:
        appliance.stop(grace=2)


def test_a_stop_with_prepared_jobs_queued_loses_nothing_and_a_restart_delivers_each_once(tmp_path: Path) -> None:
    """A generator call that outlasts the grace holds 2 jobs, 2 wait in the ready queue and 2 are held
    by prepare threads at the full queue. All six go back to the queue and are delivered once."""
    from appliance.config import load_config
    from appliance.service import Appliance

    n = 6
    appliance, config_path = _appliance(tmp_path, max_batch=2, workers=4, batch_window_ms=0)
    ports = appliance.start()
    assert appliance.batcher is not None and appliance.jobs is not None
    real, gate = appliance.batcher.generator, threading.Event()

    class Slow:  # the real generator, started only once the test opens the gate
        def generate(self, *args: Any, **kwargs: Any) -> Any:
            gate.wait(30)
            return real.generate(*args, **kwargs)

    appliance.batcher.generator = Slow()
    try:
        _send(ports.dicom, _studies(540, n))
        _wait(
            lambda: appliance._ready.full() and appliance.jobs.counts().get("running", 0) == n,
            30,
            "the pipeline did not fill up",
        )
    finally:
        appliance.stop(grace=0.3)
        gate.set()
    state = tmp_path / "dev" / "state"
    with sqlite3.connect(state / "jobs.sqlite3") as db:
        assert db.execute("SELECT state, attempts FROM jobs").fetchall() == [("queued", 1)] * n
    assert not (state / "failed").exists()
    assert len(list((state / "spool" / "claimed").iterdir())) == n  # every batch kept for the next start

    again = Appliance(load_config(config_path), poll_interval=0.05)
    again.start()
    try:
        assert again.jobs is not None
        _wait(lambda: all(r.state in TERMINAL for r in again.jobs.all()), 60, "not delivered after restart")
        records = again.jobs.all()
        assert len(records) == n and all(answered(r) and r.attempts == 2 for r in records), records
        report_ids = [rid for r in records for rid in r.report_ids]
        assert len(set(report_ids)) == n
    finally:
        again.stop(grace=2)
    with sqlite3.connect(state / "envelopes.sqlite3") as db:
        assert {row[0] for row in db.execute("SELECT report_id FROM envelopes")} == set(report_ids)
