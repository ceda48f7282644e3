"""The engine against docs/deid-conformance.md: every row of Table E.1-1, under the Basic Profile
and under each option, must do what the document says."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import pytest
from pydicom.dataset import Dataset

from deid import Deidentifier, DeidOptions, load_table
from deid.conformance import COLUMNS, parse_markdown, render_markdown
from deid.header.table import PRIVATE_PATTERN
from deid.testing import (
    SECRET,
    exact_rows,
    make_image,
    plant_every_row,
    plant_overlay_and_curve,
    plant_private,
)

DOC = Path(__file__).resolve().parents[2] / "docs" / "deid-conformance.md"
DATA = Path(__file__).resolve().parents[2] / "deid" / "header" / "data" / "confidentiality_profile_attributes.json"
CLEANED = "CLEANED"


def cleaner(text: str) -> str:
    return CLEANED


@pytest.fixture(scope="module")
def documented() -> dict[str, dict[str, str]]:
    return parse_markdown(DOC.read_text("utf-8"))


@pytest.fixture(scope="module")
def runs() -> dict[str, tuple[Dataset, Dataset, object]]:
    """column -> (input, output, record): one CR instance carrying every row, de-identified with
    the Basic Profile alone and with each option alone."""
    out = {}
    for column in COLUMNS:
        ds = make_image()
        plant_every_row(ds)
        plant_private(ds, 1)
        plant_overlay_and_curve(ds, 10)
        options = DeidOptions() if column == "basic" else DeidOptions(**{column: True})
        result = Deidentifier(options, SECRET, text_cleaner=cleaner).deidentify(ds)
        out[column] = (ds, result.dataset, result.record)
    return out


def test_document_is_up_to_date() -> None:
    assert DOC.read_text("utf-8") == render_markdown(), (
        "regenerate: python -m deid.conformance > docs/deid-conformance.md"
    )


def test_document_lists_every_row_with_the_standards_basic_action(documented: dict[str, dict[str, str]]) -> None:
    raw = json.loads(DATA.read_text("utf-8"))
    assert len(documented) == len(raw) == 621
    text = DOC.read_text("utf-8")
    for row in raw:
        line = next(line for line in text.splitlines() if line.startswith(f"| {row['tag'].upper()} |"))
        assert f"| {row['basicProfile']} |" in line, row["tag"]


def test_documented_basic_column_follows_the_standard_where_it_is_unconditional(
    documented: dict[str, dict[str, str]],
) -> None:
    """Single-code rows keep the standard's code, except the documented deviations."""
    deviations = {"(0010,0010)": "D", "(0000,1001)": "X"}  # pseudonym, command group
    for row in load_table():
        if "/" in row.basic or row.tag in ("(50XX,XXXX)", "(60XX,3000)", "(60XX,4000)", PRIVATE_PATTERN):
            continue
        expected = deviations.get(row.tag, row.basic)
        assert documented[row.tag]["basic"] == expected, row.tag


def _days(a: str, b: str) -> int:
    return (dt.date(int(b[:4]), int(b[4:6]), int(b[6:8])) - dt.date(int(a[:4]), int(a[4:6]), int(a[6:8]))).days


