"""The on-disk spool: durable store, duplicates, quiet period, claim/release/complete, recovery."""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pydicom import dcmread
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import generate_uid

from dicom_listener import (
    QuarantineRecord,
    Spool,
    SpoolWriteError,
    StoreOutcome,
    StoreResult,
    StudyAlreadyClaimed,
    StudyNotFound,
    parse_identity,
)

from .conftest import dataset_bytes, encode, make_cr

REPO_ROOT = Path(__file__).resolve().parents[2]


def _meta(ds: Dataset) -> FileMetaDataset:
    meta = FileMetaDataset()
    meta.TransferSyntaxUID = ds.file_meta.TransferSyntaxUID
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.10.1234"
    return meta


def put(spool: Spool, ds: Dataset, aet: str = "PACS", at: float | None = None) -> StoreResult:
    data = encode(ds)
    identity = parse_identity(data, ds.file_meta.TransferSyntaxUID)
    return spool.store(data, _meta(ds), identity, aet, received_at=at)


@pytest.fixture
def spool(tmp_path: Path) -> Spool:
    with Spool(tmp_path / "spool", quiet_period_s=10.0) as opened:
        yield opened


def _leftover_temp_files(root: Path) -> list[Path]:
    return [p for p in (root / "tmp").rglob("*") if p.is_file() and p.name != "owner.lock"]


def test_store_writes_part10_file_with_received_bytes(spool: Spool) -> None:
    ds = make_cr()
    result = put(spool, ds)
    expected = spool.root / "incoming" / ds.StudyInstanceUID / f"{ds.SOPInstanceUID}.dcm"
    assert result.outcome is StoreOutcome.STORED and result.path == expected
    assert dataset_bytes(expected) == encode(ds)
    stored = dcmread(expected)
    assert stored.file_meta.SourceApplicationEntityTitle == "PACS"
    assert stored.file_meta.MediaStorageSOPInstanceUID == ds.SOPInstanceUID
    assert stored.PixelData == ds.PixelData
    assert spool.contains(ds.SOPInstanceUID)
    assert _leftover_temp_files(spool.root) == []
    assert stat.S_IMODE(expected.stat().st_mode) == 0o600
    assert {stat.S_IMODE(d.stat().st_mode) for d in (spool.root, expected.parent, spool.root / "incoming")} == {0o700}


def test_a_laxer_spool_is_narrowed_when_opened(tmp_path: Path) -> None:
    for name in ("", "incoming", "claimed", "quarantine", "tmp"):
        (tmp_path / "s" / name).mkdir(mode=0o755, parents=True, exist_ok=True)
        (tmp_path / "s" / name).chmod(0o755)
    with Spool(tmp_path / "s", quiet_period_s=0):
        modes = {stat.S_IMODE((tmp_path / "s" / n).stat().st_mode) for n in ("", "incoming", "claimed", "quarantine")}
    assert modes == {0o700}


def test_index_files_are_private_and_in_wal_mode(spool: Spool) -> None:
    """The index holds original UIDs: index.sqlite3 and its -wal/-shm files are mode 0600."""
    put(spool, make_cr())
    names = ("index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm")
    assert {name: stat.S_IMODE((spool.root / name).stat().st_mode) for name in names} == dict.fromkeys(names, 0o600)
    db = sqlite3.connect(spool.root / "index.sqlite3")
    try:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    finally:
        db.close()


def test_duplicate_is_stored_once_even_after_claim_and_complete(spool: Spool) -> None:
    ds = make_cr()
    assert put(spool, ds).outcome is StoreOutcome.STORED
    assert put(spool, ds).outcome is StoreOutcome.DUPLICATE
    assert len(list((spool.root / "incoming").rglob("*.dcm"))) == 1

    spool.claim(ds.StudyInstanceUID)
    assert put(spool, ds).outcome is StoreOutcome.DUPLICATE
    assert not (spool.root / "incoming" / ds.StudyInstanceUID).exists()

    spool.complete(ds.StudyInstanceUID)
    assert put(spool, ds).outcome is StoreOutcome.DUPLICATE
    assert list(spool.root.glob("*/*/*.dcm")) == []

    # Only an explicit prune forgets it; then a resend is new data.
    assert spool.prune_index(time.time() + 1) == 1
    assert put(spool, ds).outcome is StoreOutcome.STORED


