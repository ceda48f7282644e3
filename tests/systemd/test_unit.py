"""systemd/securemed.service passes `systemd-analyze verify` with nothing on stderr (it exits 0 on
unknown keys, so stderr is what counts) and keeps the properties operations rely on."""

from __future__ import annotations

import configparser
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

UNIT = REPO / "systemd" / "securemed.service"
INSTALLED_BINARY = "/opt/securemed/venv/bin/securemed"


def _verify(text: str, tmp_path: Path) -> subprocess.CompletedProcess:
    # Point ExecStart at this checkout's command so verify can check that it is executable.
    binary = Path(sys.executable).with_name("securemed")
    unit = tmp_path / "securemed.service"
    unit.write_text(text.replace(INSTALLED_BINARY, str(binary)))
    return subprocess.run(["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60)


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_unit_verifies_cleanly(tmp_path: Path) -> None:
    result = _verify(UNIT.read_text(), tmp_path)
    assert result.stderr.strip() == "", result.stderr
    assert result.returncode == 0


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed")
def test_verify_would_catch_an_unknown_key(tmp_path: Path) -> None:
    result = _verify(UNIT.read_text().replace("[Service]\n", "[Service]\nRestartPreventExitStatuss=78\n"), tmp_path)
    assert "RestartPreventExitStatuss" in result.stderr


def test_unit_runs_unprivileged_and_does_not_restart_on_config_errors() -> None:
    parser = configparser.ConfigParser(strict=False, interpolation=None)
    parser.optionxform = str  # keep systemd's key case
    parser.read(UNIT)
    service = parser["Service"]
    assert service["User"] == "securemed" and service["User"] != "root"
    assert service["RestartPreventExitStatus"] == "78"
    assert service["Restart"] == "on-failure"
    assert "serve --config" in service["ExecStart"]
    assert service["KillSignal"] == "SIGTERM"
