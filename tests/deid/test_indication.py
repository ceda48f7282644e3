"""The clinical indication: sources in the issue's order, cleaned by the tool's own redactor, and
never used raw when no redactor is configured."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset

from deid import DeidOptions, DeidTool
from deid.indication import MAX_INDICATION_CHARS, Indication, clean_indication, find_indication
from deid.testing import make_image

SEQ = "RequestAttributesSequence"


def _dataset(**top: object) -> Dataset:
    ds = Dataset()
    for keyword, value in top.items():
        if keyword == SEQ:
            items = []
            for fields in value:  # type: ignore[attr-defined]
                item = Dataset()
                for k, v in fields.items():
                    setattr(item, k, v)
                items.append(item)
            setattr(ds, SEQ, items)
        else:
            setattr(ds, keyword, value)
    return ds


ALL = {
    SEQ: [{"RequestedProcedureDescription": "seq0 description"}, {"ReasonForTheRequestedProcedure": "seq1 reason"}],
    "ReasonForTheRequestedProcedure": "top reason",
    "AdmittingDiagnosesDescription": ["dyspnoea", "fever"],
    "AdditionalPatientHistory": "history",
    "StudyDescription": "XR CHEST PA",
}


def _without(*keys: str) -> dict[str, object]:
    return {k: v for k, v in ALL.items() if k not in keys}


@pytest.mark.parametrize(
    "fields, source, text",
    [
        (ALL, f"{SEQ}[0].RequestedProcedureDescription", "seq0 description"),
        (
            {**ALL, SEQ: [{"ReasonForTheRequestedProcedure": "r0", "RequestedProcedureDescription": "d0"}]},
            f"{SEQ}[0].ReasonForTheRequestedProcedure",
            "r0",
        ),
        (
            {**ALL, SEQ: [{"RequestedProcedureDescription": "  "}, {"ReasonForTheRequestedProcedure": "r1"}]},
            f"{SEQ}[1].ReasonForTheRequestedProcedure",
            "r1",
        ),
        (_without(SEQ), "ReasonForTheRequestedProcedure", "top reason"),
        ({**_without(SEQ), "ReasonForTheRequestedProcedure": ""}, "AdmittingDiagnosesDescription", "dyspnoea; fever"),
        (_without(SEQ, "ReasonForTheRequestedProcedure"), "AdmittingDiagnosesDescription", "dyspnoea; fever"),
        (
            _without(SEQ, "ReasonForTheRequestedProcedure", "AdmittingDiagnosesDescription"),
            "AdditionalPatientHistory",
            "history",
        ),
        (
            _without(
                SEQ, "ReasonForTheRequestedProcedure", "AdmittingDiagnosesDescription", "AdditionalPatientHistory"
            ),
            "StudyDescription",
            "XR CHEST PA",
        ),
    ],
)
def test_the_first_non_blank_source_wins_in_the_documented_order(
    fields: dict[str, object], source: str, text: str
) -> None:
    assert find_indication(_dataset(**fields)) == (source, text)


def test_no_source_is_absent() -> None:
    assert find_indication(_dataset(PatientID="123")) is None
    assert clean_indication(None, str.upper) == Indication(None, None, "absent")


def test_without_a_cleaner_the_raw_text_is_never_returned() -> None:
    result = clean_indication(("StudyDescription", "JOHN DOE chest"), None)
    assert result == Indication(None, "StudyDescription", "uncleanable")


def test_the_repr_never_shows_the_text() -> None:
    result = clean_indication(("StudyDescription", "secret words here"), lambda s: s)
    assert result.text == "secret words here" and "secret" not in repr(result)


def test_long_history_is_capped_before_cleaning() -> None:
    seen: list[int] = []
    clean_indication(find_indication(_dataset(AdditionalPatientHistory="x" * 9000)), lambda s: seen.append(len(s)) or s)
    assert seen == [MAX_INDICATION_CHARS]


@settings(max_examples=60, deadline=None)
@given(st.text(max_size=80))
def test_any_text_in_any_source_is_found_with_its_whitespace_collapsed(value: str) -> None:
    ds = _dataset(AdditionalPatientHistory=value)
    found = find_indication(ds)
    words = " ".join(value.split())
    if words:
        assert found == ("AdditionalPatientHistory", words)
        assert clean_indication(found, lambda s: s) == Indication(words, "AdditionalPatientHistory", "present")
    else:
        assert found is None


# ---- through the tool: the same cleaning as the descriptors ---------------------------------------


@pytest.fixture(scope="module")
def cleaning_tool() -> DeidTool:
    return DeidTool(DeidOptions(clean_descriptors=True), b"s" * 32)


def test_the_tool_redacts_the_patients_own_name_from_the_indication(cleaning_tool: DeidTool) -> None:
    ds = make_image(patient_name="Quimby^Harriet")
    family = str(ds.PatientName).split("^")[0]
    item = Dataset()
    item.ReasonForTheRequestedProcedure = f"cough, {family} reports fever"
    ds.RequestAttributesSequence = [item]
    before = ds.to_json_dict()
    result = cleaning_tool.indication(ds)
    assert result.status == "present" and result.source == f"{SEQ}[0].ReasonForTheRequestedProcedure"
    assert result.text is not None and "cough" in result.text and "fever" in result.text
    assert family.lower() not in result.text.lower()
    assert ds.to_json_dict() == before  # the original is not modified


def test_a_tool_without_a_redactor_never_uses_the_raw_text() -> None:
    ds = make_image(patient_name="Quimby^Harriet")
    ds.ReasonForTheRequestedProcedure = "cough"
    assert DeidTool(DeidOptions(), b"s" * 32).indication(ds) == Indication(
        None, "ReasonForTheRequestedProcedure", "uncleanable"
    )