def test_concurrent_stores_of_one_instance_store_it_once(spool: Spool) -> None:
    ds = make_cr()
    results: list[StoreResult] = []
    barrier = threading.Barrier(6)

    def send() -> None:
        barrier.wait()
        results.append(put(spool, ds))

    threads = [threading.Thread(target=send) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(r.outcome.value for r in results) == ["duplicate"] * 5 + ["stored"]
    assert len(list((spool.root / "incoming").rglob("*.dcm"))) == 1
    assert _leftover_temp_files(spool.root) == []


def test_ready_studies_respects_quiet_period(spool: Spool) -> None:
    t0 = 1_700_000_000.0
    study = generate_uid()
    first, second = make_cr(study), make_cr(study)
    other = make_cr()
    put(spool, first, aet="MODALITY", at=t0)
    put(spool, second, aet="PACS", at=t0 + 5)
    put(spool, other, at=t0 + 20)

    assert spool.ready_studies(t0 + 14.9) == []
    ready = spool.ready_studies(t0 + 15.5)
    assert [r.study_uid for r in ready] == [study]
    assert ready[0].first_received == t0 and ready[0].last_received == t0 + 5
    assert ready[0].calling_aet == "MODALITY"
    assert {p.name for p in ready[0].paths} == {
        f"{first.SOPInstanceUID}.dcm",
        f"{second.SOPInstanceUID}.dcm",
    }
    assert [r.study_uid for r in spool.ready_studies(t0 + 31)] == [study, other.StudyInstanceUID]


def test_claim_moves_the_folder_and_late_instances_form_a_new_batch(spool: Spool) -> None:
    t0 = time.time() - 100
    study = generate_uid()
    early = [make_cr(study) for _ in range(2)]
    for ds in early:
        put(spool, ds, at=t0)

    claimed = spool.claim(study)
    assert claimed.directory == spool.root / "claimed" / study
    assert sorted(p.name for p in claimed.paths) == sorted(f"{d.SOPInstanceUID}.dcm" for d in early)
    assert all(p.is_file() for p in claimed.paths)
    assert not (spool.root / "incoming" / study).exists()
    assert spool.ready_studies(time.time()) == []
    with pytest.raises(StudyAlreadyClaimed):
        spool.claim(study)
    with pytest.raises(StudyNotFound):
        spool.claim(generate_uid())

    late = make_cr(study)
    put(spool, late, at=t0 + 1)
    assert spool.ready_studies(time.time()) == []  # held back while the first batch is claimed
    with pytest.raises(StudyAlreadyClaimed):
        spool.claim(study)

    spool.complete(study)
    assert not claimed.directory.exists()
    ready = spool.ready_studies(time.time())
    assert [r.paths for r in ready] == [(spool.root / "incoming" / study / f"{late.SOPInstanceUID}.dcm",)]
    assert spool.claim(study).paths[0].name == f"{late.SOPInstanceUID}.dcm"


def test_release_returns_and_merges(spool: Spool) -> None:
    study = generate_uid()
    first = make_cr(study)
    put(spool, first, at=1.0)
    spool.claim(study)
    late = make_cr(study)
    put(spool, late, at=2.0)
    spool.release(study)
    names = {p.name for p in (spool.root / "incoming" / study).iterdir()}
    assert names == {f"{first.SOPInstanceUID}.dcm", f"{late.SOPInstanceUID}.dcm"}
    assert not (spool.root / "claimed" / study).exists()
    with pytest.raises(StudyNotFound):
        spool.release(study)
    with pytest.raises(StudyNotFound):
        spool.complete(study)
    with pytest.raises(StudyNotFound):
        spool.claim("../etc")


def test_restart_recovers_everything_from_disk(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    waiting, taken = make_cr(), make_cr()
    with Spool(root, quiet_period_s=1.0) as before:
        put(before, waiting, aet="MOD_A", at=100.0)
        put(before, taken, aet="MOD_B", at=200.0)
        before.claim(taken.StudyInstanceUID)

    with Spool(root, quiet_period_s=1.0) as after:
        ready = after.ready_studies(now=1000.0)
        assert [(r.study_uid, r.first_received, r.calling_aet) for r in ready] == [
            (waiting.StudyInstanceUID, 100.0, "MOD_A")
        ]
        claimed = after.claimed_studies()
        assert [(c.study_uid, c.calling_aet) for c in claimed] == [(taken.StudyInstanceUID, "MOD_B")]
        assert put(after, taken).outcome is StoreOutcome.DUPLICATE
        assert put(after, waiting).outcome is StoreOutcome.DUPLICATE


def test_index_is_rebuilt_when_lost(tmp_path: Path) -> None:
    root = tmp_path / "spool"
    ds = make_cr()
    with Spool(root) as first:
        put(first, ds, aet="PACS")
    for name in ("index.sqlite3", "index.sqlite3-wal", "index.sqlite3-shm"):
        (root / name).unlink(missing_ok=True)
    with Spool(root) as second:
        assert second.contains(ds.SOPInstanceUID)
        assert second.ready_studies(time.time() + 60)[0].calling_aet == "PACS"


_CRASH_SCRIPT = """
import os, sys
from pathlib import Path
from pydicom import dcmread
from pydicom.dataset import FileMetaDataset
from dicom_listener import spool as spool_module
from dicom_listener.identity import parse_identity
from dicom_listener.spool.index import SpoolIndex

root, source, point = Path(sys.argv[1]), Path(sys.argv[2]), sys.argv[3]
owner = SpoolIndex if point == "insert" else spool_module.Spool
real = getattr(owner, point)

def crash_after(*args, **kwargs):
    real(*args, **kwargs)
    os._exit(17)  # die right after this step, without closing anything, like a killed process

setattr(owner, point, crash_after)
raw = source.read_bytes()
data = raw[144 + int.from_bytes(raw[140:144], "little"):]
meta = FileMetaDataset()
meta.TransferSyntaxUID = dcmread(source).file_meta.TransferSyntaxUID
meta.ImplementationClassUID = "1.2.826.0.1.3680043.10.1234"
spool_module.Spool(root).store(data, meta, parse_identity(data, meta.TransferSyntaxUID), "PACS")
sys.exit("store() returned: the crash point was never reached")
"""


def _crash_while_storing(root: Path, ds: Dataset, point: str, tmp_path: Path) -> None:
    """Run the real Spool.store() in a child process that dies right after step `point`."""
    source = tmp_path / "crash-source.dcm"
    ds.save_as(source, enforce_file_format=True)
    path = os.pathsep.join([str(REPO_ROOT), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", _CRASH_SCRIPT, str(root), str(source), point],
        env=dict(os.environ, PYTHONPATH=path),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 17, done.stderr


@pytest.mark.parametrize(
    ("point", "files_after_crash", "indexed_after_restart", "retry"),
    [
        # 1. temp file written and fsynced, not yet renamed
        ("_stage", 0, False, StoreOutcome.STORED),
        # 2. renamed into incoming/, not yet indexed
        ("_publish", 1, True, StoreOutcome.DUPLICATE),
        # 3. indexed, Success not yet sent
        ("insert", 1, True, StoreOutcome.DUPLICATE),
    ],
)
def test_crash_at_each_store_step_loses_nothing_and_duplicates_nothing(
    tmp_path: Path,
    point: str,
    files_after_crash: int,
    indexed_after_restart: bool,
    retry: StoreOutcome,
) -> None:
    root = tmp_path / "spool"
    Spool(root).close()
    ds = make_cr()
    _crash_while_storing(root, ds, point, tmp_path)
    assert len(list(root.glob("incoming/*/*.dcm"))) == files_after_crash

    with Spool(root) as restarted:
        assert _leftover_temp_files(root) == []  # the dead writer's partial file is gone
        assert restarted.contains(ds.SOPInstanceUID) is indexed_after_restart
        ready = restarted.ready_studies(time.time() + 60)
        assert [len(r.paths) for r in ready] == [files_after_crash] * bool(files_after_crash)
        if ready:
            assert ready[0].calling_aet == "PACS"
        # Success was never sent, so the sender retries; the instance ends up stored exactly once.
        assert put(restarted, ds).outcome is retry
        assert len(list(root.glob("incoming/*/*.dcm"))) == 1


def test_write_failure_raises_and_keeps_nothing(spool: Spool) -> None:
    incoming = spool.root / "incoming"
    shutil.rmtree(incoming)
    incoming.write_bytes(b"")  # a file where a folder must be: even root cannot write below it
    ds = make_cr()
    with pytest.raises(SpoolWriteError):
        put(spool, ds)
    assert not spool.contains(ds.SOPInstanceUID)
    assert _leftover_temp_files(spool.root) == []

    incoming.unlink()
    incoming.mkdir()
    assert put(spool, ds).outcome is StoreOutcome.STORED


def test_second_spool_on_same_root_keeps_the_first_ones_temp_folder(spool: Spool) -> None:
    with Spool(spool.root):
        owners = list((spool.root / "tmp").iterdir())
        assert len(owners) == 2
        assert put(spool, make_cr()).outcome is StoreOutcome.STORED


def test_quarantine_keeps_payload_and_reason_without_patient_data(spool: Spool) -> None:
    record = QuarantineRecord(
        reason="value overruns the data",
        error="MalformedDataset",
        calling_aet="PACS",
        peer_host="127.0.0.1",
        peer_port=4242,
        received_at=1_700_000_000.0,
        dimse_status=0xC000,
        affected_sop_instance_uid="1.2.3",
    )
    payload = b"Synthetic^Test garbage"
    path = spool.quarantine((b"head", payload), record)
    assert path.parent == spool.root / "quarantine"
    assert path.read_bytes() == b"head" + payload
    reason_file = path.with_name(path.name[: -len(".dcm")] + ".reason.json")
    reason = json.loads(reason_file.read_text())
    assert reason["reason"] == "value overruns the data"
    assert reason["calling_aet"] == "PACS" and reason["peer_host"] == "127.0.0.1"
    assert reason["dimse_status"] == "0xC000"
    assert reason["received_at_utc"] == "2023-11-14T22:13:20Z"
    assert "Synthetic" not in reason_file.read_text()
    assert _leftover_temp_files(spool.root) == []
    # Quarantined bytes are patient data in clear: only the service user may read them.
    assert stat.S_IMODE(path.stat().st_mode) == stat.S_IMODE(reason_file.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
