"""`appliance.doctor`: a state directory built with the real stores (Spool, JobStore, EnvelopeStore,
MappingStore) is consistent; each case breaks one invariant and the doctor names exactly that rule."""

from __future__ import annotations

import json
import sqlite3
import struct
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path

import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, generate_uid

from appliance.delivery.store import EnvelopeStore
from appliance.doctor import ERROR, WARNING, check_state, ref
from appliance.envelope import ReportPayload, generate_ecies_keypair, generate_signing_key, seal, utc_now
from appliance.jobs import JobStore
from appliance.pipeline import Outcome
from appliance.stages import report_id_for
from common.errors import ExitCode
from deid.mapping import MappingStore, ReidentificationRecord
from dicom_listener import Spool, parse_identity

CR = "1.2.840.10008.5.1.4.1.1.1"
ACCESSION = "ACC-DOC-SECRET77"
SIGNING = generate_signing_key()
DR_A = generate_ecies_keypair()


def _instance(study: str) -> tuple[bytes, FileMetaDataset, str]:
    ds = Dataset()
    ds.SOPClassUID, ds.SOPInstanceUID, ds.StudyInstanceUID = CR, generate_uid(), study
    ds.AccessionNumber, ds.Modality = ACCESSION, "CR"
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    (group_length,) = struct.unpack("<I", data[140:144])
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return data[144 + group_length :], meta, str(ds.SOPInstanceUID)


@dataclass
class State:
    """A consistent state: study A delivered, B claimed and queued, C in incoming."""

    root: Path
    studies: dict[str, str]  # label -> study uid
    jobs: dict[str, str]  # label -> job id
    pseudonym: str

    def spool(self) -> Spool:
        return Spool(self.root / "spool", quiet_period_s=0.0)

    def store_instance(self, spool: Spool, study: str) -> str:
        data, meta, sop = _instance(study)
        spool.store(data, meta, parse_identity(data, ExplicitVRLittleEndian), "DEVPACS")
        return sop

    def put_envelope(self, report_id: str, pseudonym: str, *, reidentify: bool = True) -> None:
        payload = ReportPayload(
            report_id=report_id,
            recipient_id="dr-a",
            study_pseudonym=pseudonym,
            accession_number=ACCESSION,
            study_date="20240131",
            findings="F",
            impression="I",
            bundle_id="test",
            created_at=utc_now(),
        )
        with EnvelopeStore(self.root / "envelopes.sqlite3") as envelopes:
            envelopes.put(seal(payload, "dr-a", DR_A.public_key, SIGNING, "k1"))
        if reidentify:
            with MappingStore(self.root / "reidentification.sqlite3", b"k" * 32) as mapping:
                mapping.put(
                    ReidentificationRecord(
                        pseudonym, generate_uid(), generate_uid(), generate_uid(), None, "", "", "", "", "", "", ""
                    )
                )

    def db(self, name: str) -> sqlite3.Connection:
        return sqlite3.connect(self.root / name, isolation_level=None)

    def job_files(self, label: str) -> list[str]:
        with self.db("jobs.sqlite3") as db:
            return json.loads(db.execute("SELECT files FROM jobs WHERE job_id = ?", (self.jobs[label],)).fetchone()[0])

    def add_job(self, files: list[str], state: str, report_ids: tuple[str, ...] = ()) -> str:
        job_id = str(uuid.uuid4())
        with self.db("jobs.sqlite3") as db:
            db.execute(
                "INSERT INTO jobs (job_id, study_uid, files, state, report_ids, created_at, updated_at) "
                "VALUES (?, ?, ?, ?, ?, 0, 0)",
                (job_id, self.studies["A"], json.dumps(files), state, json.dumps(list(report_ids))),
            )
        return job_id


@pytest.fixture
def state(tmp_path: Path) -> State:
    root = tmp_path / "state"
    root.mkdir(mode=0o700)
    studies = {label: str(generate_uid()) for label in "ABC"}
    st = State(root, studies, {}, "PSN-DOCTOR-A")
    jobs = JobStore(root / "jobs.sqlite3")
    with st.spool() as spool:
        for label in "ABC":
            st.store_instance(spool, studies[label])
        for label in "AB":
            claimed = spool.claim(studies[label])
            st.jobs[label] = jobs.enqueue(claimed.study_uid, list(claimed.paths), claimed.calling_aet) or ""
        record = jobs.claim_next()
        assert record is not None and record.job_id == st.jobs["A"]
        report_id = report_id_for(record.job_id, "dr-a")
        st.put_envelope(report_id, st.pseudonym)
        jobs.finish(record.job_id, Outcome.DELIVERED, stage="deliver", report_ids=(report_id,))
        spool.complete(studies["A"])
    jobs.close()
    return st


