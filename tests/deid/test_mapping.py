"""Re-identification records and their encrypted store (real AES-256-GCM, real SQLite)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

import pytest

from deid import (
    Deidentifier,
    DeidOptions,
    KeyFileError,
    MappingStore,
    RecordDecryptionError,
    ReidentificationRecord,
    create_key_file,
    load_key,
)
from deid.testing import SECRET, make_image, planted_uid


def record_of(sop: int, patient_id: str = "PID-7731") -> ReidentificationRecord:
    ds = make_image(patient_id=patient_id, sop_uid=planted_uid(sop))
    return Deidentifier(DeidOptions(retain_long_modified_dates=True), SECRET).deidentify(ds).record


@pytest.fixture
def key_file(tmp_path: Path) -> Path:
    return create_key_file(tmp_path / "mapping.key")


def test_store_round_trip_and_lookups(tmp_path: Path, key_file: Path) -> None:
    a, b, c = record_of(1), record_of(2), record_of(3, patient_id="OTHER")
    with MappingStore.open(tmp_path / "map.sqlite", key_file) as store:
        for r in (a, b, c):
            store.put(r)
        store.put(a)  # storing the same instance again replaces it
        assert store.get(a.new_sop_instance_uid) == a
        assert store.get("2.25.1") is None
        assert sorted(store.find_by_study(a.new_study_instance_uid), key=lambda r: r.new_sop_instance_uid) == sorted(
            [a, b, c], key=lambda r: r.new_sop_instance_uid
        )
        assert store.find_by_pseudonym(a.pseudonym) == sorted([a, b], key=lambda r: r.new_sop_instance_uid)
    with MappingStore.open(tmp_path / "map.sqlite", key_file) as again:  # persisted
        assert again.get(c.new_sop_instance_uid) == c


def test_patient_data_is_not_readable_at_rest(tmp_path: Path, key_file: Path) -> None:
    path = tmp_path / "map.sqlite"
    with MappingStore.open(path, key_file) as store:
        store.put(record_of(1))
    raw = path.read_bytes()
    for needle in (b"PID-7731", b"Doe", b"ACC-55812", b"20240315", planted_uid(900002).encode()):
        assert needle not in raw
    assert os.stat(path).st_mode & 0o077 == 0


def test_wrong_key_and_tampering_are_detected(tmp_path: Path, key_file: Path) -> None:
    path = tmp_path / "map.sqlite"
    a, b = record_of(1), record_of(2)
    with MappingStore.open(path, key_file) as store:
        store.put(a)
        store.put(b)
    with MappingStore(path, os.urandom(32)) as wrong, pytest.raises(RecordDecryptionError):
        wrong.get(a.new_sop_instance_uid)
    db = sqlite3.connect(path)
    with db:  # swap two rows' ciphertexts: the associated data binds each to its UID
        rows = dict(db.execute("SELECT new_sop_instance_uid, ciphertext FROM records").fetchall())
        nonces = dict(db.execute("SELECT new_sop_instance_uid, nonce FROM records").fetchall())
        db.execute(
            "UPDATE records SET ciphertext = ?, nonce = ? WHERE new_sop_instance_uid = ?",
            (rows[b.new_sop_instance_uid], nonces[b.new_sop_instance_uid], a.new_sop_instance_uid),
        )
    db.close()
    with MappingStore.open(path, key_file) as store, pytest.raises(RecordDecryptionError):
        store.get(a.new_sop_instance_uid)


def test_key_file_formats_and_permissions(tmp_path: Path) -> None:
    key = os.urandom(32)
    for name, content in (
        ("raw", key),
        ("hex", key.hex().encode() + b"\n"),
        ("b64", __import__("base64").b64encode(key) + b"\n"),
    ):
        p = tmp_path / name
        p.write_bytes(content)
        p.chmod(0o600)
        assert load_key(p) == key
    loose = tmp_path / "loose"
    loose.write_bytes(key)
    loose.chmod(0o644)
    with pytest.raises(KeyFileError, match="chmod 600"):
        load_key(loose)
    short = tmp_path / "short"
    short.write_bytes(b"abcd")
    short.chmod(0o600)
    with pytest.raises(KeyFileError) as err:
        load_key(short)
    assert "abcd" not in str(err.value)
    with pytest.raises(KeyFileError):
        load_key(tmp_path / "missing")
    created = create_key_file(tmp_path / "new.key")
    assert created.stat().st_mode & 0o777 == 0o600 and len(load_key(created)) == 32
    with pytest.raises(KeyFileError):
        create_key_file(created)


def test_record_repr_hides_patient_data_and_json_round_trips() -> None:
    r = record_of(1)
    assert "PID-7731" not in repr(r) and "Doe" not in repr(r) and r.pseudonym in repr(r)
    assert ReidentificationRecord.from_json_bytes(r.to_json_bytes()) == r
    assert r.date_shift_days is not None and r.original_patient_name == "Doe^Jane"