def _outcome_matches(code: str, vr: str, before: object, elem: object, record: object, tag: int) -> str | None:
    """None if the output element matches documented `code`, else a description of the mismatch."""
    if code == "X":
        return None if elem is None else "expected removed"
    if elem is None:
        return f"expected {code}, got removed"
    value = elem.value
    if code == "Z":
        return (
            None if (len(value) == 0 if vr == "SQ" else value in ("", None, b"")) else f"expected empty, got {value!r}"
        )
    if vr == "SQ":  # K, D, U, C on a sequence: kept with its items processed
        if len(value) != len(before):
            return "sequence items lost"
        if value[0].get("PatientName") not in ("", None):
            return "nested Patient's Name not processed"
        meaning, original = value[0].get("CodeMeaning"), before[0].CodeMeaning
        expected = {"D": "DEIDENTIFIED", "C": CLEANED}.get(code, original)
        return None if meaning == expected else f"unlisted text in a {code} sequence: {meaning!r}"
    if code == "K":
        return None if value == before else f"expected kept, got {value!r}"
    if code == "U":
        return None if str(value).startswith("2.25.") and value != before else f"expected new UID, got {value!r}"
    if code == "D":
        if tag in (0x00100010, 0x00100020):
            return None if str(value) == record.pseudonym else "expected the pseudonym"
        return None if value not in ("", None, b"") and value != before else f"expected dummy, got {value!r}"
    if code == "C":
        if vr == "DA":
            return None if _days(before, value) == record.date_shift_days else f"DA not shifted: {value}"
        if vr == "DT":
            ok = _days(before[:8], value[:8]) == record.date_shift_days and value[8:] == before[8:]
            return None if ok else f"DT not shifted with its time: {value}"
        if vr == "TM":
            return None if value == before else f"TM changed: {value}"
        if tag == 0x00080201:
            return None if value == "+0000" else f"timezone not neutral: {value}"
        if vr == "AE":
            return None if value != before and str(value).startswith("DEID") and len(value) <= 16 else f"AE: {value}"
        if vr == "CS":
            # a code string cannot hold the cleaner's output: a value the cleaner changed is emptied
            return None if value in ("", None) else f"CS not emptied after cleaning: {value!r}"
        return None if str(value).split("^")[0] == CLEANED else f"expected cleaned text, got {value!r}"
    return f"unknown documented code {code}"


@pytest.mark.parametrize("column", COLUMNS)
def test_engine_does_what_the_document_says_for_every_row(
    column: str, runs: dict[str, tuple[Dataset, Dataset, object]], documented: dict[str, dict[str, str]]
) -> None:
    before, after, record = runs[column]
    failures = []
    for tag, row, vr in exact_rows():
        code = documented[row.tag][column]
        elem = after.get(tag)
        problem = _outcome_matches(code, vr, before[tag].value, elem, record, tag)
        if problem:
            failures.append(f"{row.tag} {row.name} [{code}]: {problem}")
    # Pattern rows: overlays, curves, private attributes.
    tags = list(after.keys())
    overlay = [t for t in tags if 0x6000 <= t.group <= 0x601E]
    curves = [t for t in tags if 0x5000 <= t.group <= 0x501E]
    for pattern in ("(50XX,XXXX)", "(60XX,3000)", "(60XX,4000)"):
        assert documented[pattern][column] == "X"
    if overlay or curves:
        failures.append(f"overlay/curve elements left: {overlay + curves}")
    kept_private = {int(t) for t in tags if t.group % 2 == 1}
    if documented[PRIVATE_PATTERN][column] == "C":
        if kept_private != {0x00190010, 0x0019100C}:
            failures.append(f"private: expected only the allow-listed block, got {sorted(map(hex, kept_private))}")
    elif kept_private:
        failures.append(f"private: expected none, got {sorted(map(hex, kept_private))}")
    # (0002,0003) lives in the rebuilt file meta: it follows the data set's SOP Instance UID.
    meta_uid = after.file_meta.MediaStorageSOPInstanceUID
    assert meta_uid == after.SOPInstanceUID
    expected_meta = documented["(0002,0003)"][column]
    if (expected_meta == "K") != (meta_uid == before.SOPInstanceUID):
        failures.append(f"(0002,0003): documented {expected_meta}, got {meta_uid}")
    assert not failures, "\n".join(failures)


def test_clean_without_a_text_cleaner_falls_back_to_the_basic_action(documented: dict[str, dict[str, str]]) -> None:
    ds = make_image()
    plant_every_row(ds)
    out = Deidentifier(DeidOptions(clean_descriptors=True), SECRET).deidentify(ds)
    failures = []
    for tag, row, vr in exact_rows():
        if documented[row.tag]["clean_descriptors"] != "C" or vr in ("SQ", "DA", "DT", "TM", "AE"):
            continue
        problem = _outcome_matches(
            documented[row.tag]["basic"], vr, ds[tag].value, out.dataset.get(tag), out.record, tag
        )
        if problem:
            failures.append(f"{row.tag} {row.name}: {problem}")
    assert not failures, "\n".join(failures)
    assert "clean_descriptors" not in out.options_applied
    codes = [item.CodeValue for item in out.dataset.DeidentificationMethodCodeSequence]
    assert "113105" not in codes
