"""The appliance service: all wiring sits here.

    Appliance(config).start()  ->  DICOM listener, dispatcher, pipeline workers, batcher, gRPC delivery
    Appliance.stop(grace)      ->  stops accepting, lets work in flight end, closes stores

Several worker threads (`[model] workers`) run the pipeline, so studies that become ready together
reach the generate stage together and are generated as one batch (runtime.batching: at most
`max_batch` studies, the first waiting at most `batch_window_ms` for the others).

Durability chain, so that every acknowledged instance leads to exactly one delivered report:
1. the listener acknowledges an instance only once it is fsynced in spool/incoming/;
2. the dispatcher moves a quiet study to spool/claimed/ (atomic rename) and queues a job whose id is
   derived from the batch's UIDs (a batch found again after a crash is the same job);
3. the worker runs the pipeline; delivery is idempotent by report id (derived from the job id);
4. the job is marked finished, then the claimed files are removed (failed batches are kept).
At start-up, jobs left running are re-queued and claimed batches without a job are queued. A job
still waiting for its report when a stop's grace runs out goes back to the queue, unfinished.
A job is handed to exactly one worker (JobStore.claim_next), and a study has at most one batch in
claimed/ at a time (the spool), so no two workers ever process the same study.
"""

from __future__ import annotations

import json
import logging
import shutil
import threading
import time
from dataclasses import dataclass
from typing import Any

from appliance import delivery as _delivery  # noqa: F401  (TLS policy must precede `import grpc`)
from appliance.config import ApplianceConfig
from appliance.delivery.server import create_server as create_delivery_server
from appliance.delivery.store import EnvelopeStore
from appliance.envelope import load_ecies_public_key, load_signing_key
from appliance.jobs import TERMINAL, JobRecord, JobStore, batch_job_id
from appliance.pipeline import Job, Outcome, Stage, run_pipeline
from appliance.stages import (
    AnonymizeStage,
    ClassifyStage,
    DeliverStage,
    EncryptStage,
    GenerateStage,
    GenerationInterrupted,
    LoadStage,
    ValidateStage,
)
from appliance.validate import ReportValidator
from deid import MappingStore
from deid.keys import load_secret
from deid.tool import DeidTool
from dicom_listener import Spool
from dicom_listener import create_server as create_listener
from dicom_listener.errors import SpoolError
from runtime.batching import BatchingGenerator
from runtime.bundle import ModelBundle
from runtime.generator import ReportGenerator

log = logging.getLogger("securemed.service")

#: A job claimed this many times whose every attempt ended with the service dying (found `running` at
#: start-up) fails instead of being re-queued: one poisonous study must not keep the service down.
MAX_ATTEMPTS = 3


@dataclass(frozen=True)
class Ports:
    dicom: int
    grpc: int


