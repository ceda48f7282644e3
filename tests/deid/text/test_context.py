"""The per-study deny-list (deid/text/context.py): header values in the forms free text writes them."""

from __future__ import annotations

import random
import re
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset

from deid.text import (
    ACCESSION,
    ADDRESS,
    DATE,
    EMAIL,
    FACILITY,
    LOCATION,
    MRN,
    PERSON,
    PHONE,
    StudyContext,
    TextRedactionError,
    TextRedactor,
)
from tests.deid.text.helpers import detect
from training.phi_corpus import clinical_text, format_date

#: (header values, text, every (type, span) the deny-list reports; all score 1.0).
CASES: list[tuple[dict[str, Any], str, list[tuple[str, str]]]] = [
    ({"PatientName": "DOE^JOHN"}, "Seen: Doe, John today", [(PERSON, "Doe, John")]),
    ({"PatientName": "DOE^JOHN"}, "DOE JOHN and J.D. and jd", [(PERSON, "DOE JOHN"), (PERSON, "J.D.")]),
    # A name part alone only as the header writes it, capitalised or upper-case.
    ({"PatientName": "ROSE^MARY"}, "temperature rose; Rose seen; ROSE", [(PERSON, "Rose"), (PERSON, "ROSE")]),
    # A form with an initial in any case would take the "a small" out of "a small nodule".
    ({"PatientName": "SMALL^ANNA"}, "a small nodule; A small one", []),
    ({"PatientName": "SMALL^ANNA"}, "seen by A. Small", [(PERSON, "A. Small")]),
    ({"PatientID": "E1234567"}, "ID E-123-4567 and 1234567", [(MRN, "E-123-4567"), (MRN, "1234567")]),
    ({"PatientID": "123"}, "123 mg", []),  # too short: ordinary numbers would go
    ({"AccessionNumber": "A20230314001"}, "acc A-2023-0314-001", [(ACCESSION, "A-2023-0314-001")]),
    (
        {"PatientBirthDate": "19500102"},
        "born 2 Jan 1950, 01/02/1950, 1/2",
        [(DATE, "2 Jan 1950"), (DATE, "01/02/1950")],  # not "1/2" without a year: a ratio
    ),
    ({"StudyDate": "20230314"}, "2/6 murmur; 3/14 seen; 14-MAR-2023", [(DATE, "14-MAR-2023")]),
    (
        {"PatientTelephoneNumbers": "(217) 555-0123"},
        "call 217.555.0123 or 555-0123 or +1 217 555 0123",
        [(PHONE, "217.555.0123"), (PHONE, "555-0123"), (PHONE, "+1 217 555 0123")],
    ),
    (
        {"PatientAddress": "12 Elm Street, Springfield, IL 62704"},
        "12 Elm Street, Springfield IL 62704; Elm Street",
        [(ADDRESS, "12 Elm Street"), (LOCATION, "Springfield"), (ADDRESS, "62704"), (ADDRESS, "Elm Street")],
    ),
    (
        {"InstitutionName": "St. Mary Hospital"},
        "Saint Mary Hospital; St Mary",
        [(FACILITY, "Saint Mary Hospital"), (FACILITY, "St Mary")],
    ),
    ({"PatientTelecomInformation": "jdoe@example.org"}, "mail JDOE@example.org", [(EMAIL, "JDOE@example.org")]),
    ({"CountryOfResidence": "New Zealand"}, "from new zealand", [(LOCATION, "new zealand")]),
    ({"PatientName": "DOE^JOHN"}, "No pneumothorax. Heart size normal.", []),
]


@pytest.mark.parametrize(
    ("header", "text", "expected"), CASES, ids=[f"{next(iter(h))}-{i}" for i, (h, _, _) in enumerate(CASES)]
)
def test_deny_list_recognizer(header: dict[str, Any], text: str, expected: list[tuple[str, str]]) -> None:
    rec = StudyContext.from_mapping(header).recognizer()
    assert detect(rec, text) == expected
    assert all(r.score == 1.0 for r in rec.analyze(text, [t for t, _ in expected]))


def test_deny_list_is_compiled_once_per_context() -> None:
    ctx = StudyContext.from_mapping({"PatientName": "DOE^JOHN"})
    assert ctx.recognizer() is ctx.recognizer()
    assert StudyContext.from_mapping({"PatientName": "DOE^JOHN"}).recognizer() is not ctx.recognizer()
    assert ctx.recognizer().name == "StudyDenyList"


# -- through the redactor -------------------------------------------------------------------------


def _header_dataset() -> Dataset:
    ds = Dataset()
    ds.PatientName = "DOE^JOHN^ALBERT"
    ds.PatientID = "E1234567"
    ds.OtherPatientIDs = ["QXZ123456789", "H7654321"]
    ds.AccessionNumber = "A20230314001"
    ds.PatientBirthDate = "19500102"
    ds.StudyDate = "20230314"
    ds.ReferringPhysicianName = "SMITH^JANE"
    ds.InstitutionName = "Mercy General Hospital"
    ds.PatientAddress = "12 Elm Street, Springfield, IL 62704"
    ds.PatientTelephoneNumbers = "(217) 555-0123"
    item = Dataset()
    item.AccessionNumber = "R99887766"
    ds.RequestAttributesSequence = [item]
    ds.StudyDescription = "CHEST PA AND LATERAL"  # not a deny-list source
    return ds


