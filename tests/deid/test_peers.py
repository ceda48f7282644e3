"""Our header engine (Basic Profile) against two peers on the same planted-PHI study: whatever
Orthanc (real server, DicomVersion 2021b) or dicom-anonymizer (default rules) removes, empties or
replaces, ours changes too, except for the documented allow-list (docs/deid-comparison.md)."""

from __future__ import annotations

import importlib.util
import os

import pytest

from tools.compare_deid import (
    KEPT,
    ORTHANC,
    compare,
    describe,
    orthanc_server,
    planted_study,
    to_bytes,
)

#: (tag, peer) -> why ours may keep what the peer changes. Empty today: keep reasons here.
ALLOWED_DIFFERENCES: dict[tuple[int, str], str] = {}

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def inputs() -> list[bytes]:
    return [to_bytes(ds) for ds in planted_study(2, 64)]


def _assert_ours_changes_what_peer_changes(table: dict[int, dict[str, str]], peer: str) -> None:
    assert len(table) > 500, "the planted study covers the table"
    kept_by_ours = {
        describe(tag): row[peer]
        for tag, row in table.items()
        if row["ours"] == KEPT and row.get(peer, KEPT) != KEPT and (tag, peer) not in ALLOWED_DIFFERENCES
    }
    assert not kept_by_ours, f"{peer} changes these, ours keeps them: {kept_by_ours}"
    assert any(row.get(peer) != KEPT for row in table.values()), f"{peer} changed nothing: not really run"


@pytest.mark.skipif(
    importlib.util.find_spec("dicomanonymizer") is None,
    reason="dicom-anonymizer not installed (pip install dicom-anonymizer)",
)
def test_ours_changes_everything_dicom_anonymizer_changes(inputs: list[bytes]) -> None:
    _assert_ours_changes_what_peer_changes(compare(inputs, None), "dicom-anonymizer")


@pytest.mark.skipif(not os.path.exists(ORTHANC), reason=f"{ORTHANC} missing (apt-get install orthanc)")
@pytest.mark.skipif(
    importlib.util.find_spec("dicomanonymizer") is None,
    reason="dicom-anonymizer not installed (pip install dicom-anonymizer)",
)
def test_ours_changes_everything_orthanc_changes(inputs: list[bytes]) -> None:
    with orthanc_server() as server:
        table = compare(inputs, server)
    _assert_ours_changes_what_peer_changes(table, "orthanc")
