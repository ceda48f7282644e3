"""The appliance service: all wiring sits here.

    Appliance(config).start()  ->  DICOM listener, dispatcher, pipeline workers, batcher, gRPC delivery
    Appliance.stop(grace)      ->  stops accepting, lets work in flight end, closes stores

Stages run concurrently across studies, in two parts joined by a bounded queue:
- `[model] workers` threads ("prepare") claim jobs and run the stages before generation (load, classify,
  anonymize: CPU-heavy, pydicom/numpy and tesseract subprocesses; screen: the injection detector). A
  prepared job goes into the ready queue (at most `max_batch` jobs; a full queue holds the workers, so at
  most workers + 3 * max_batch prepared studies are in memory; the originals are dropped once de-identified).
- 2 * `max_batch` threads ("generate") take ready jobs and run generation and the stages after it (validate,
  encrypt, deliver). Their requests meet in the batcher (runtime.batching: at most `max_batch` studies in
  one generator call, the first waiting at most `batch_window_ms` for others), so under a burst the
  generator sees the ready studies as one batch instead of one at a time, and the next batch forms
  while the generator runs the current one.
- Back-pressure: while `[model] max_pending` or more jobs are queued or running, the listener refuses new
  associations (transient rejection) and answers C-STORE 0xA700 (admission hook "pipeline_full"; the
  sender retries later), so a burst waits at the sender instead of piling up in the spool.
Each job's stage timings (seconds, plus its wait in the ready queue) are logged as
`job <id> timings {json}` (ids and numbers only).

Durability chain, so that every acknowledged instance leads to exactly one delivered report:
1. the listener acknowledges an instance only once it is fsynced in spool/incoming/;
2. the dispatcher moves a quiet study to spool/claimed/ (atomic rename) and queues a job whose id is
   derived from the batch's UIDs (a batch found again after a crash is the same job);
3. a prepare thread claims the job (JobStore.claim_next: exactly one thread, state `running`) and hands
   it, in memory, to exactly one generate thread through the ready queue; delivery is idempotent by
   report id (derived from the job id);
4. the job is marked finished, then the claimed files are removed (failed batches are kept).
At start-up, jobs left running are re-queued and claimed batches without a job are queued. At a stop,
a prepared job that has not reached generation, or is still waiting for its report when the grace
runs out, goes back to the queue, unfinished (its `running` row is released; a crash leaves it
`running`, which the next start re-queues). A study has at most one batch in claimed/ at a time (the
spool), so no two threads ever process the same study.
"""

from __future__ import annotations

import inspect
import json
import logging
import queue
import shutil
import threading
import time
from dataclasses import dataclass, field, replace
from typing import Any

from appliance import delivery as _delivery  # noqa: F401  (TLS policy must precede `import grpc`)
from appliance.config import ApplianceConfig
from appliance.delivery.errors import ReportNotFound, StoreError
from appliance.delivery.server import create_server as create_delivery_server
from appliance.delivery.store import EnvelopeStore
from appliance.envelope import load_ecies_public_key, load_signing_key
from appliance.jobs import TERMINAL, JobRecord, JobStore, batch_job_id
from appliance.pipeline import Job, Outcome, Result, Stage, run_pipeline, split_stages
from appliance.stages import (
    AnonymizeStage,
    ClassifyStage,
    DeliverStage,
    EncryptStage,
    GenerateStage,
    GenerationInterrupted,
    LoadStage,
    ScreenStage,
    ValidateStage,
    job_codes,
    report_id_for,
)
from common.logref import uid_ref
from deid import MappingStore
from deid.keys import load_secret
from deid.tool import DeidTool
from dicom_listener import Spool
from dicom_listener import create_server as create_listener
from dicom_listener.errors import SpoolError
from ids.injection import InjectionClassifier, InjectionDetector
from ids.report import ReportValidator
from runtime.batching import BatchingGenerator
from runtime.bundle import ModelBundle
from runtime.decode import BoundedDecoder
from runtime.generator import ReportGenerator

log = logging.getLogger("securemed.service")

#: A job claimed this many times whose every attempt ended with the service dying (found `running` at
#: start-up) fails instead of being re-queued: one poisonous study must not keep the service down.
MAX_ATTEMPTS = 3

