"""bench/ingest.py on a few small files: our listener and DCMTK's storescp, one and two associations."""

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
    pytest.mark.skipif(
        not (Path("/usr/bin/storescu").exists() and Path("/usr/bin/storescp").exists()),
        reason="DCMTK storescu/storescp are not installed",
    ),
]


def test_the_ingest_bench_compares_both_receivers_per_case_and_ends_with_the_ratio() -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench.ingest",
            "--count",
            "6",
            "--rounds",
            "2",
            "--sizes",
            "0.5MB",
            "--associations",
            "1,2",
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    for fanout in (1, 2):
        for name in ("ours", "dcmtk"):
            found = re.findall(
                rf"^round \d 0.5MB x6 on {fanout} association\(s\) {name}: [\d.]+ files/s", result.stdout, re.M
            )
            assert len(found) == 2, result.stdout
        summary = re.search(rf"^0.5MB on {fanout} association\(s\): ours .* ours/dcmtk ([\d.]+)$", result.stdout, re.M)
        assert summary and float(summary.group(1)) > 0
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("ingest_ours_over_dcmtk_8mb=")
    assert math.isnan(float(last.split("=", 1)[1]))  # the 8 MB single-association case was not run
