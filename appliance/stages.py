"""The pipeline's stages: classify -> anonymize -> generate -> validate -> encrypt -> deliver.

Each stage is a small callable object implementing `appliance.pipeline.Stage`. They hold their
dependencies (model, keys, stores) but no per-study state; everything about a study is in the `Job`.
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass, replace
from typing import Any, Mapping, Sequence

import pydicom
from pydicom.dataset import Dataset

from appliance.classify import CHEST_XRAY, classify
from appliance.deid import DeidError, MappingStore, UnsafeToDeidentify
from appliance.deid.tool import DeidTool
from appliance.envelope import ReportPayload, seal, utc_now
from appliance.pipeline import Job, Report, SealedReport, StageFailed, Withheld
from appliance.validate import ReportValidator, ValidationContext
from runtime.batching import BatcherClosed, BatchingGenerator
from runtime.errors import PreprocessError
from runtime.generator import ReportGenerator
from runtime.preprocess import preprocess

log = logging.getLogger("securemed.pipeline")

# Header values that identify the patient or the encounter: the report must not contain them.
IDENTIFYING_KEYWORDS = (
    "PatientName", "PatientID", "OtherPatientIDs", "AccessionNumber", "PatientBirthDate", "StudyID",
    "InstitutionName", "InstitutionAddress", "ReferringPhysicianName", "PerformingPhysicianName",
    "OperatorsName", "PatientAddress", "PatientTelephoneNumbers", "StationName", "StudyDate",
)
# Free-text header fields whose content must not be copied into the report verbatim.
FREE_TEXT_KEYWORDS = (
    "StudyDescription", "SeriesDescription", "ImageComments", "AdditionalPatientHistory",
    "AdmittingDiagnosesDescription", "RequestedProcedureDescription", "PatientComments",
)
REPORT_NAMESPACE = uuid.UUID("6f1c2a8e-3b7d-4c59-9a0e-5d2f8b1c7e44")


def _values(ds: Dataset, keywords: Sequence[str]) -> list[str]:
    out: list[str] = []
    for keyword in keywords:
        value = ds.get(keyword)
        if value is None or value == "":
            continue
        items = value if isinstance(value, (list, tuple, pydicom.multival.MultiValue)) else [value]
        for item in items:
            text = str(item)
            out.append(text)
            if keyword.endswith("Name"):
                out += [part for part in text.replace("^", " ").split() if len(part) >= 3]
    return out


def report_id_for(job_id: str, recipient_id: str) -> str:
    """Deterministic per job and recipient, so a re-run after a crash delivers the same report."""
    return str(uuid.uuid5(REPORT_NAMESPACE, f"{job_id}/{recipient_id}"))


@dataclass
class ClassifyStage:
    name: str = "classify"

    def __call__(self, job: Job) -> Job:
        try:
            headers = [pydicom.dcmread(str(f), stop_before_pixels=True) for f in job.files]
        except Exception as exc:  # noqa: BLE001 - any unreadable file fails the job with its type
            raise StageFailed(f"unreadable DICOM instance ({type(exc).__name__})") from None
        if not headers:
            raise StageFailed("study has no instances")
        privacy = classify(headers[0])
        modality = str(headers[0].get("Modality", "") or "?")
        if privacy is None:
            raise Withheld(f"unsupported class: no privacy class for modality {modality}")
        job = replace(job, privacy=privacy)
        if privacy != CHEST_XRAY:
            raise Withheld(f"unsupported class: {privacy.name} ({privacy.level}, epsilon {privacy.epsilon}); "
                           "the model reads chest radiographs only", job)
        return job


@dataclass
class AnonymizeStage:
    """De-identification (header, free text, pixels: `DeidTool`); the model only ever sees its output.

    An instance that cannot be made safe withholds the study with the reason; any other
    de-identification error fails it. Re-identification records go to the encrypted mapping store.
    """

    tool: DeidTool
    mapping: MappingStore | None = None
    name: str = "anonymize"

    def __call__(self, job: Job) -> Job:
        datasets, identifying, free_text = [], [], []
        first_record = None
        for path in job.files:
            original = pydicom.dcmread(str(path))
            identifying += _values(original, IDENTIFYING_KEYWORDS)
            free_text += _values(original, FREE_TEXT_KEYWORDS)
            try:
                result, dataset = self.tool.deidentify(original)
            except UnsafeToDeidentify as exc:
                raise Withheld(f"unsafe to de-identify: {exc}") from None
            except DeidError as exc:
                raise StageFailed(f"de-identification failed: {type(exc).__name__}") from None
            if self.mapping is not None:
                self.mapping.put(result.record)
            datasets.append(dataset)
            first_record = first_record or result.record
        assert first_record is not None
        return replace(
            job, datasets=tuple(datasets), study_pseudonym=first_record.pseudonym,
            reidentification={"accession_number": first_record.original_accession_number,
                              "study_date": first_record.original_study_date},
            identifying_values=tuple(dict.fromkeys(identifying)), free_text_values=tuple(dict.fromkeys(free_text)),
        )


def _frontal_first(datasets: Sequence[Any]) -> Any:
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
    """

    generator: ReportGenerator  # the model: its bundle gives the preprocessing and the bundle id
    batcher: BatchingGenerator | None = None
    name: str = "generate"

    def __call__(self, job: Job) -> Job:
        if not job.datasets:
            raise StageFailed("no de-identified image to read")
        try:
            image = preprocess(_frontal_first(job.datasets), self.generator.bundle.manifest.preprocessing)
        except PreprocessError as exc:
            raise StageFailed(f"image not readable by the model: {exc}") from None
        if self.batcher is None:
            (generated,) = self.generator.generate([image])
        else:
            try:
                generated = self.batcher.generate(image)
            except BatcherClosed:
                raise GenerationInterrupted(job.job_id) from None
        return replace(job, report=Report(generated.findings, generated.impression),
                       bundle_id=self.generator.bundle.bundle_id)


