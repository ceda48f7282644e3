"""`securemed doctor --config FILE [--json]`: 0 when the state is consistent (warnings allowed), 65 when
an invariant is broken, 66 without a state directory, 78 for a bad config, 64 for a bad command line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.delivery.store import EnvelopeStore
from appliance.devsetup import init_dev
from appliance.jobs import JobStore
from cli.main import run
from common.errors import ExitCode
from dicom_listener import Spool
from tests.conftest import DEMO_BUNDLE


@pytest.fixture
def installed(tmp_path: Path) -> Path:
    """A dev installation whose state holds what a first start creates (empty stores, spool)."""
    config = init_dev(tmp_path / "dev", dicom_port=0, grpc_port=0, bundle=DEMO_BUNDLE)
    state = config.parent / "state"
    state.mkdir(mode=0o700)
    JobStore(state / "jobs.sqlite3").close()
    EnvelopeStore(state / "envelopes.sqlite3").close()
    Spool(state / "spool").close()
    return config


def test_a_fresh_state_is_consistent(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["doctor", "--config", str(installed)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "0 jobs" in out and out.rstrip().endswith("checks clean") and "consistent" in out


def test_json_lists_every_check(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["doctor", "--config", str(installed), "--json"]) == ExitCode.OK
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["consistent"] is True and verdict["service_running"] is False
    names = {c["name"] for c in verdict["checks"]}
    assert {"lost-instance", "duplicate-report", "database-integrity", "file-mode"} <= names
    assert all(c["count"] == 0 and c["severity"] in ("error", "warning") for c in verdict["checks"])


def test_a_warning_keeps_exit_0(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    jobs = JobStore(installed.parent / "state" / "jobs.sqlite3")
    jobs.enqueue("1.2.3.4", [])
    job = jobs.claim_next()  # left running, as by a crash
    jobs.close()
    assert job is not None
    assert run(["doctor", "--config", str(installed)]) == ExitCode.OK
    out = capsys.readouterr().out
    assert "WARNING jobs-left-running: 1" in out and job.job_id in out
    assert "1.2.3.4" not in out  # the study UID is never printed


def test_a_broken_invariant_exits_65(installed: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (installed.parent / "state" / "envelopes.sqlite3").chmod(0o644)
    assert run(["doctor", "--config", str(installed), "--json"]) == ExitCode.DATAERR
    verdict = json.loads(capsys.readouterr().out)
    assert verdict["consistent"] is False
    (mode,) = [c for c in verdict["checks"] if c["name"] == "file-mode"]
    assert mode["severity"] == "error" and mode["examples"] == ["envelopes.sqlite3 is 0644"]
    assert not list((installed.parent / "state").glob("*-wal")), "a clean state is read without side files"


def test_without_a_state_directory_it_exits_66(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = init_dev(tmp_path / "dev", dicom_port=0, grpc_port=0, bundle=DEMO_BUNDLE)
    assert run(["doctor", "--config", str(config)]) == ExitCode.NOINPUT
    assert "not found" in capsys.readouterr().err


def test_a_bad_config_exits_78_and_a_missing_option_64(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text('state_dir = "s"\n[dicom]\nport = "eleven"\n')
    assert run(["doctor", "--config", str(bad)]) == ExitCode.CONFIG
    assert "dicom.port" in capsys.readouterr().err
    with pytest.raises(SystemExit) as info:
        run(["doctor"])
    assert info.value.code == ExitCode.USAGE
