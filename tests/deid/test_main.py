"""The stand-alone tool `python -m deid`, run as a real subprocess."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from pydicom import dcmread

from deid import MappingStore, create_key_file
from deid.testing import SECRET, make_image, planted_uid, to_bytes

ROOT = Path(__file__).resolve().parents[2]


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "deid", *args], cwd=ROOT, capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def secret_file(tmp_path: Path) -> Path:
    p = tmp_path / "site.secret"
    p.write_bytes(SECRET.hex().encode() + b"\n")
    p.chmod(0o600)
    return p


def test_tool_writes_deidentified_files_and_the_encrypted_store(tmp_path: Path, secret_file: Path) -> None:
    good = tmp_path / "Doe_Jane.dcm"  # an input name carrying PHI must not leak into the output
    good.write_bytes(to_bytes(make_image()))
    burned = make_image(sop_uid=planted_uid(77))
    burned.BurnedInAnnotation = "YES"
    bad = tmp_path / "burned.dcm"
    bad.write_bytes(to_bytes(burned))
    config = tmp_path / "deid.toml"
    config.write_text("[deid]\nretain_long_modified_dates = true\n")
    key = create_key_file(tmp_path / "store.key")
    out = tmp_path / "out"
    proc = run(str(good), str(bad), str(tmp_path / "missing.dcm"), "-o", str(out), "--secret-file", str(secret_file),
               "--config", str(config), "--store", str(tmp_path / "map.sqlite"), "--store-key", str(key))
    assert proc.returncode == 66, proc.stderr  # the worst outcome: a missing input
    assert "UnsafeToDeidentify" in proc.stderr and "input #1" in proc.stderr
    lines = [json.loads(line) for line in proc.stdout.splitlines()]
    assert len(lines) == 1 and lines[0]["input"] == 0
    written = Path(lines[0]["written"])
    assert written.parent == out and written.name.startswith("2.25.") and "Doe" not in proc.stdout + proc.stderr
    ds = dcmread(written)
    assert ds.PatientIdentityRemoved == "YES" and ds.PatientName != "Doe^Jane"
    with MappingStore.open(tmp_path / "map.sqlite", key) as store:
        record = store.get(ds.SOPInstanceUID)
    assert record is not None and record.original_patient_id == "PID-7731" and record.date_shift_days is not None


def test_tool_reports_configuration_errors_with_the_key(tmp_path: Path, secret_file: Path) -> None:
    config = tmp_path / "deid.toml"
    config.write_text("[deid]\nretain_uid = true\n")
    proc = run(str(tmp_path / "x.dcm"), "-o", str(tmp_path / "out"), "--secret-file", str(secret_file), "--config", str(config))
    assert proc.returncode == 78 and "retain_uid" in proc.stderr
    secret_file.chmod(0o644)
    proc = run(str(tmp_path / "x.dcm"), "-o", str(tmp_path / "out"), "--secret-file", str(secret_file))
    assert proc.returncode == 78 and "secret_file" in proc.stderr