def test_a_state_built_by_the_real_stores_is_consistent(state: State) -> None:
    report = check_state(state.root)
    assert report.consistent and report.exit_code == ExitCode.OK
    assert report.problems == [], report.summary()
    assert not report.service_running
    assert report.totals == {
        "jobs": 2,
        "jobs_finished": 1,
        "envelopes": 1,
        "indexed": 3,
        "incoming": 1,
        "claimed": 1,
        "quarantined": 0,
        "databases": 4,
    }
    assert "consistent: 16 of 16 checks clean" in report.summary()


# ---- the ways to break it: (rule, severity, breaker) ---------------------------------------------------


def _lose_incoming_file(st: State) -> None:
    (path,) = (st.root / "spool" / "incoming" / st.studies["C"]).iterdir()
    path.unlink()


def _lose_claimed_file(st: State) -> None:
    (path,) = (st.root / "spool" / "claimed" / st.studies["B"]).iterdir()
    path.unlink()


def _drop_envelope(st: State) -> None:
    with st.db("envelopes.sqlite3") as db:
        db.execute("DELETE FROM envelopes")


def _stray_envelope(st: State) -> None:
    st.put_envelope(str(uuid.uuid4()), "PSN-DOCTOR-STRAY")


def _envelope_before_finish(st: State) -> None:
    st.put_envelope(report_id_for(st.jobs["B"], "dr-a"), "PSN-DOCTOR-B")


def _second_report_from_the_same_instances(st: State) -> None:
    report_id = str(uuid.uuid4())
    st.add_job(st.job_files("A"), "delivered", (report_id,))
    st.put_envelope(report_id, st.pseudonym)


def _instance_in_a_second_job(st: State) -> None:
    st.add_job(st.job_files("A"), "withheld")


def _forget_reidentification(st: State) -> None:
    with st.db("reidentification.sqlite3") as db:
        db.execute("DELETE FROM records")


def _private(path: Path, data: bytes) -> None:
    path.write_bytes(data)
    path.chmod(0o600)


def _reason_without_payload(st: State) -> None:
    _private(st.root / "spool" / "quarantine" / "20240101T000000Z-abc.reason.json", b'{"reason": "x"}')


def _payload_without_reason(st: State) -> None:
    _private(st.root / "spool" / "quarantine" / "20240101T000000Z-abd.dcm", b"\0" * 10)


def _job_left_running(st: State) -> None:
    jobs = JobStore(st.root / "jobs.sqlite3")
    assert jobs.claim_next() is not None
    jobs.close()


def _finished_but_not_retired(st: State) -> None:
    jobs = JobStore(st.root / "jobs.sqlite3")
    jobs.finish(st.jobs["B"], Outcome.WITHHELD, stage="classify", reason="unsupported")
    jobs.close()


def _claimed_but_not_queued(st: State) -> None:
    with st.spool() as spool:
        spool.claim(st.studies["C"])


def _file_not_yet_indexed(st: State) -> None:
    data, meta, sop = _instance(st.studies["C"])
    folder = st.root / "spool" / "incoming" / st.studies["C"]
    _private(folder / f"{sop}.dcm", b"\0" * 128 + b"DICM" + data)


def _readable_by_others(st: State) -> None:
    (st.root / "jobs.sqlite3").chmod(0o644)


def _corrupt_index(st: State) -> None:
    path = st.root / "spool" / "index.sqlite3"
    data = bytearray(path.read_bytes())
    page = 4096
    assert len(data) >= 2 * page
    data[page : 2 * page] = b"\xa5" * page  # the table's b-tree page
    path.write_bytes(bytes(data))


