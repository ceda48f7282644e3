"""EnvelopeStore: real SQLite files, real threads and a real second process."""

from __future__ import annotations

import dataclasses
import os
import sqlite3
import stat
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.delivery.codec import decode_envelope, encode_envelope
from appliance.delivery.errors import ReportNotFound, StoreConflict, StoreError
from appliance.delivery.store import EnvelopeStore
from appliance.envelope import MalformedEnvelope

from .conftest import SECRET_ACCESSION, SECRET_FINDINGS

ROOT = Path(__file__).resolve().parents[3]


def test_put_get_list_ack(store, make_envelope):
    _, one = make_envelope("dr-a")
    _, two = make_envelope("dr-a")
    assert store.put(one) and store.put(two)
    assert store.get("dr-a", one.report_id).envelope == one
    assert [s.envelope for s in store.list_for("dr-a")] == [one, two]
    acked = store.ack("dr-a", one.report_id)
    assert acked.acked and acked.envelope == one
    assert [s.envelope for s in store.list_for("dr-a")] == [two]
    assert [s.envelope for s in store.list_for("dr-a", include_acked=True)] == [one, two]


def test_put_is_idempotent_by_recipient_and_report(store, make_envelope, keys):
    payload, first = make_envelope("dr-a", report_id="rep-same")
    _, resealed = make_envelope("dr-a", report_id="rep-same", study_pseudonym=payload.study_pseudonym)
    assert first.ciphertext != resealed.ciphertext
    assert store.put(first) is True
    assert store.put(resealed) is False
    assert store.get("dr-a", "rep-same").envelope == first
    # the same report may go to another clinician
    _, for_b = make_envelope("dr-b", report_id="rep-same")
    assert store.put(for_b) is True
    assert len(store.list_for("dr-a")) == 1 and len(store.list_for("dr-b")) == 1


def test_report_id_reused_for_another_study_conflicts(store, make_envelope):
    _, first = make_envelope("dr-a", report_id="rep-x")
    _, other_study = make_envelope("dr-a", report_id="rep-x")  # fresh pseudonym
    store.put(first)
    with pytest.raises(StoreConflict):
        store.put(other_study)
    assert store.get("dr-a", "rep-x").envelope == first


def test_other_recipients_reports_are_not_found(store, make_envelope):
    _, for_a = make_envelope("dr-a")
    store.put(for_a)
    assert store.list_for("dr-b", include_acked=True) == []
    with pytest.raises(ReportNotFound):
        store.get("dr-b", for_a.report_id)
    with pytest.raises(ReportNotFound):
        store.ack("dr-b", for_a.report_id)
    with pytest.raises(ReportNotFound):
        store.get("dr-a", "rep-does-not-exist")
    assert not store.get("dr-a", for_a.report_id).acked


def test_ack_is_idempotent_and_keeps_first_time(store, make_envelope):
    _, env = make_envelope("dr-a")
    store.put(env)
    first = store.ack("dr-a", env.report_id).acked_at
    time.sleep(0.01)
    assert store.ack("dr-a", env.report_id).acked_at == first


def test_pagination_by_sequence(store, make_envelope):
    envs = [make_envelope("dr-a")[1] for _ in range(5)]
    for env in envs:
        store.put(env)
    page1 = store.list_for("dr-a", limit=2)
    page2 = store.list_for("dr-a", after_sequence=page1[-1].sequence, limit=2)
    page3 = store.list_for("dr-a", after_sequence=page2[-1].sequence, limit=2)
    assert [s.envelope for s in page1 + page2 + page3] == envs


def test_put_rejects_malformed_envelope(store, make_envelope):
    _, env = make_envelope("dr-a")
    with pytest.raises(MalformedEnvelope):
        store.put(dataclasses.replace(env, recipient_id=""))


def test_durable_wal_private_file(tmp_path, make_envelope):
    path = tmp_path / "env.db"
    _, env = make_envelope("dr-a")
    with EnvelopeStore(path) as s:
        s.put(env)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    with EnvelopeStore(path) as s:
        assert s.get("dr-a", env.report_id).envelope == env
    db = sqlite3.connect(path)
    assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    db.close()


def test_plaintext_never_stored(tmp_path, make_envelope):
    path = tmp_path / "env.db"
    s = EnvelopeStore(path)
    for _ in range(3):
        s.put(make_envelope("dr-a")[1])
    raw = b"".join(p.read_bytes() for p in tmp_path.iterdir() if p.name.startswith("env.db"))
    s.close()
    assert SECRET_FINDINGS.encode() not in raw and SECRET_ACCESSION.encode() not in raw


def test_closed_store_refuses(tmp_path, make_envelope):
    s = EnvelopeStore(tmp_path / "env.db")
    s.close()
    with pytest.raises(StoreError):
        s.put(make_envelope("dr-a")[1])


def test_unopenable_path_is_store_error(tmp_path):
    with pytest.raises(StoreError):
        EnvelopeStore(tmp_path / "missing-dir" / "env.db")


def test_wait_for_new_wakes_on_put_from_thread(store, make_envelope):
    base = store.latest_sequence()
    _, env = make_envelope("dr-a")
    timer = threading.Timer(0.2, store.put, args=(env,))
    timer.start()
    t0 = time.monotonic()
    assert store.wait_for_new(base, timeout=5.0)
    assert time.monotonic() - t0 < 2.0
    assert not store.wait_for_new(store.latest_sequence(), timeout=0.1)


def test_wait_for_new_sees_put_from_other_process(store, make_envelope, tmp_path):
    _, env = make_envelope("dr-a")
    blob = tmp_path / "env.bin"
    blob.write_bytes(encode_envelope(env))
    code = (
        "import sys; from appliance.delivery.store import EnvelopeStore; "
        "from appliance.delivery.codec import decode_envelope; "
        "s = EnvelopeStore(sys.argv[1]); "
        "print(s.put(decode_envelope(open(sys.argv[2], 'rb').read())))"
    )
    base = store.latest_sequence()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, str(store.path), str(blob)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        assert store.wait_for_new(base, timeout=20.0)
        assert store.get("dr-a", env.report_id).envelope == env
    finally:
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0, err.decode()
    assert out.strip() == b"True"


@settings(max_examples=15, deadline=None)
@given(ops=st.lists(st.tuples(st.sampled_from(["dr-a", "dr-b"]), st.integers(0, 5)), max_size=12))
def test_list_matches_first_put_per_recipient_and_id(make_envelope, ops):
    with tempfile.TemporaryDirectory() as tmp:
        with EnvelopeStore(Path(tmp) / "env.db") as s:
            expected: dict[str, list] = {"dr-a": [], "dr-b": []}
            seen: dict[tuple[str, int], object] = {}
            for recipient, n in ops:
                payload, env = make_envelope(recipient, report_id=f"rep-{n}", study_pseudonym=f"PSN-{n}")
                inserted = s.put(env)
                assert inserted == ((recipient, n) not in seen)
                if inserted:
                    seen[(recipient, n)] = env
                    expected[recipient].append(env)
            for recipient, envs in expected.items():
                assert [x.envelope for x in s.list_for(recipient)] == envs


def test_codec_round_trip_and_garbage(make_envelope):
    _, env = make_envelope("dr-a")
    assert decode_envelope(encode_envelope(env)) == env
    with pytest.raises(MalformedEnvelope):
        decode_envelope(b"\xff\xff\xff")