@dataclass
class ValidateStage:
    validator: ReportValidator
    name: str = "validate"

    def __call__(self, job: Job) -> Job:
        if job.report is None:
            raise StageFailed("no report to validate")
        context = ValidationContext(job.identifying_values, job.free_text_values)
        violations = self.validator.check(job.report, context)
        if violations:
            raise Withheld("unsafe report: " + "; ".join(f"{v.rule}: {v.reason}" for v in violations))
        return job


@dataclass
class EncryptStage:
    recipients: Sequence[str]
    public_keys: Mapping[str, Any]
    signing_key: Any
    key_id: str
    name: str = "encrypt"

    def __call__(self, job: Job) -> Job:
        if job.report is None:
            raise StageFailed("no report to encrypt")
        sealed = []
        for recipient in self.recipients:
            report_id = report_id_for(job.job_id, recipient)
            payload = ReportPayload(
                report_id=report_id, recipient_id=recipient, study_pseudonym=job.study_pseudonym,
                accession_number=job.reidentification.get("accession_number", ""),
                study_date=job.reidentification.get("study_date", ""),
                findings=job.report.findings, impression=job.report.impression,
                bundle_id=job.bundle_id, created_at=utc_now(),
            )
            envelope = seal(payload, recipient, self.public_keys[recipient], self.signing_key, self.key_id)
            sealed.append(SealedReport(report_id, recipient, envelope))
        return replace(job, sealed=tuple(sealed))


@dataclass
class DeliverStage:
    store: Any  # appliance.delivery.store.EnvelopeStore
    name: str = "deliver"

    def __call__(self, job: Job) -> Job:
        for item in job.sealed:
            stored = self.store.put(item.envelope)
            log.info("job %s: report %s for %s %s", job.job_id, item.report_id, item.recipient_id,
                     "delivered" if stored else "was already delivered")
        return job