#: Generate threads per batch slot: with two, the next batch forms (and the last one's reports are
#: validated, sealed and delivered) while the generator runs the current one, so it never idles
#: waiting for threads busy after their generation.
GENERATE_THREADS_PER_SLOT = 2


@dataclass(frozen=True)
class Ports:
    dicom: int
    grpc: int


@dataclass(frozen=True)
class _Prepared:
    """A claimed job whose stages before generation are done, waiting in the ready queue."""

    record: JobRecord
    job: Job
    timings: dict[str, float] = field(default_factory=dict)
    ready_at: float = 0.0


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
        self._prepare_stages: list[Stage] = []
        self._generate_stages: list[Stage] = []
        self._ready: queue.Queue[_Prepared] = queue.Queue(maxsize=config.model.max_batch)
        self._prepare_threads: list[threading.Thread] = []
        self._refusing = False
        self._pending, self._pending_at = 0, -1e9  # admission(): the last count and when it was read

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
            "model bundle %s loaded (%s, providers %s); batches of up to %d, window %d ms, %d prepare threads",
            bundle.bundle_id,
            cfg.model.precision,
            ",".join(generator.providers),
            cfg.model.max_batch,
            cfg.model.batch_window_ms,
            cfg.model.worker_count,
        )
        self._stages = self._build_stages(generator, self._batcher, envelopes, mapping)
        self._prepare_stages, self._generate_stages = split_stages(self._stages)
        self._delivery.set_serving(True)

        settings = cfg.dicom.listener_settings(self.state_dir / "spool")
        extra: dict[str, Any] = {}
        if "admission" in inspect.signature(create_listener).parameters:
            extra["admission"] = self.admission
        else:
            log.warning("this listener cannot refuse associations: back-pressure (max_pending) is off")
        self._listener, dicom_port = create_listener(settings, (cfg.dicom.bind, cfg.dicom.port), **extra)
        self.spool = self._listener.spool
        self.ports = Ports(dicom=dicom_port, grpc=grpc_port)
        self._write_ports()

        self._recover()
        loops = [(self._dispatch_loop, "dispatcher")]
        loops += [(self._prepare_loop, f"prepare-{i}") for i in range(cfg.model.worker_count)]
        loops += [
            (self._generate_loop, f"generate-{i}") for i in range(GENERATE_THREADS_PER_SLOT * cfg.model.max_batch)
        ]
        for target, name in loops:
            thread = threading.Thread(target=target, name=name, daemon=True)
            thread.start()
            self._threads.append(thread)
            if name.startswith("prepare-"):
                self._prepare_threads.append(thread)
        log.info("ready: DICOM %s on port %d, gRPC on port %d", cfg.dicom.ae_title, dicom_port, grpc_port)
        return self.ports

    def _build_stages(
        self, generator: ReportGenerator, batcher: BatchingGenerator, envelopes: EnvelopeStore, mapping: MappingStore
    ) -> list[Stage]:
        cfg = self.config
        tool = DeidTool(cfg.deid.options, load_secret(cfg.deid.secret_file), pixels=cfg.deid.pixels, mapping=mapping)
        public_keys = {c.id: load_ecies_public_key(c.public_key_file) for c in cfg.clinicians}
        model, calibration = cfg.ids.injection_model, generator.bundle.manifest.validation
        classifier = InjectionClassifier.load(model) if model is not None else None  # hash checked first
        on = ("rules+classifier" if classifier else "rules", "on" if calibration else "off (no calibration)")
        log.info("ids: injection screening by %s; anomaly checks %s", *on)
        return [
            LoadStage(BoundedDecoder(cfg.decode.settings())),
            ClassifyStage(),
            AnonymizeStage(tool),
            ScreenStage(InjectionDetector(classifier=classifier)),
            GenerateStage(generator, batcher),
            ValidateStage(ReportValidator(), calibration),
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
        for job_id in self.jobs.fail_poisoned(MAX_ATTEMPTS, delivered=self._already_delivered):
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

    def _already_delivered(self, job_id: str) -> tuple[str, ...] | None:
        """The job's report ids when an envelope for every recipient is stored already, else None."""
        assert self.envelopes is not None
        recipients = self.config.routing.default_recipients
        ids = tuple(report_id_for(job_id, r) for r in recipients)
        try:
            for recipient, report_id in zip(recipients, ids):
                self.envelopes.get(recipient, report_id)
        except (ReportNotFound, StoreError):
            return None
        return ids or None

    def _dispatch_loop(self) -> None:
        assert self.jobs is not None and self.spool is not None
        while not self._stopping.wait(self.poll_interval):
            try:
                for ready in self.spool.ready_studies(time.time()):
                    try:
                        claimed = self.spool.claim(ready.study_uid)
                    except SpoolError as exc:
                        log.debug("study %s not claimed: %s", uid_ref(ready.study_uid), type(exc).__name__)
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
                        uid_ref(claimed.study_uid),
                        len(claimed.paths),
                        claimed.calling_aet,
                        job_id,
                    )
            except Exception:
                log.exception("dispatcher cycle failed; retrying")

    # ---- back-pressure --------------------------------------------------------------------------

    def admission(self) -> str | None:
        """The listener's admission hook (on every A-ASSOCIATE-RQ and C-STORE): None to accept, or the
        fixed reason "pipeline_full" (the listener counts it as admission:pipeline_full) while
        `[model] max_pending` or more jobs are queued or running. The count is read from the job store
        at most once per poll interval, so the hook stays cheap under a burst."""
        if self.jobs is None:
            return None
        now = time.monotonic()
        if now - self._pending_at >= self.poll_interval:
            self._pending, self._pending_at = self.jobs.pending(), now
        bound = self.config.model.max_pending
        refusing = self._pending >= bound
        if refusing != self._refusing:  # log the transitions, not every association
            self._refusing = refusing
            if refusing:
                log.warning("back-pressure: %d jobs pending (max_pending %d); refusing new work", self._pending, bound)
            else:
                log.info("back-pressure released: %d jobs pending; accepting", self._pending)
        return "pipeline_full" if refusing else None

    # ---- prepare threads: job queue -> stages before generation -> ready queue -------------------

    def _prepare_loop(self) -> None:
        """Claim jobs and run the stages before generation until stopped. A failure outside the
        pipeline (the job store or the spool refusing a write, e.g. a full disk) must not end the
        thread: the job goes back to the queue and the thread waits before it claims again, so the
        pipeline recovers when space returns."""
        assert self.jobs is not None
        while not self._stopping.is_set():
            record = None
            try:
                record = self.jobs.claim_next()
                if record is None:
                    self._stopping.wait(self.poll_interval)
                    continue
                self._prepare(record)
            except Exception as exc:
                self._requeue_after_error(record, exc)

    def _prepare(self, record: JobRecord) -> None:
        assert self.jobs is not None
        job = Job(job_id=record.job_id, study_uid=record.study_uid, files=record.files, calling_aet=record.calling_aet)
        result = run_pipeline(self._prepare_stages, job)
        if result.outcome is not Outcome.DELIVERED:  # withheld or failed before generation
            self._finish(record, result, {})
            return
        # The originals (every instance, parsed) are not needed after de-identification: drop them
        # so that a full ready queue holds only what the model and the report need.
        prepared = _Prepared(record, replace(result.job, originals=()), dict(result.job.timings), time.monotonic())
        while not self._stopping.is_set():
            try:
                self._ready.put(prepared, timeout=self.poll_interval)
                return
            except queue.Full:
                continue  # generation is behind: wait here, holding no further claim
        self._release(record.job_id, "stopping before generation")

    # ---- generate threads: ready queue -> generation and the stages after it --------------------

    def _generate_loop(self) -> None:
        """Take prepared jobs until stopped and the ready queue is empty (jobs prepared before a stop
        are still generated within the grace; see stop())."""
        while True:
            try:
                prepared = self._ready.get(timeout=self.poll_interval)
            except queue.Empty:
                if self._stopping.is_set():
                    return
                continue
            try:
                self._complete(prepared)
            except Exception as exc:
                self._requeue_after_error(prepared.record, exc)

    def _complete(self, prepared: _Prepared) -> Outcome | None:
        """Generate, validate, encrypt, deliver; None if the service stopped before the report was made
        (the job is then queued again, unfinished)."""
        waited = round(time.monotonic() - prepared.ready_at, 4)
        try:
            result = run_pipeline(self._generate_stages, prepared.job)
        except GenerationInterrupted:
            self._release(prepared.record.job_id, "interrupted by shutdown before generation")
            return None
        self._finish(prepared.record, result, {**prepared.timings, "ready_queue": waited, **result.job.timings})
        return result.outcome

    def _finish(self, record: JobRecord, result: Result, timings: dict[str, float]) -> None:
        assert self.jobs is not None
        codes = job_codes(result)  # report ids: the delivered reports, or a withheld draft's notices
        self.jobs.finish(
            record.job_id,
            result.outcome,
            stage=result.stage,
            reason=result.reason,
            privacy=result.job.privacy.name if result.job.privacy else "",
            report_ids=tuple(s.report_id for s in result.job.sealed) if result.outcome is not Outcome.FAILED else (),
            codes=codes,
        )
        log.info(
            "job %s: %s at %s%s%s",
            record.job_id,
            result.outcome.value,
            result.stage,
            f" ({result.reason})" if result.reason else "",
            f" [{', '.join(codes)}]" if codes else "",
        )
        if timings:
            log.info("job %s timings %s", record.job_id, json.dumps(timings, sort_keys=True))
        self._retire_files(self.jobs.get(record.job_id) or record)

    def _release(self, job_id: str, why: str) -> None:
        assert self.jobs is not None
        self.jobs.release(job_id)
        log.info("job %s: %s; queued again", job_id, why)

    def _requeue_after_error(self, record: JobRecord | None, exc: Exception) -> None:
        assert self.jobs is not None
        log.error(
            "job %s: %s while recording its outcome; queued again", record.job_id if record else "-", type(exc).__name__
        )
        log.debug("traceback", exc_info=True)
        if record is not None:
            try:
                self.jobs.release(record.job_id)
            except Exception:
                log.error("job %s: could not be queued again; the next start re-queues it", record.job_id)
        self._stopping.wait(max(1.0, 10 * self.poll_interval))

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
            log.debug("job %s: nothing to retire (%s)", record.job_id, type(exc).__name__)

    # ---- shutdown -------------------------------------------------------------------------------

    def stop(self, grace: float | None = None) -> None:
        """Stop claiming, give jobs in flight `grace` seconds, then close the batcher (a job still
        waiting for its report goes back to the queue, as does every prepared job not yet generated),
        the listener, delivery and the stores."""
        grace = self.config.delivery.grace_s if grace is None else grace
        log.info("stopping (grace %.1f s)", grace)
        deadline = time.monotonic() + grace
        self._stopping.set()
        if self._listener is not None:
            self._listener.shutdown(grace)
        # Prepare threads first (they hand over or release their job), then the generate threads,
        # which drain the ready queue within the grace.
        for thread in self._prepare_threads + [t for t in self._threads if t not in self._prepare_threads]:
            thread.join(max(0.0, deadline - time.monotonic()))
        if self._batcher is not None:
            self._batcher.close(max(0.0, deadline - time.monotonic()))
            stats = self._batcher.stats()
            log.info(
                "generation: %d calls for %d studies (largest batch %d, %d failed calls)",
                stats.calls,
                stats.requests,
                stats.largest,
                stats.failed_calls,
            )
        for thread in self._threads:
            # Stages other than generation cannot be interrupted; they take seconds.
            thread.join(30)
            if thread.is_alive():
                log.warning("%s still busy after the grace; its job will be re-run at the next start", thread.name)
        self._release_ready()
        if self._delivery is not None:
            self._delivery.stop(grace).wait(grace + 1)
        for closable in (self.jobs, self.envelopes, self._mapping):
            if closable is not None:
                closable.close()
        log.info("stopped")

    def _release_ready(self) -> None:
        """Prepared jobs no generate thread took (they stopped, or are stuck) go back to the queue."""
        while True:
            try:
                prepared = self._ready.get_nowait()
            except queue.Empty:
                return
            try:
                self._release(prepared.record.job_id, "prepared but not generated before the stop")
            except Exception:
                log.error("job %s: could not be queued again; the next start re-queues it", prepared.record.job_id)

    def wait(self) -> None:
        self._stopping.wait()

    def request_stop(self) -> None:
        self._stopping.set()