CASES: list[tuple[str, str, Callable[[State], None], set[str]]] = [
    # (rule named, its severity, how to break it, other rules that follow from the same break)
    ("lost-instance", ERROR, _lose_incoming_file, set()),
    ("unfinished-job-files-missing", ERROR, _lose_claimed_file, set()),
    ("delivered-envelope-missing", ERROR, _drop_envelope, set()),
    ("envelope-without-delivered-job", ERROR, _stray_envelope, set()),
    ("duplicate-report", ERROR, _second_report_from_the_same_instances, {"instance-in-two-jobs"}),
    ("instance-in-two-jobs", ERROR, _instance_in_a_second_job, set()),
    ("envelope-without-reidentification", ERROR, _forget_reidentification, set()),
    ("quarantine-reason-invalid", ERROR, _reason_without_payload, set()),
    ("file-mode", ERROR, _readable_by_others, set()),
    ("database-integrity", ERROR, _corrupt_index, {"unindexed-spool-file", "lost-instance"}),
    ("envelope-awaiting-job", WARNING, _envelope_before_finish, set()),
    ("quarantine-without-reason", WARNING, _payload_without_reason, set()),
    ("jobs-left-running", WARNING, _job_left_running, set()),
    ("finished-job-files-present", WARNING, _finished_but_not_retired, set()),
    ("claimed-batch-without-job", WARNING, _claimed_but_not_queued, set()),
    ("unindexed-spool-file", WARNING, _file_not_yet_indexed, set()),
]


@pytest.mark.parametrize(("rule", "severity", "breaker", "also"), CASES, ids=[c[0] for c in CASES])
def test_the_doctor_names_the_broken_invariant(
    state: State, rule: str, severity: str, breaker: Callable[[State], None], also: set[str]
) -> None:
    breaker(state)
    report = check_state(state.root)
    named = {f.name: f for f in report.problems}
    assert rule in named, report.summary()
    assert named[rule].severity == severity and named[rule].count >= 1
    assert set(named) - {rule} <= also, report.summary()
    assert report.exit_code == (ExitCode.DATAERR if severity == ERROR else ExitCode.OK)
    # Examples and the summary never carry original UIDs or patient data.
    text = report.summary() + json.dumps(report.to_dict())
    assert ACCESSION not in text
    assert not any(uid in text for uid in state.studies.values())


def test_examples_name_jobs_and_hashed_spool_uids(state: State) -> None:
    _lose_incoming_file(state)
    _job_left_running(state)
    named = {f.name: f for f in check_state(state.root).problems}
    assert named["jobs-left-running"].examples == (state.jobs["B"],)
    (lost,) = named["lost-instance"].examples
    assert lost.endswith(f"of study {ref(state.studies['C'])}") and lost.startswith("uid#")


def test_a_follow_up_batch_of_a_study_is_a_second_report_not_a_duplicate(state: State) -> None:
    with state.spool() as spool:
        sop = state.store_instance(spool, state.studies["A"])
        spool.complete(spool.claim(state.studies["A"]).study_uid)
    report_id = str(uuid.uuid4())
    path = state.root / "spool" / "claimed" / state.studies["A"] / f"{sop}.dcm"
    state.add_job([str(path)], "delivered", (report_id,))
    state.put_envelope(report_id, state.pseudonym)
    report = check_state(state.root)
    assert report.problems == [], report.summary()


def test_a_report_awaiting_its_job_beside_an_earlier_batch_is_no_duplicate(state: State) -> None:
    """A crash after delivering a follow-up batch, before its job was marked finished."""
    with state.spool() as spool:
        state.store_instance(spool, state.studies["A"])
        claimed = spool.claim(state.studies["A"])
    jobs = JobStore(state.root / "jobs.sqlite3")
    job_id = jobs.enqueue(claimed.study_uid, list(claimed.paths))
    jobs.close()
    assert job_id is not None
    state.put_envelope(report_id_for(job_id, "dr-a"), state.pseudonym)
    named = {f.name: f for f in check_state(state.root).problems}
    assert set(named) == {"envelope-awaiting-job"}, named


def test_while_the_service_runs_consistency_problems_are_only_warnings(state: State) -> None:
    _lose_incoming_file(state)
    with state.spool():  # a live Spool holds its scratch folder's flock, as the running service does
        report = check_state(state.root)
        assert report.service_running
        named = {f.name: f for f in report.problems}
        assert named["service-running"].severity == WARNING
        assert named["lost-instance"].severity == WARNING and report.exit_code == ExitCode.OK
        _readable_by_others(state)
        assert check_state(state.root).exit_code == ExitCode.DATAERR  # file modes are no race
    assert check_state(state.root).exit_code == ExitCode.DATAERR


def test_the_doctor_writes_nothing(state: State) -> None:
    _job_left_running(state)
    before = {p.relative_to(state.root): p.read_bytes() for p in state.root.rglob("*") if p.is_file()}
    check_state(state.root)
    after = {p.relative_to(state.root): p.read_bytes() for p in state.root.rglob("*") if p.is_file()}
    assert after == before  # no row, and after a clean stop no side file either


def test_a_missing_state_directory_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        check_state(tmp_path / "nothing")
