"""The pipeline's stages: load -> classify -> anonymize -> screen -> generate -> validate -> encrypt -> deliver.

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
from appliance.pipeline import Job, Reidentification, Report, Result, SealedReport, StageFailed, Validation, Withheld
from deid import DeidError, UnsafeToDeidentify
from deid.indication import ABSENT, Indication
from deid.tool import DeidTool
from deid.values import HeaderValues, header_values
from ids.injection import InjectionDetector
from ids.report import Draft, ReportValidator, ValidationContext
from runtime.batching import BatcherClosed, BatchingGenerator
from runtime.bundle import ValidationCalibration
from runtime.decode import BoundedDecoder, DecodeRefused, DecoderUnavailable
from runtime.errors import PreprocessError
from runtime.generator import ReportGenerator
from runtime.preprocess import preprocess

log = logging.getLogger("securemed.pipeline")

REPORT_NAMESPACE = uuid.UUID("6f1c2a8e-3b7d-4c59-9a0e-5d2f8b1c7e44")

#: The job's code when its indication was kept from the model (followed by the detector's codes).
INDICATION_WITHHELD = "indication-withheld"
#: The screen's code for an indication that could not be de-identified (no free-text cleaner).
INDICATION_UNCLEANABLE = "indication-uncleanable"


def job_codes(result: Result) -> tuple[str, ...]:
    """The reason codes recorded on the job: the outcome's own (the validator's), then
    "indication-withheld" and the screen's codes when the indication was kept from the model."""
    indication = result.job.indication_codes or ()
    return tuple(dict.fromkeys(result.codes + ((INDICATION_WITHHELD, *indication) if indication else ())))


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
    The clinical indication is read here, from the originals (de-identification removes it), and
    cleaned by the tool before any other stage sees it: the first instance with one gives it.

    Reads: originals. Writes: deidentified, study_pseudonym, reidentification, header_values, indication.
    """

    tool: DeidTool
    name: str = "anonymize"
    reads: ClassVar[frozenset[str]] = frozenset({"originals"})
    writes: ClassVar[frozenset[str]] = frozenset(
        {"deidentified", "study_pseudonym", "reidentification", "header_values", "indication"}
    )

    def __call__(self, job: Job) -> Job:
        datasets: list[Dataset] = []
        values = HeaderValues()
        records = []
        indication: Indication = ABSENT
        for original in job.originals:
            values = values + header_values(original)
            if indication.status == "absent":
                indication = self.tool.indication(original)
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
            indication=indication,
        )


@dataclass
class ScreenStage:
    """Screens the cleaned indication for prompt injection before it may reach the model.

    A passing indication becomes the prompt. One the detector withholds is not given to the model
    (prompt ""), and its codes are kept (`indication_codes`): the report is generated without it,
    delivered, and says that the indication was withheld. An indication that could not be cleaned
    is withheld too ("indication-uncleanable"); no indication: prompt "", no codes. Only codes and
    the source attribute are logged, never the text.

    Reads: indication. Writes: prompt, indication_codes.
    """

    detector: InjectionDetector
    name: str = "screen"
    reads: ClassVar[frozenset[str]] = frozenset({"indication"})
    writes: ClassVar[frozenset[str]] = frozenset({"prompt", "indication_codes"})

    def __call__(self, job: Job) -> Job:
        indication = job.indication
        assert indication is not None  # the runner checked `reads`
        if indication.status == "uncleanable":
            codes: tuple[str, ...] = (INDICATION_UNCLEANABLE,)
        elif indication.status == "absent" or not indication.text:
            return replace(job, prompt="", indication_codes=())
        else:
            screening = self.detector.screen(indication.text)
            if screening.verdict == "pass":
                return replace(job, prompt=indication.text, indication_codes=())
            codes = tuple(screening.reasons) or ("injection",)
        log.info("job %s: indication (%s) withheld from the model: %s", job.job_id, indication.source, ", ".join(codes))
        return replace(job, prompt="", indication_codes=codes)


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
    The screened prompt (the indication, or none) goes with the image. The report keeps the
    generator's token log-probabilities and finding probabilities for the validator.

    Reads: deidentified, prompt. Writes: report, bundle_id.
    """

    generator: ReportGenerator  # the model: its bundle gives the preprocessing and the bundle id
    batcher: BatchingGenerator | None = None
    name: str = "generate"
    reads: ClassVar[frozenset[str]] = frozenset({"deidentified", "prompt"})
    writes: ClassVar[frozenset[str]] = frozenset({"report", "bundle_id"})

    def __call__(self, job: Job) -> Job:
        try:
            image = preprocess(_frontal_first(job.deidentified), self.generator.bundle.manifest.preprocessing)
        except PreprocessError as exc:
            raise StageFailed(f"image not readable by the model: {exc}") from None
        prompt = job.prompt or None
        if self.batcher is None:
            (generated,) = self.generator.generate([image], [prompt])
        else:
            try:
                generated = self.batcher.generate(image, prompt)
            except BatcherClosed:
                raise GenerationInterrupted(job.job_id) from None
        probs = getattr(generated, "finding_probs", None)
        report = Report(
            generated.findings,
            generated.impression,
            tuple(float(x) for x in getattr(generated, "token_logprobs", ())),
            None if probs is None else tuple(float(x) for x in probs),
        )
        return replace(job, report=report, bundle_id=self.generator.bundle.bundle_id)


