"""Every stage keeps its declared contract: the fields its docstring names are the fields it declares,
and, run for real on a phantom study, the fields it reads and writes are within that declaration."""

from __future__ import annotations

import re
import sys
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from appliance.delivery.store import EnvelopeStore
from appliance.envelope import generate_ecies_keypair, generate_signing_key, key_id_for
from appliance.pipeline import (
    JOB_FIELDS,
    ContractViolation,
    Job,
    Outcome,
    Stage,
    Withheld,
    is_set,
    run_pipeline,
    run_stage,
)
from appliance.stages import (
    AnonymizeStage,
    ClassifyStage,
    DeliverStage,
    EncryptStage,
    GenerateStage,
    LoadStage,
    ScreenStage,
    ValidateStage,
)
from deid import DeidOptions, DeidTool
from ids.injection import InjectionDetector
from ids.report import ReportValidator
from runtime.bundle import ModelBundle
from runtime.generator import ReportGenerator
from tests.conftest import DEMO_BUNDLE

STAGE_CLASSES = (
    LoadStage,
    ClassifyStage,
    AnonymizeStage,
    ScreenStage,
    GenerateStage,
    ValidateStage,
    EncryptStage,
    DeliverStage,
)
_READS: list[str] = []


class TracingJob(Job):
    """A Job that records which fields are read, except the copies dataclasses.replace makes."""

    def __getattribute__(self, name: str) -> object:
        if name in JOB_FIELDS and sys._getframe(1).f_code.co_name != "replace":
            _READS.append(name)
        return object.__getattribute__(self, name)


def _declared(doc: str, word: str) -> frozenset[str]:
    match = re.search(rf"{word}: ([a-z_, ]+)\.", " ".join(doc.split()))
    assert match, f"docstring has no '{word}: ...' line"
    names = match.group(1).strip()
    return frozenset() if names == "nothing" else frozenset(n.strip() for n in names.split(","))


@pytest.mark.parametrize("stage", STAGE_CLASSES, ids=lambda c: c.__name__)
def test_docstring_names_the_declared_fields(stage: type[Stage]) -> None:
    doc = stage.__doc__ or ""
    assert _declared(doc, "Reads") == stage.reads
    assert _declared(doc, "Writes") == stage.writes
    assert stage.reads <= JOB_FIELDS and stage.writes <= JOB_FIELDS
    assert not stage.writes & Job.QUEUE_FIELDS  # the queue's fields are never rewritten


@pytest.fixture(scope="module")
def stages(tmp_path_factory: pytest.TempPathFactory) -> Iterator[list[Stage]]:
    tmp = tmp_path_factory.mktemp("stages")
    generator = ReportGenerator(ModelBundle.open(DEMO_BUNDLE))
    pair = generate_ecies_keypair()
    signing = generate_signing_key()
    store = EnvelopeStore(tmp / "envelopes.sqlite3")
    yield [
        LoadStage(),
        ClassifyStage(),
        AnonymizeStage(DeidTool(DeidOptions(clean_descriptors=True), b"s" * 32)),  # cleans the indication
        ScreenStage(InjectionDetector()),
        GenerateStage(generator),
        ValidateStage(ReportValidator(), generator.bundle.manifest.validation),
        EncryptStage(("dr-a",), {"dr-a": pair.public_key}, signing, key_id_for(signing.public_key())),
        DeliverStage(store),
    ]
    store.close()


@pytest.fixture(scope="module")
def study(tmp_path_factory: pytest.TempPathFactory) -> TracingJob:
    from pydicom.dataset import Dataset

    from training.phantoms import make_phantom

    path = tmp_path_factory.mktemp("study") / "1.dcm"
    phantom = make_phantom(11)
    request = Dataset()
    request.ReasonForTheRequestedProcedure = "cough and fever for three days"
    phantom.dataset.RequestAttributesSequence = [request]
    phantom.dataset.save_as(path, enforce_file_format=True)
    return TracingJob(job_id="job-1", study_uid=str(phantom.dataset.StudyInstanceUID), files=(path,))


def test_each_stage_reads_and_writes_only_what_it_declares(stages: list[Stage], study: TracingJob) -> None:
    job: Job = study
    for stage in stages:
        _READS.clear()
        before = job
        try:
            job = stage(job)
        except Withheld as exc:  # the deliver stage, after delivering the notice of a refused draft
            assert stage.name == "deliver" and exc.job is not None and exc.codes, stage.name
            job = exc.job
        assert isinstance(job, TracingJob)
        read = set(_READS) - Job.QUEUE_FIELDS
        assert read == stage.reads - Job.QUEUE_FIELDS, (
            f"{stage.name} read {sorted(read)}, declares {sorted(stage.reads)}"
        )
        changed = {n for n in JOB_FIELDS if object.__getattribute__(before, n) is not object.__getattribute__(job, n)}
        assert changed <= stage.writes, f"{stage.name} wrote {sorted(changed - stage.writes)}"
        assert all(is_set(job, n) for n in stage.writes), stage.name
    assert len(job.sealed) == 1
    assert job.prompt == "cough and fever for three days" and job.indication_codes == ()


def test_runner_refuses_a_stage_whose_input_was_never_written(stages: list[Stage]) -> None:
    job = Job(job_id="j", study_uid="1.2", files=(Path("x.dcm"),))
    generate = next(stage for stage in stages if stage.name == "generate")
    with pytest.raises(ContractViolation, match="generate needs deidentified, prompt"):
        run_stage(generate, job)
    result = run_pipeline([generate], job)
    assert result.outcome is Outcome.FAILED and "ContractViolation" in result.reason


def test_runner_refuses_an_undeclared_write(stages: list[Stage]) -> None:
    class Sneaky:
        name = "sneaky"
        reads = frozenset({"files"})
        writes = frozenset({"bundle_id"})

        def __call__(self, job: Job) -> Job:
            return replace(job, bundle_id="b", study_pseudonym="p")

    with pytest.raises(ContractViolation, match="sneaky changed study_pseudonym"):
        run_stage(Sneaky(), Job(job_id="j", study_uid="1.2", files=(Path("x.dcm"),)))


def test_zero_length_pixel_data_is_withheld_with_its_reason(tmp_path: Path) -> None:
    """Not an internal error: the pixel cleaner refuses it, and the study is withheld saying why."""
    from training.phantoms import make_phantom

    ds = make_phantom(12).dataset
    ds.PixelData = b""
    path = tmp_path / "empty.dcm"
    ds.save_as(path, enforce_file_format=True)
    tool = DeidTool(DeidOptions(clean_pixel_data=True), b"s" * 32)
    job = Job(job_id="j", study_uid=str(ds.StudyInstanceUID), files=(path,))
    result = run_pipeline([LoadStage(), ClassifyStage(), AnonymizeStage(tool)], job)
    assert (result.outcome, result.stage) == (Outcome.WITHHELD, "anonymize")
    assert result.reason == "unsafe to de-identify: Pixel Data is shorter than the Image Pixel module declares"
