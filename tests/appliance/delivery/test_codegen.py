"""The committed generated protobuf code matches proto/securemed/v1/*.proto."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
SCRIPT = ROOT / "tools" / "gen_protos.py"
COMMITTED = ROOT / "appliance" / "delivery" / "pb"


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120)


def test_committed_generated_code_is_current():
    result = run("--check", "--out", str(COMMITTED))
    assert result.returncode == 0, result.stderr


def test_check_detects_stale_code(tmp_path):
    stale = tmp_path / "pb"
    shutil.copytree(COMMITTED, stale)
    pb2 = stale / "reports_pb2.py"
    pb2.write_text(pb2.read_text().replace("ReportEntry", "ReportEntri"))
    result = run("--check", "--out", str(stale))
    assert result.returncode == 1
    assert "reports_pb2.py" in result.stderr


def test_generated_code_has_no_top_level_proto_package(tmp_path):
    assert run("--out", str(tmp_path)).returncode == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == ["reports_pb2.py", "reports_pb2.pyi", "reports_pb2_grpc.py"]
    grpc_code = (tmp_path / "reports_pb2_grpc.py").read_text()
    assert "from . import reports_pb2" in grpc_code
    assert "import securemed" not in grpc_code and "from securemed" not in grpc_code
