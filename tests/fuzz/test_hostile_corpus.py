"""The hostile corpus (tools/hostile_corpus.py) sent with DCMTK's storescu, one file per association, to
the real `securemed serve` (dev configuration); what storescu refuses to parse (truncated, wrong
lengths) is sent byte for byte with pynetdicom instead, so that it reaches the listener too: the service neither crashes nor hangs; every instance
it refuses is quarantined with its reason; every one it acknowledges ends as a job delivered, or
withheld or failed with a reason; a valid study sent afterwards is delivered."""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import time
from pathlib import Path

import pydicom
import pytest
from pydicom.filereader import read_file_meta_info

from tests.appliance.test_e2e import STORESCU, Running, install, start, write_study
from tools.hostile_corpus import write_corpus

pytestmark = [
    pytest.mark.dcmtk,
    pytest.mark.skipif(not Path(STORESCU).exists(), reason="DCMTK storescu is not installed (apt-get install dcmtk)"),
]


# storescu proposes uncompressed syntaxes only, unless told to propose the file's compressed one.
_PROPOSE = {
    "1.2.840.10008.1.2.4.50": "-xy",
    "1.2.840.10008.1.2.4.80": "-xt",
    "1.2.840.10008.1.2.4.90": "-xv",
    "1.2.840.10008.1.2.5": "-xr",
}


def _syntax(path: Path) -> str:
    try:
        return str(pydicom.dcmread(path, stop_before_pixels=True).file_meta.TransferSyntaxUID)
    except Exception:  # a hostile file: storescu finds out for itself
        return ""


def _send(running: Running, path: Path) -> str:
    """'accepted', 'refused' (a failure status) or 'unsent' (storescu could not read the file)."""
    propose = [_PROPOSE[s]] if (s := _syntax(path)) in _PROPOSE else []
    result = subprocess.run(
        [STORESCU, "-v", *propose, "-aet", "DEVPACS", "-aec", "SECUREMED", "127.0.0.1", str(running.dicom), str(path)],
        capture_output=True,
        text=True,
        errors="replace",  # storescu echoes raw bytes of broken files
        timeout=60,  # a hang is a failure
    )
    out = result.stdout + result.stderr
    if "Received Store Response (Success)" in out:
        return "accepted"
    if "Received Store Response" in out:
        return "refused"
    return _send_raw(running, path)


def _send_raw(running: Running, path: Path) -> str:
    """What storescu will not send (DCMTK refuses to parse it): the bytes after the file meta, as they
    are, with pynetdicom. 'unsent' when even the file meta is unreadable."""
    from pynetdicom import AE

    try:
        meta = read_file_meta_info(path)
        sop_class, syntax = str(meta.MediaStorageSOPClassUID), str(meta.TransferSyntaxUID)
    except Exception:
        return "unsent"
    ae = AE(ae_title="DEVPACS")
    ae.add_requested_context(sop_class, syntax)
    assoc = ae.associate("127.0.0.1", running.dicom, ae_title="SECUREMED")
    if not assoc.is_established:
        return "unsent"
    try:
        status = assoc.send_c_store(path)
    except Exception:
        return "unsent"
    finally:
        assoc.release()
    if not status or "Status" not in status:
        return "unsent"
    return "accepted" if status.Status == 0x0000 else "refused"


def _study_uid(path: Path, planned: str) -> str:
    """The Study Instance UID the file carries: a flipped bit may have changed the planned one."""
    try:
        return str(pydicom.dcmread(path, force=True, stop_before_pixels=True).StudyInstanceUID)
    except Exception:
        return planned


def _quarantined(running: Running) -> list[dict]:
    folder = running.directory / "state" / "spool" / "quarantine"
    return [json.loads(p.read_text()) for p in sorted(folder.glob("*.reason.json"))]


def _jobs(running: Running) -> list[tuple[str, str, str, str]]:
    with sqlite3.connect(running.directory / "state" / "jobs.sqlite3") as db:
        return db.execute("SELECT study_uid, state, stage, reason FROM jobs").fetchall()


def _survive(directory: Path, corpus: Path, *, full: bool) -> None:
    cases = write_corpus(corpus, seed=17, full=full)
    install(directory, quiet=0.5)
    running = start(directory)
    try:
        outcomes = {case.name: _send(running, corpus / case.file) for case in cases}
        assert running.proc.poll() is None, running.log()[-3000:]
        accepted = [c for c in cases if outcomes[c.name] == "accepted"]
        refused = [c for c in cases if outcomes[c.name] == "refused"]

        quarantined = _quarantined(running)
        assert len(quarantined) == len(refused), (outcomes, quarantined)
        assert all(q.get("reason") for q in quarantined), quarantined

        # Every acknowledged instance is its own study: each becomes exactly one job with an outcome.
        study_of = {c.name: _study_uid(corpus / c.file, c.study_uid) for c in accepted}
        studies = set(study_of.values())
        deadline = time.monotonic() + 60 + 2 * len(studies)
        while True:
            jobs = _jobs(running)
            done = {uid for uid, state, _, _ in jobs if state in ("delivered", "withheld", "failed")}
            if studies <= done:
                break
            assert running.proc.poll() is None, running.log()[-3000:]
            assert time.monotonic() < deadline, (sorted(studies - done), jobs, running.log()[-3000:])
            time.sleep(0.3)
        by_study = {uid: (state, stage, reason) for uid, state, stage, reason in jobs}
        for case in accepted:
            state, stage, reason = by_study[study_of[case.name]]
            assert state == "delivered" or reason, (case.name, state, stage)
            assert not reason.startswith("internal error"), (case.name, stage, reason)
        for name in ("bomb-jpegls", "bomb-jpeg", "bomb-second-frame"):
            case = next(c for c in cases if c.name == name)
            if outcomes[name] == "accepted":  # not refused by the listener: withheld at load
                assert by_study[study_of[name]][:2] == ("withheld", "load"), by_study[study_of[name]]
            else:
                assert outcomes[name] == "refused", outcomes[name]

        # Still serving: a valid study is delivered afterwards.
        path, _ = write_study(corpus, seed=4343)
        assert _send(running, path) == "accepted"
        running.wait_reports("dr-a", 1, timeout=120)
        assert running.proc.poll() is None
        for case in cases if not full else []:  # reasons are fixed texts: no patient data
            print(f"  {case.name}: {outcomes[case.name]} {by_study.get(study_of.get(case.name, ''), '')}")
        print(
            f"hostile corpus: {len(cases)} files, {len(accepted)} accepted, {len(refused)} refused and "
            f"quarantined, {len(cases) - len(accepted) - len(refused)} unsendable (file meta unreadable)"
        )
    finally:
        running.proc.send_signal(signal.SIGTERM)
        assert running.proc.wait(timeout=60) == 0, running.log()[-3000:]


def test_the_short_hostile_corpus_is_survived_with_every_instance_accounted_for(tmp_path: Path) -> None:
    _survive(tmp_path / "appliance", tmp_path / "corpus", full=False)


@pytest.mark.slow
def test_the_full_hostile_corpus_is_survived_with_every_instance_accounted_for(tmp_path: Path) -> None:
    _survive(tmp_path / "appliance", tmp_path / "corpus", full=True)
