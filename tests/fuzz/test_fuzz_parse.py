"""The atheris harness (tests/fuzz/fuzz_parse.py) run for a bounded number of inputs: every input the
listener refuses is refused with its typed error, every one it accepts ends the first stages as
Withheld or StageFailed; any other exception escaping fails this test with the input saved."""

from __future__ import annotations

import os
import resource
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("atheris")

HARNESS = Path(__file__).with_name("fuzz_parse.py")


def _fuzz(tmp_path: Path, runs: int, timeout: float) -> subprocess.CompletedProcess:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    # libFuzzer's RSS limit reads the peak RSS, which Linux carries across execve: the harness would
    # start with this pytest process's peak (GBs after the export tests). Allow 2 GiB above it.
    rss_limit_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss // 1024 + 2048
    return subprocess.run(
        [
            sys.executable,
            str(HARNESS),
            f"-runs={runs}",
            "-seed=1",
            f"-rss_limit_mb={rss_limit_mb}",
            f"-artifact_prefix={tmp_path}/",
            str(corpus),
        ],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=dict(os.environ, FUZZ_PARSE_WORK_DIR=str(tmp_path)),
    )


def test_two_thousand_fuzzed_inputs_end_only_in_typed_refusals(tmp_path: Path) -> None:
    result = _fuzz(tmp_path, 2000, timeout=180)
    crashes = sorted(p.name for p in tmp_path.glob("crash-*")) + sorted(p.name for p in tmp_path.glob("timeout-*"))
    assert result.returncode == 0 and not crashes, result.stderr[-4000:]
    assert "Done 2000 runs" in result.stderr


@pytest.mark.slow
def test_fifty_thousand_fuzzed_inputs_end_only_in_typed_refusals(tmp_path: Path) -> None:
    result = _fuzz(tmp_path, 50_000, timeout=1800)
    assert result.returncode == 0 and not list(tmp_path.glob("crash-*")), result.stderr[-4000:]
    assert "Done 50000 runs" in result.stderr
