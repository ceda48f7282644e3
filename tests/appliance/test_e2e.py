"""End to end with real peers: DCMTK's storescu as the PACS, `securemed serve` as a process, the
`securemed client` command as the clinician, openssl as a TLS 1.2 peer. Uses the committed demo bundle.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import DEMO_BUNDLE, REPO
from training.phantoms import make_phantom

STORESCU = "/usr/bin/storescu"
pytestmark = [
    pytest.mark.dcmtk,
    pytest.mark.skipif(not Path(STORESCU).exists(), reason="DCMTK storescu is not installed (apt-get install dcmtk)"),
]
ENV = dict(os.environ, PYTHONUNBUFFERED="1")


def securemed(*args: str, timeout: float = 60, check: bool = False) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "cli", *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
        env=ENV,
        check=check,
    )


@dataclass
class Running:
    directory: Path
    proc: subprocess.Popen
    dicom: int
    grpc: int

    def client(self, who: str, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
        return securemed(
            "client",
            "--config",
            str(self.directory / f"{who}.toml"),
            "--target",
            f"localhost:{self.grpc}",
            *args,
            timeout=timeout,
        )

    def store(self, path: Path, aet: str = "DEVPACS") -> subprocess.CompletedProcess:
        return subprocess.run(
            [STORESCU, "-aet", aet, "-aec", "SECUREMED", "127.0.0.1", str(self.dicom), str(path)],
            capture_output=True,
            text=True,
            timeout=60,
        )

    def wait_reports(self, who: str, count: int, timeout: float = 120) -> list[dict]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            result = self.client(who, "list", "--json", "--all")
            if result.returncode == 0 and len(json.loads(result.stdout)) >= count:
                return json.loads(result.stdout)
            time.sleep(0.5)
        raise AssertionError(f"{who} did not receive {count} reports; log:\n{self.log()[-3000:]}")

    def log(self) -> str:
        return (self.directory / "appliance.log").read_text(errors="replace")


def install(directory: Path, quiet: float = 1.0) -> Path:
    assert (DEMO_BUNDLE / "manifest.json").exists(), "the demo bundle must be committed (make demo-model)"
    securemed(
        "init",
        "--dev",
        str(directory),
        "--dicom-port",
        "0",
        "--grpc-port",
        "0",
        "--bundle",
        str(DEMO_BUNDLE),
        check=True,
    )
    config = directory / "appliance.toml"
    config.write_text(config.read_text().replace("quiet_period_s = 2.0", f"quiet_period_s = {quiet}"))
    return config


def start(directory: Path) -> Running:
    ports_file = directory / "state" / "ports.json"
    ports_file.unlink(missing_ok=True)
    log = open(directory / "appliance.log", "ab")  # noqa: SIM115 - the child writes to it until stop()
    proc = subprocess.Popen(
        [sys.executable, "-m", "cli", "serve", "--config", str(directory / "appliance.toml")],
        cwd=REPO,
        stdout=log,
        stderr=subprocess.STDOUT,
        env=ENV,
    )
    deadline = time.monotonic() + 60
    while not ports_file.exists():
        assert proc.poll() is None, (directory / "appliance.log").read_text()
        assert time.monotonic() < deadline, "appliance did not start"
        time.sleep(0.1)
    ports = json.loads(ports_file.read_text())
    return Running(directory, proc, ports["dicom"], ports["grpc"])


def write_study(directory: Path, seed: int) -> tuple[Path, str]:
    phantom = make_phantom(seed)
    path = directory / f"study-{seed}.dcm"
    phantom.dataset.save_as(path, enforce_file_format=True)
    return path, str(phantom.dataset.AccessionNumber)


@pytest.fixture(scope="module")
def appliance(tmp_path_factory) -> Running:
    directory = tmp_path_factory.mktemp("e2e")
    install(directory)
    running = start(directory)
    yield running
    running.proc.send_signal(signal.SIGTERM)
    assert running.proc.wait(timeout=60) == 0, "SIGTERM must stop the appliance gracefully (exit 0)"


@pytest.fixture(scope="module")
def delivered(appliance: Running, tmp_path_factory) -> dict:
    """One study sent by storescu and delivered to dr-a: {report_id, accession, output}."""
    path, accession = write_study(tmp_path_factory.mktemp("pacs"), seed=4242)
    result = appliance.store(path)
    assert result.returncode == 0, result.stderr
    watched = appliance.client("dr-a", "watch", "--count", "1", timeout=120)
    assert watched.returncode == 0, watched.stderr + appliance.log()[-3000:]
    (summary,) = appliance.wait_reports("dr-a", 1)
    return {"report_id": summary["report_id"], "accession": accession, "output": watched.stdout}


def test_the_clinician_receives_a_decrypted_report_with_the_accession_number(delivered: dict) -> None:
    out = delivered["output"]
    assert f"Accession number: {delivered['accession']}" in out
    assert "FINDINGS:" in out and "IMPRESSION:" in out


def test_the_log_holds_no_patient_data(appliance: Running, delivered: dict) -> None:
    log = appliance.log()
    assert delivered["accession"] not in log
    assert "FINDINGS" not in log and "IMPRESSION" not in log


def test_dr_b_can_neither_list_nor_get_dr_a_report(appliance: Running, delivered: dict) -> None:
    listed = appliance.client("dr-b", "list", "--json", "--all")
    assert listed.returncode == 0 and json.loads(listed.stdout) == []
    got = appliance.client("dr-b", "get", delivered["report_id"])
    assert got.returncode == 66 and "not found" in got.stderr.lower()


def test_a_study_that_is_not_a_chest_radiograph_is_withheld_as_unsupported(appliance: Running, tmp_path: Path) -> None:
    phantom = make_phantom(9)
    phantom.dataset.BodyPartExamined = "HAND"
    phantom.dataset.StudyDescription = "XR HAND 3 VIEWS"
    path = tmp_path / "hand.dcm"
    phantom.dataset.save_as(path, enforce_file_format=True)
    assert appliance.store(path).returncode == 0
    study = str(phantom.dataset.StudyInstanceUID)
    deadline = time.monotonic() + 60
    row = None
    while time.monotonic() < deadline and row is None:
        with sqlite3.connect(appliance.directory / "state" / "jobs.sqlite3") as db:
            row = db.execute(
                "SELECT state, stage, reason, privacy FROM jobs WHERE study_uid = ? AND state != 'queued' "
                "AND state != 'running'",
                (study,),
            ).fetchone()
        time.sleep(0.3)
    assert row is not None, appliance.log()[-2000:]
    state, stage, reason, privacy = row
    assert (state, stage, privacy) == ("withheld", "classify", "Hand X-ray")
    assert reason.startswith("unsupported class: Hand X-ray (low, epsilon 2.0)")
    assert "Hand X-ray" in appliance.log()  # logged, without patient data


def test_unknown_calling_ae_is_rejected(appliance: Running, tmp_path: Path) -> None:
    path, _ = write_study(tmp_path, seed=7)
    result = appliance.store(path, aet="INTRUDER")
    assert result.returncode != 0
    assert "reject" in (result.stdout + result.stderr).lower()


def test_unusable_instance_gets_a_failure_status_and_is_quarantined(appliance: Running, tmp_path: Path) -> None:
    phantom = make_phantom(8)
    phantom.dataset.StudyInstanceUID = "1.2.not-a-uid"
    bad = tmp_path / "bad.dcm"
    phantom.dataset.save_as(bad, enforce_file_format=True)
    appliance.store(bad)  # storescu reports the failure status; what matters is where the bytes went
    quarantine = appliance.directory / "state" / "spool" / "quarantine"
    reasons = [json.loads(p.read_text()) for p in quarantine.glob("*.reason.json")]
    assert any("InvalidIdentifier" in json.dumps(r) for r in reasons), reasons
    # the listener keeps serving
    echo = subprocess.run(
        ["/usr/bin/echoscu", "-aet", "DEVPACS", "-aec", "SECUREMED", "127.0.0.1", str(appliance.dicom)],
        capture_output=True,
        timeout=30,
    )
    assert echo.returncode == 0


@pytest.mark.skipif(not shutil.which("openssl"), reason="openssl is not installed")
def test_tls12_is_refused_and_tls13_accepted(appliance: Running) -> None:
    pki = appliance.directory / "pki"
    base = [
        "openssl",
        "s_client",
        "-connect",
        f"127.0.0.1:{appliance.grpc}",
        "-CAfile",
        str(pki / "ca.pem"),
        "-cert",
        str(pki / "clients/dr-a.pem"),
        "-key",
        str(pki / "clients/dr-a.key"),
    ]
    tls12 = subprocess.run(base + ["-tls1_2"], input="", capture_output=True, text=True, timeout=30)
    assert tls12.returncode != 0 and "Cipher is (NONE)" in tls12.stdout
    tls13 = subprocess.run(base + ["-tls1_3"], input="", capture_output=True, text=True, timeout=30)
    # The handshake's own report, not the exit status: gRPC closes TCP without a TLS close_notify,
    # and whether s_client sees that before its own shutdown (exit 1, "unexpected eof") is a race.
    assert "New, TLSv1.3, Cipher is TLS_" in tls13.stdout
    assert "Verify return code: 0 (ok)" in tls13.stdout


def test_clients_without_a_site_certificate_are_refused(appliance: Running, tmp_path: Path) -> None:
    from appliance.delivery.pki import create_dev_pki

    other = create_dev_pki(tmp_path / "other-ca", clinicians=("dr-a",))
    config = (appliance.directory / "dr-a.toml").read_text()
    pki = appliance.directory / "pki"
    foreign = tmp_path / "foreign.toml"
    foreign.write_text(
        config.replace('cert_file = "pki/clients/dr-a.pem"', f'cert_file = "{other.clients["dr-a"][0]}"')
        .replace('key_file = "pki/clients/dr-a.key"', f'key_file = "{other.clients["dr-a"][1]}"')
        .replace('"pki/ca.pem"', f'"{pki / "ca.pem"}"')
        .replace('"keys/', f'"{appliance.directory}/keys/')
        .replace('"clinicians/', f'"{appliance.directory}/clinicians/')
    )
    result = securemed("client", "--config", str(foreign), "--target", f"localhost:{appliance.grpc}", "list")
    assert result.returncode == 69, result.stderr
    # no certificate at all: the server's own CA is trusted, but no RPC gets through
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    credentials = grpc.ssl_channel_credentials(root_certificates=(pki / "ca.pem").read_bytes())
    with grpc.secure_channel(f"localhost:{appliance.grpc}", credentials) as channel:
        with pytest.raises(grpc.RpcError) as info:
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10)
    assert info.value.code() == grpc.StatusCode.UNAVAILABLE


def test_a_tampered_envelope_is_rejected_by_the_client(appliance: Running, delivered: dict) -> None:
    from dataclasses import replace

    from appliance.delivery.codec import decode_envelope, encode_envelope

    db = sqlite3.connect(appliance.directory / "state" / "envelopes.sqlite3")
    query = "SELECT envelope FROM envelopes WHERE report_id = ?"
    (original,) = db.execute(query, (delivered["report_id"],)).fetchone()
    envelope = decode_envelope(bytes(original))
    flipped = bytearray(envelope.ciphertext)
    flipped[len(flipped) // 2] ^= 0x01
    with db:
        db.execute(
            "UPDATE envelopes SET envelope = ? WHERE report_id = ?",
            (encode_envelope(replace(envelope, ciphertext=bytes(flipped))), delivered["report_id"]),
        )
    try:
        result = appliance.client("dr-a", "get", delivered["report_id"])
        assert result.returncode == 65 and "rejected" in result.stderr, result.stderr
    finally:
        with db:
            db.execute("UPDATE envelopes SET envelope = ? WHERE report_id = ?", (original, delivered["report_id"]))
        db.close()
    assert appliance.client("dr-a", "get", delivered["report_id"]).returncode == 0


def test_config_errors_name_the_key_and_exit_78(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('state_dir = "s"\n[dicom]\nport = "eleven"\n')
    result = securemed("check-config", "--config", str(bad))
    assert result.returncode == 78
    assert "dicom.port: expected an integer" in result.stderr and "model: missing" in result.stderr
    served = securemed("serve", "--config", str(bad))
    assert served.returncode == 78


@pytest.mark.slow
def test_sigkill_after_acknowledgement_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    directory = tmp_path / "crash"
    install(directory, quiet=3.0)
    running = start(directory)
    accessions = []
    for seed in (11, 12, 13):
        path, accession = write_study(tmp_path, seed)
        assert running.store(path).returncode == 0  # Success returned: durably on disk
        accessions.append(accession)
    running.proc.send_signal(signal.SIGKILL)  # well inside the quiet period: nothing was reported
    running.proc.wait(timeout=30)
    with sqlite3.connect(directory / "state" / "envelopes.sqlite3") as db:
        assert db.execute("SELECT COUNT(*) FROM envelopes").fetchone() == (0,)  # killed before any delivery

    running = start(directory)
    try:
        summaries = running.wait_reports("dr-a", 3)
        time.sleep(3)  # anything duplicated would show up by now
        summaries = json.loads(running.client("dr-a", "list", "--json", "--all").stdout)
        assert len(summaries) == 3
        received = []
        for s in summaries:
            got = running.client("dr-a", "get", s["report_id"], "--json")
            assert got.returncode == 0, got.stderr
            received.append(json.loads(got.stdout)["accession_number"])
        assert sorted(received) == sorted(accessions)
    finally:
        running.proc.send_signal(signal.SIGTERM)
        running.proc.wait(timeout=60)
