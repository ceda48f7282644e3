"""The pipeline's stages: load -> classify -> anonymize -> generate -> validate -> encrypt -> deliver.

Each stage is a small callable object implementing `appliance.pipeline.Stage`. They hold their
dependencies (model, keys, stores) but no per-study state; everything about a study is in the `Job`.
Each declares the Job fields it reads and writes; the runner enforces that (appliance.pipeline).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import ClassVar

import pydicom
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from pydicom.dataset import Dataset

from appliance.classify import CHEST_XRAY, classify
from appliance.delivery.store import EnvelopeStore
from appliance.envelope import ReportPayload, seal, utc_now
from appliance.pipeline import Job, Reidentification, Report, SealedReport, StageFailed, Withheld
from appliance.validate import ReportValidator, ValidationContext
from deid import DeidError, UnsafeToDeidentify
from deid.tool import DeidTool
from deid.values import HeaderValues, header_values
from runtime.batching import BatcherClosed, BatchingGenerator
from runtime.decode import BoundedDecoder, DecodeRefused, DecoderUnavailable
from runtime.errors import PreprocessError
from runtime.generator import ReportGenerator
from runtime.preprocess import preprocess

log = logging.getLogger("securemed.pipeline")

REPORT_NAMESPACE = uuid.UUID("6f1c2a8e-3b7d-4c59-9a0e-5d2f8b1c7e44")


def report_id_for(job_id: str, recipient_id: str) -> str:
    """Deterministic per job and recipient, so a re-run after a crash delivers the same report."""
    return str(uuid.uuid5(REPORT_NAMESPACE, f"{job_id}/{recipient_id}"))


@dataclass
class LoadStage:
    """Parses every instance of the batch, once; later stages never read the files again.

    Encapsulated (compressed) Pixel Data is transcoded to Explicit VR Little Endian here, by the
    `decoder`'s memory- and time-bounded worker processes (runtime.decode), so no later stage ever
    runs a decoder on an untrusted codestream in the service's process. A refused instance (lying
    codestream header, decoded size, memory or time limit, decoder crash or error) withholds the
    study with the refusal's code and reason; no worker at all fails it.

    Reads: files. Writes: originals.
    """

    decoder: BoundedDecoder = field(default_factory=BoundedDecoder)
    name: str = "load"
    reads: ClassVar[frozenset[str]] = frozenset({"files"})
    writes: ClassVar[frozenset[str]] = frozenset({"originals"})

    def __call__(self, job: Job) -> Job:
        if not job.files:
            raise StageFailed("study has no instances")
        try:
            parsed = [pydicom.dcmread(str(f)) for f in job.files]
        except Exception as exc:
            raise StageFailed(f"unreadable DICOM instance ({type(exc).__name__})") from None
        try:
            originals = tuple(self.decoder.to_native(ds) for ds in parsed)
        except DecodeRefused as exc:
            raise Withheld(f"pixel data refused ({exc.code}): {exc.reason}") from None
        except DecoderUnavailable as exc:
            raise StageFailed(f"pixel decoding unavailable: {exc}") from None
        return replace(job, originals=originals)


@dataclass
class ClassifyStage:
    """Modality and body part -> privacy class; anything but a chest radiograph is withheld.

    Reads: originals. Writes: privacy.
    """

    name: str = "classify"
    reads: ClassVar[frozenset[str]] = frozenset({"originals"})
    writes: ClassVar[frozenset[str]] = frozenset({"privacy"})

    def __call__(self, job: Job) -> Job:
        first = job.originals[0]
        privacy = classify(first)
        modality = str(first.get("Modality", "") or "?")
        if privacy is None:
            raise Withheld(f"unsupported class: no privacy class for modality {modality}")
        job = replace(job, privacy=privacy)
        if privacy != CHEST_XRAY:
            raise Withheld(
                f"unsupported class: {privacy.name} ({privacy.level}, epsilon {privacy.epsilon}); "
                "the model reads chest radiographs only",
                job,
            )
        return job


@dataclass
class AnonymizeStage:
    """De-identification (header, free text, pixels: `DeidTool`); the model only ever sees its output.

    An instance that cannot be made safe withholds the study with the reason; any other
    de-identification error fails it. The tool stores the re-identification records (encrypted).

    Reads: originals. Writes: deidentified, study_pseudonym, reidentification, header_values.
    """

    tool: DeidTool
    name: str = "anonymize"
    reads: ClassVar[frozenset[str]] = frozenset({"originals"})
    writes: ClassVar[frozenset[str]] = frozenset(
        {"deidentified", "study_pseudonym", "reidentification", "header_values"}
    )

    def __call__(self, job: Job) -> Job:
        datasets: list[Dataset] = []
        values = HeaderValues()
        records = []
        for original in job.originals:
            values = values + header_values(original)
            try:
                result = self.tool.deidentify(original)
            except UnsafeToDeidentify as exc:
                raise Withheld(f"unsafe to de-identify: {exc}") from None
            except DeidError as exc:
                raise StageFailed(f"de-identification failed: {type(exc).__name__}") from None
            datasets.append(result.dataset)
            records.append(result.record)
        first = records[0]
        return replace(
            job,
            deidentified=tuple(datasets),
            study_pseudonym=first.pseudonym,
            reidentification=Reidentification(first.original_accession_number, first.original_study_date),
            header_values=values,
        )


def _frontal_first(datasets: Sequence[Dataset]) -> Dataset:
    for ds in datasets:
        if str(ds.get("ViewPosition", "")).upper() in ("PA", "AP"):
            return ds
    return datasets[0]


class GenerationInterrupted(BaseException):
    """The service stopped before this job's report was generated: not an outcome of the job.

    It derives from BaseException on purpose: the pipeline runner turns every Exception into a failed
    job, and an interrupted job must instead go back to the queue (the worker catches this).
    """


@dataclass
class GenerateStage:
    """Preprocesses the frontal image and generates its report.

    With a `batcher`, the image joins whatever batch the concurrent workers' images form (one
    generator call for all of them); without one, the generator is called for this image alone.

    Reads: deidentified. Writes: report, bundle_id.
    """

    generator: ReportGenerator  # the model: its bundle gives the preprocessing and the bundle id
    batcher: BatchingGenerator | None = None
    name: str = "generate"
    reads: ClassVar[frozenset[str]] = frozenset({"deidentified"})
    writes: ClassVar[frozenset[str]] = frozenset({"report", "bundle_id"})

    def __call__(self, job: Job) -> Job:
        try:
            image = preprocess(_frontal_first(job.deidentified), self.generator.bundle.manifest.preprocessing)
        except PreprocessError as exc:
            raise StageFailed(f"image not readable by the model: {exc}") from None
        if self.batcher is None:
            (generated,) = self.generator.generate([image])
        else:
            try:
                generated = self.batcher.generate(image)
            except BatcherClosed:
                raise GenerationInterrupted(job.job_id) from None
        return replace(
            job, report=Report(generated.findings, generated.impression), bundle_id=self.generator.bundle.bundle_id
        )


@dataclass
class ValidateStage:
    """Withholds an unsafe draft with the violated rules as the reason.

    Reads: report, header_values. Writes: nothing.
    """

    validator: ReportValidator
    name: str = "validate"
    reads: ClassVar[frozenset[str]] = frozenset({"report", "header_values"})
    writes: ClassVar[frozenset[str]] = frozenset()

    def __call__(self, job: Job) -> Job:
        assert job.report is not None  # the runner checked `reads`
        context = ValidationContext(job.header_values.identifying, job.header_values.free_text)
        violations = self.validator.check(job.report, context)
        if violations:
            raise Withheld("unsafe report: " + "; ".join(f"{v.rule}: {v.reason}" for v in violations))
        return job


@dataclass
class EncryptStage:
    """Seals the report to each recipient's ECIES key and signs it with the appliance's key.

    Reads: report, study_pseudonym, reidentification, bundle_id. Writes: sealed.
    """

    recipients: Sequence[str]
    public_keys: Mapping[str, bytes]
    signing_key: Ed25519PrivateKey
    key_id: str
    name: str = "encrypt"
    reads: ClassVar[frozenset[str]] = frozenset({"report", "study_pseudonym", "reidentification", "bundle_id"})
    writes: ClassVar[frozenset[str]] = frozenset({"sealed"})

    def __call__(self, job: Job) -> Job:
        assert job.report is not None and job.reidentification is not None  # the runner checked `reads`
        sealed = []
        for recipient in self.recipients:
            report_id = report_id_for(job.job_id, recipient)
            payload = ReportPayload(
                report_id=report_id,
                recipient_id=recipient,
                study_pseudonym=job.study_pseudonym,
                accession_number=job.reidentification.accession_number,
                study_date=job.reidentification.study_date,
                findings=job.report.findings,
                impression=job.report.impression,
                bundle_id=job.bundle_id,
                created_at=utc_now(),
            )
            envelope = seal(payload, recipient, self.public_keys[recipient], self.signing_key, self.key_id)
            sealed.append(SealedReport(report_id, recipient, envelope))
        return replace(job, sealed=tuple(sealed))


@dataclass
class DeliverStage:
    """Puts each sealed report into the envelope store that gRPC serves (idempotent by report id).

    Reads: sealed. Writes: nothing.
    """

    store: EnvelopeStore
    name: str = "deliver"
    reads: ClassVar[frozenset[str]] = frozenset({"sealed"})
    writes: ClassVar[frozenset[str]] = frozenset()

    def __call__(self, job: Job) -> Job:
        for item in job.sealed:
            stored = self.store.put(item.envelope)
            log.info(
                "job %s: report %s for %s %s",
                job.job_id,
                item.report_id,
                item.recipient_id,
                "delivered" if stored else "was already delivered",
            )
        return job