class Appliance:
    def __init__(self, config: ApplianceConfig, *, poll_interval: float = 0.2) -> None:
        self.config = config
        self.poll_interval = poll_interval
        self.state_dir = config.state_dir
        self._stopping = threading.Event()
        self._threads: list[threading.Thread] = []
        self._batcher: BatchingGenerator | None = None
        self._listener: Any = None
        self._delivery: Any = None
        self.ports: Ports | None = None
        self.spool: Spool | None = None
        self.jobs: JobStore | None = None
        self.envelopes: EnvelopeStore | None = None
        self._mapping: MappingStore | None = None
        self._stages: list[Stage] = []

    @property
    def batcher(self) -> BatchingGenerator | None:
        """The batching generator once started (its stats() and pending() are for monitoring)."""
        return self._batcher

    # ---- start-up -----------------------------------------------------------------------------

    def start(self) -> Ports:
        cfg = self.config
        self.state_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
        self.state_dir.chmod(0o700)  # job, spool and mapping stores hold original UIDs
        self.jobs = JobStore(self.state_dir / "jobs.sqlite3")
        self.envelopes = envelopes = EnvelopeStore(self.state_dir / "envelopes.sqlite3")
        self._mapping = mapping = MappingStore.open(
            self.state_dir / "reidentification.sqlite3", cfg.deid.mapping_key_file
        )

        tls = cfg.delivery.tls
        self._delivery, grpc_port = create_delivery_server(
            f"{cfg.delivery.bind}:{cfg.delivery.port}",
            envelopes,
            tls,
            max_workers=cfg.delivery.max_workers,
        )
        self._delivery.start()  # health NOT_SERVING until the model is loaded

        bundle = ModelBundle.open(cfg.model.bundle)
        session = cfg.model.session_settings(max_new_tokens=bundle.manifest.max_new_tokens)
        generator = ReportGenerator(bundle, precision=cfg.model.precision, settings=session)
        self._batcher = BatchingGenerator(
            generator, max_batch=cfg.model.max_batch, window_s=cfg.model.batch_window_ms / 1000
        )
        log.info(
            "model bundle %s loaded (%s, providers %s); batches of up to %d, window %d ms, %d workers",
            bundle.bundle_id,
            cfg.model.precision,
            ",".join(generator.providers),
            cfg.model.max_batch,
            cfg.model.batch_window_ms,
            cfg.model.worker_count,
        )
        self._stages = self._build_stages(generator, self._batcher, envelopes, mapping)
        self._delivery.set_serving(True)

        settings = cfg.dicom.listener_settings(self.state_dir / "spool")
        self._listener, dicom_port = create_listener(settings, (cfg.dicom.bind, cfg.dicom.port))
        self.spool = self._listener.spool
        self.ports = Ports(dicom=dicom_port, grpc=grpc_port)
        self._write_ports()

        self._recover()
        loops = [(self._dispatch_loop, "dispatcher")]
        loops += [(self._work_loop, f"worker-{i}") for i in range(cfg.model.worker_count)]
        for target, name in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
        log.info("ready: DICOM %s on port %d, gRPC on port %d", cfg.dicom.ae_title, dicom_port, grpc_port)
        return self.ports

    def _build_stages(
        self, generator: ReportGenerator, batcher: BatchingGenerator, envelopes: EnvelopeStore, mapping: MappingStore
    ) -> list[Stage]:
        cfg = self.config
        tool = DeidTool(cfg.deid.options, load_secret(cfg.deid.secret_file), pixels=cfg.deid.pixels, mapping=mapping)
        public_keys = {c.id: load_ecies_public_key(c.public_key_file) for c in cfg.clinicians}
        return [
            LoadStage(),
            ClassifyStage(),
            AnonymizeStage(tool),
            GenerateStage(generator, batcher),
            ValidateStage(ReportValidator()),
            EncryptStage(
                cfg.routing.default_recipients, public_keys, load_signing_key(cfg.signing.key_file), cfg.signing.key_id
            ),
            DeliverStage(envelopes),
        ]

    def _write_ports(self) -> None:
        assert self.ports is not None
        path = self.state_dir / "ports.json"
        tmp = path.with_suffix(".tmp")
        tmp.write_text(json.dumps({"dicom": self.ports.dicom, "grpc": self.ports.grpc}))
        tmp.chmod(0o600)  # every state file is the service user's alone
        tmp.replace(path)

    # ---- the dispatcher: spool -> job queue -----------------------------------------------------

    def _recover(self) -> None:
        assert self.jobs is not None and self.spool is not None
        for job_id in self.jobs.fail_poisoned(MAX_ATTEMPTS):
            log.error("job %s failed: the service stopped during each of its %d attempts", job_id, MAX_ATTEMPTS)
        requeued = self.jobs.recover()
        adopted = 0
        for claimed in self.spool.claimed_studies():
            record = self.jobs.get(batch_job_id(claimed.study_uid, claimed.paths))
            if record is None:
                self.jobs.enqueue(claimed.study_uid, list(claimed.paths), claimed.calling_aet)
                adopted += 1
            elif record.state in TERMINAL:
                self._retire_files(record)  # crashed after finishing, before clean-up
        if requeued or adopted:
            log.info("recovery: %d interrupted jobs re-queued, %d claimed batches queued", requeued, adopted)

    def _dispatch_loop(self) -> None:
        assert self.jobs is not None and self.spool is not None
        while not self._stopping.wait(self.poll_interval):
            try:
                for ready in self.spool.ready_studies(time.time()):
                    try:
                        claimed = self.spool.claim(ready.study_uid)
                    except SpoolError as exc:
                        log.debug("study %s not claimed: %s", ready.study_uid, type(exc).__name__)
                        continue
                    try:
                        job_id = self.jobs.enqueue(claimed.study_uid, list(claimed.paths), claimed.calling_aet)
                    except Exception:
                        # E.g. the job database's disk is full: give the study back, so that a later cycle
                        # claims it again instead of leaving it in claimed/ unseen until a restart.
                        self.spool.release(claimed.study_uid)
                        raise
                    log.info(
                        "study %s: %d instances from %s queued as job %s",
                        claimed.study_uid,
                        len(claimed.paths),
                        claimed.calling_aet,
                        job_id,
                    )
            except Exception:
                log.exception("dispatcher cycle failed; retrying")

    # ---- the workers: job queue -> pipeline -----------------------------------------------------

    def _work_loop(self) -> None:
        """Claim and process jobs until stopped. A failure outside the pipeline (the job store or the
        spool refusing a write, e.g. a full disk) must not end the worker: the job goes back to the
        queue and the worker waits before it claims again, so the pipeline recovers when space returns."""
        assert self.jobs is not None
        while not self._stopping.is_set():
            record = None
            try:
                record = self.jobs.claim_next()
                if record is None:
                    self._stopping.wait(self.poll_interval)
                    continue
                self.process(record)
            except Exception as exc:
                log.error(
                    "job %s: %s while recording its outcome; queued again",
                    record.job_id if record else "-",
                    type(exc).__name__,
                )
                log.debug("traceback", exc_info=True)
                if record is not None:
                    try:
                        self.jobs.release(record.job_id)
                    except Exception:
                        log.error("job %s: could not be queued again; the next start re-queues it", record.job_id)
                self._stopping.wait(max(1.0, 10 * self.poll_interval))

    def process(self, record: JobRecord) -> Outcome | None:
        """Run one claimed job to its outcome; None if the service stopped before its report was made
        (the job is then queued again, unfinished)."""
        assert self.jobs is not None
        job = Job(job_id=record.job_id, study_uid=record.study_uid, files=record.files, calling_aet=record.calling_aet)
        try:
            result = run_pipeline(self._stages, job)
        except GenerationInterrupted:
            self.jobs.release(record.job_id)
            log.info("job %s: interrupted by shutdown before generation; queued again", record.job_id)
            return None
        self.jobs.finish(
            record.job_id,
            result.outcome,
            stage=result.stage,
            reason=result.reason,
            privacy=result.job.privacy.name if result.job.privacy else "",
            report_ids=tuple(s.report_id for s in result.job.sealed) if result.outcome is Outcome.DELIVERED else (),
        )
        log.info(
            "job %s: %s at %s%s",
            record.job_id,
            result.outcome.value,
            result.stage,
            f" ({result.reason})" if result.reason else "",
        )
        self._retire_files(self.jobs.get(record.job_id) or record)
        return result.outcome

    def _retire_files(self, record: JobRecord) -> None:
        """Remove a finished batch from the spool; a failed batch is kept under failed/ first."""
        assert self.spool is not None
        if record.state == Outcome.FAILED.value:
            # The copies hold patient data in clear: folders 0700, files 0600, like the spool.
            (self.state_dir / "failed").mkdir(mode=0o700, exist_ok=True)
            keep = self.state_dir / "failed" / record.job_id
            keep.mkdir(mode=0o700, exist_ok=True)
            for f in record.files:
                if f.exists():
                    shutil.copyfile(f, keep / f.name)
                    (keep / f.name).chmod(0o600)
            reason = keep / "reason.json"
            reason.write_text(json.dumps({"stage": record.stage, "reason": record.reason}))
            reason.chmod(0o600)
        try:
            self.spool.complete(record.study_uid)
        except SpoolError as exc:
            log.debug("study %s: nothing to retire (%s)", record.study_uid, type(exc).__name__)

    # ---- shutdown -------------------------------------------------------------------------------

    def stop(self, grace: float | None = None) -> None:
        """Stop claiming, give jobs in flight `grace` seconds, then close the batcher (a job still
        waiting for its report goes back to the queue), the listener, delivery and the stores."""
        grace = self.config.delivery.grace_s if grace is None else grace
        log.info("stopping (grace %.1f s)", grace)
        deadline = time.monotonic() + grace
        self._stopping.set()
        if self._listener is not None:
            self._listener.shutdown(grace)
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._batcher is not None:
            self._batcher.close(max(0.0, deadline - time.monotonic()))
        for thread in self._threads:
            # Stages other than generation cannot be interrupted; they take seconds.
            thread.join(30)
            if thread.is_alive():
                log.warning("%s still busy after the grace; its job will be re-run at the next start", thread.name)
        if self._delivery is not None:
            self._delivery.stop(grace).wait(grace + 1)
        for closable in (self.jobs, self.envelopes, self._mapping):
            if closable is not None:
                closable.close()
        log.info("stopped")

    def wait(self) -> None:
        self._stopping.wait()

    def request_stop(self) -> None:
        self._stopping.set()
