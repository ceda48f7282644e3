"""The bundled Table E.1-1 and its lookups."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

from deid import EDITION, DeidConfigError, load_table
from deid.header.table import BASIC_ACTIONS, ProfileTable, parse_rows

DATA = Path(__file__).resolve().parents[2] / "deid" / "header" / "data"


def test_bundled_file_is_the_documented_2024b_copy_with_its_licence() -> None:
    raw = (DATA / "confidentiality_profile_attributes.json").read_bytes()
    assert hashlib.sha256(raw).hexdigest() == "a99a35d1278e2bace8d90ff791b11aea2d45f1e3e1230388eb5224c9dbcd29e6"
    assert "Innolitics" in (DATA / "LICENSE.txt").read_text()
    assert EDITION == "2024b" and "2024b" in (DATA / "SOURCE.md").read_text()


def test_every_row_parses_and_every_action_code_occurs() -> None:
    table = load_table()
    assert len(table) == 621
    assert {r.basic for r in table} == BASIC_ACTIONS - {"K", "C"}  # no row of 2024b has K or C as basic
    assert {code for r in table for code in r.options.values()} == {"K", "C"}


@pytest.mark.parametrize(
    ("tag", "expected"),
    [
        (0x00100010, "(0010,0010)"),
        (0x50000005, "(50XX,XXXX)"),
        (0x501E3000, "(50XX,XXXX)"),
        (0x60003000, "(60XX,3000)"),
        (0x601E3000, "(60XX,3000)"),
        (0x60024000, "(60XX,4000)"),
        (0x00091001, "(GGGG,EEEE) WHERE GGGG IS ODD"),
        (0x00290010, "(GGGG,EEEE) WHERE GGGG IS ODD"),
        (0x60000010, None),  # Overlay Rows: no row of its own
        (0x50203000, None),  # beyond the curve range
        (0x60013000, "(GGGG,EEEE) WHERE GGGG IS ODD"),
        (0x00280010, None),
    ],
)
def test_lookup(tag: int, expected: str | None) -> None:
    row = load_table().lookup(tag)
    assert (row.tag if row else None) == expected


@pytest.mark.parametrize(
    ("raw", "key"),
    [
        ({}, "table"),
        ([1], "table[0]"),
        ([{"name": "A", "tag": "(0001,0001)", "id": "1", "stdCompIOD": "Y"}], "table[0].basicProfile"),
        (
            [{"name": "A", "tag": "(0001,0001)", "id": "1", "stdCompIOD": "Y", "basicProfile": "Q"}],
            "table[0].basicProfile",
        ),
        (
            [{"name": "A", "tag": "(0001,0001)", "id": "1", "stdCompIOD": "Y", "basicProfile": "X", "rtnUIDsOpt": "X"}],
            "table[0].rtnUIDsOpt",
        ),
        (
            [{"name": "A", "tag": "(0001,0001)", "id": "1", "stdCompIOD": "Y", "basicProfile": "X", "newOpt": "K"}],
            "table[0]",
        ),
    ],
)
def test_malformed_tables_are_rejected_with_the_row(raw: object, key: str) -> None:
    with pytest.raises(DeidConfigError) as err:
        parse_rows(raw)
    assert err.value.key == key


def test_table_without_pattern_rows_is_rejected() -> None:
    rows = json.loads((DATA / "confidentiality_profile_attributes.json").read_text())
    rows = [r for r in rows if "XX" not in r["tag"]]
    with pytest.raises(DeidConfigError):
        ProfileTable(rows=parse_rows(rows))
