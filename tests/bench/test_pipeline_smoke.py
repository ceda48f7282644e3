"""bench/pipeline.py end to end on a tiny burst: the real `securemed serve`, storescu and client."""

from __future__ import annotations

import math
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO

pytestmark = [
    pytest.mark.dcmtk,
    pytest.mark.skipif(not Path("/usr/bin/storescu").exists(), reason="DCMTK storescu is not installed"),
]


def test_the_pipeline_bench_prints_rates_shares_memory_and_ends_with_the_two_ratios() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "bench.pipeline", "--n", "3", "--rounds", "1", "--quiet", "0.2"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    lines = result.stdout.strip().splitlines()
    assert re.search(r"^round 1 generation only \(batch 8\): [\d.]+ reports/s", result.stdout, re.M)
    for mode in ("off", "on"):
        assert re.search(rf"^round 1 e2e cleaning {mode}: [\d.]+ studies/s .*largest \d+", result.stdout, re.M)
        share = re.search(rf"^stage share cleaning {mode}: (.*)$", result.stdout, re.M)
        assert share and "anonymize" in share.group(1) and "generate" in share.group(1)
        rss = re.search(
            rf"^serve peak memory \(PSS\) with children, cleaning {mode}: (\d+) MiB \(serve \d+.* MiB\)$",
            result.stdout,
            re.M,
        )
        assert rss and int(rss.group(1)) > 50  # a Python process with the model loaded
    off, on = lines[-2:]
    assert off.startswith("e2e_over_generation_cleaning_off=") and on.startswith("e2e_over_generation_cleaning_on=")
    for line in (off, on):
        ratio = float(line.split("=", 1)[1])
        assert math.isfinite(ratio) and ratio > 0