HEADER_FORMS = [
    "JOHN DOE",
    "Doe, John A.",
    "J. Doe",
    "DOE^JOHN^ALBERT",
    "Mr. Doe",
    "John",
    "Albert",
    "E1234567",
    "1234567",
    "QXZ123456789",
    "H7654321",
    "A20230314001",
    "R99887766",
    "01/02/1950",
    "January 2, 1950",
    "2 Jan 1950",
    "1950-01-02",
    "March 14, 2023",
    "14-MAR-2023",
    "Jane Smith",
    "Mercy General",
    "12 Elm Street",
    "Springfield",
    "62704",
    "217-555-0123",
    "555-0123",
]


def test_deny_list_from_dataset_removes_every_form(redactor: TextRedactor) -> None:
    ctx = StudyContext.from_dataset(_header_dataset())
    text = " ; ".join(f"value {form} here" for form in HEADER_FORMS)
    out = redactor.redact(text, ctx).text
    for form in HEADER_FORMS:
        assert form not in out, form
    assert "CHEST PA AND LATERAL" not in [v for _, v in ctx.values]


def test_deny_list_from_mapping_matches_dataset() -> None:
    ds = _header_dataset()
    mapping = {kw: ds.get(kw) for kw in ("PatientName", "PatientID", "PatientBirthDate")}
    mapping = {k: (str(v) if not isinstance(v, list) else v) for k, v in mapping.items()}
    a = StudyContext.from_mapping(mapping)
    assert ("PERSON", "DOE^JOHN^ALBERT") in a.values  # PN kept whole, not split into characters
    assert set(a.values) <= set(StudyContext.from_dataset(ds).values)


def test_deny_list_wins_over_clinical_vocabulary(redactor: TextRedactor) -> None:
    ctx = StudyContext.from_mapping({"PatientName": "FOLEY^ROSE"})
    out = redactor.redact("Foley catheter in place. Temperature rose overnight. Rose Foley seen.", ctx).text
    assert "Foley" not in out  # the patient's name, even in the device
    assert "Temperature rose" in out  # a name part that is a word is matched as a name only


def test_study_context_rejects_unknown_keywords_without_echo() -> None:
    with pytest.raises(TextRedactionError, match="PatientNmae"):
        StudyContext.from_mapping({"PatientNmae": "DOE^JOHN"})
    with pytest.raises(TextRedactionError) as info:
        StudyContext.from_mapping({"John Doe 1950": "x"})
    assert "John" not in str(info.value)
    with pytest.raises(TextRedactionError):
        StudyContext.from_mapping({"PatientName": {"nested": 1}})
    with pytest.raises(TextRedactionError):
        StudyContext((("NOT_A_TYPE", "x"),))
    assert not StudyContext.from_mapping({"PatientName": "", "PatientID": None})


# -- properties -----------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    data=st.data(),
    mrn=st.from_regex(r"[A-Z]?[1-9]\d{6,9}", fullmatch=True),
    dob=st.dates(date(1920, 1, 1), date(2010, 12, 31)),
    seed=st.integers(0, 2**16),
)
def test_every_planted_header_value_is_gone(
    redactor: TextRedactor,
    eval_names: tuple[list[str], list[str]],
    data: st.DataObject,
    mrn: str,
    dob: date,
    seed: int,
) -> None:
    first = data.draw(st.sampled_from(eval_names[0]), label="first")
    last = data.draw(st.sampled_from(eval_names[1]), label="last")
    rng = random.Random(seed)
    name = rng.choice(
        [
            f"{first} {last}",
            f"{last}, {first}",
            f"{last.upper()}^{first.upper()}",
            f"{first[0]}. {last}",
        ]
    )
    born = format_date(dob, rng)
    text = f"CXR {name}. Patient {last} (ID {mrn}) born {born}. {clinical_text(rng, 2)[0]}"
    ctx = StudyContext.from_mapping(
        {
            "PatientName": f"{last}^{first}",
            "PatientID": mrn,
            "PatientBirthDate": dob.strftime("%Y%m%d"),
        }
    )
    out = redactor.redact(text, ctx).text
    for value in (name, mrn, born):
        assert value not in out
    for part in (first, last):
        assert not re.search(rf"(?<!\w){re.escape(part)}(?!\w)", out), part


@pytest.mark.parametrize(
    ("tag", "vr", "raw"),
    [
        (0x00280010, "US", b"\x01\x02\x03"),  # a US of 3 bytes (found by tools/hostile_corpus.py)
        (0x02005501, "S\x02", b"abcd"),  # an unknown VR
    ],
)
def test_context_skips_an_element_it_cannot_decode_and_keeps_the_rest(tag: int, vr: str, raw: bytes) -> None:
    ds = Dataset()
    ds.PatientName = "DOE^JOHN"
    ds[tag] = RawDataElement(tag, vr, len(raw), raw, 0, False, True)  # type: ignore[assignment]
    assert (PERSON, "DOE^JOHN") in StudyContext.from_dataset(ds).values