def draft_of(report: Report, dataset: Dataset) -> Draft:
    """The validator's view of `report`, with the modality and body part of the study's dataset."""
    return Draft(
        report.findings,
        report.impression,
        modality=str(dataset.get("Modality", "") or ""),
        body_part=str(dataset.get("BodyPartExamined", "") or ""),
        token_logprobs=report.token_logprobs,
        finding_probs=report.finding_probs,
    )


@dataclass
class ValidateStage:
    """Checks the draft with the report validator (ids.report) and records its verdict.

    A draft that fails is not delivered: the encrypt stage seals a "withheld by validator" notice
    with the codes instead, the deliver stage delivers it, and the job ends withheld with the codes
    (recorded at this stage). `calibration`: the bundle manifest's anomaly thresholds (None: the
    anomaly checks are off).

    Reads: report, header_values, deidentified. Writes: validation.
    """

    validator: ReportValidator
    calibration: ValidationCalibration | None = None
    name: str = "validate"
    reads: ClassVar[frozenset[str]] = frozenset({"report", "header_values", "deidentified"})
    writes: ClassVar[frozenset[str]] = frozenset({"validation"})

    def __call__(self, job: Job) -> Job:
        assert job.report is not None  # the runner checked `reads`
        context = ValidationContext(job.header_values.identifying, job.header_values.free_text, self.calibration)
        violations = self.validator.check(draft_of(job.report, job.deidentified[0]), context)
        codes = tuple(dict.fromkeys(v.code for v in violations))
        if not codes:
            return replace(job, validation=Validation())
        reason = "withheld by validator: " + "; ".join(f"{v.code}: {v.reason}" for v in violations)
        log.info("job %s: draft withheld by the validator: %s", job.job_id, ", ".join(codes))
        return replace(job, validation=Validation(codes, reason))


def indication_use(prompt: str, codes: Sequence[str]) -> str:
    """What the payload says about the indication: "used", "withheld" or "absent"."""
    return "used" if prompt else ("withheld" if codes else "absent")


@dataclass
class EncryptStage:
    """Seals the report to each recipient's ECIES key and signs it with the appliance's key.

    A draft the validator refused is never sealed: each recipient gets a "withheld by validator"
    notice instead (the codes, no report text), under the same deterministic report id, so a
    re-run after a crash delivers the same notice once. The payload says whether the indication
    was used, withheld (with its codes) or absent.

    Reads: report, study_pseudonym, reidentification, bundle_id, prompt, indication_codes, validation.
    Writes: sealed.
    """

    recipients: Sequence[str]
    public_keys: Mapping[str, bytes]
    signing_key: Ed25519PrivateKey
    key_id: str
    name: str = "encrypt"
    reads: ClassVar[frozenset[str]] = frozenset(
        {"report", "study_pseudonym", "reidentification", "bundle_id", "prompt", "indication_codes", "validation"}
    )
    writes: ClassVar[frozenset[str]] = frozenset({"sealed"})

    def __call__(self, job: Job) -> Job:
        # the runner checked `reads`
        assert job.report is not None and job.reidentification is not None and job.validation is not None
        assert job.prompt is not None and job.indication_codes is not None
        notice = not job.validation.passed
        sealed = []
        for recipient in self.recipients:
            report_id = report_id_for(job.job_id, recipient)
            payload = ReportPayload(
                report_id=report_id,
                recipient_id=recipient,
                study_pseudonym=job.study_pseudonym,
                accession_number=job.reidentification.accession_number,
                study_date=job.reidentification.study_date,
                findings="" if notice else job.report.findings,
                impression="" if notice else job.report.impression,
                bundle_id=job.bundle_id,
                created_at=utc_now(),
                kind="withheld-notice" if notice else "report",
                reason_codes=job.validation.codes,
                indication=indication_use(job.prompt, job.indication_codes),
                indication_codes=job.indication_codes,
            )
            envelope = seal(payload, recipient, self.public_keys[recipient], self.signing_key, self.key_id)
            sealed.append(SealedReport(report_id, recipient, envelope))
        return replace(job, sealed=tuple(sealed))


@dataclass
class DeliverStage:
    """Puts each sealed report into the envelope store that gRPC serves (idempotent by report id).

    When the validator refused the draft, what was delivered are its notices: the job then ends
    withheld, at the validate stage, with the validator's codes and reason.

    Reads: sealed, validation. Writes: nothing.
    """

    store: EnvelopeStore
    name: str = "deliver"
    reads: ClassVar[frozenset[str]] = frozenset({"sealed", "validation"})
    writes: ClassVar[frozenset[str]] = frozenset()

    def __call__(self, job: Job) -> Job:
        assert job.validation is not None  # the runner checked `reads`
        what = "report" if job.validation.passed else "withheld notice"
        for item in job.sealed:
            stored = self.store.put(item.envelope)
            log.info(
                "job %s: %s %s for %s %s",
                job.job_id,
                what,
                item.report_id,
                item.recipient_id,
                "delivered" if stored else "was already delivered",
            )
        if not job.validation.passed:
            raise Withheld(job.validation.reason, job, codes=job.validation.codes, stage="validate")
        return job
