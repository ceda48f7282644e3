"""The redactor (deid/text/redactor.py): merged entities, clinical text that survives, the API,
JSON lines, and properties over generated clinical text."""

from __future__ import annotations

import json
import random
import socket

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from deid.text import (
    ADDRESS,
    DATE,
    FACILITY,
    ID,
    LOCATION,
    MRN,
    PERSON,
    PHONE,
    Entity,
    StudyContext,
    TextRedactionError,
    TextRedactor,
    redact_jsonl,
)
from tests.deid.text.helpers import found
from training.phi_corpus import KNOWN_SENTENCES, clinical_text

#: (text, the entities the redactor reports). Overlapping detections of several rules or
#: recognizers merge into one entity, typed by the longest confident detection.
MERGED: list[tuple[str, list[tuple[str, str]]]] = [
    ("Comparison 14-MAR-2023.", [(DATE, "14-MAR-2023")]),  # day-month-year and month-year rules
    ("Call (405) 714-9506 tomorrow", [(PHONE, "(405) 714-9506")]),  # NANP and local rules
    ("Encounter #: V1234567", [(ID, "V1234567")]),  # labelled and prefixed-code rules
    ("Patient ID: 12345678", [(MRN, "12345678")]),  # MRN (0.95) over ID and long number
    ("Home: 4059 N Walton Walk, Apt 4B, alone.", [(ADDRESS, "4059 N Walton Walk, Apt 4B")]),
    ("Radiology, Springfield, IL 62704.", [(LOCATION, "Springfield"), (ADDRESS, "62704")]),
    (
        "Seen 03/14/2023 by Dr. Smith at Mercy General Hospital.",
        [(DATE, "03/14/2023"), (PERSON, "Smith"), (FACILITY, "Mercy General Hospital")],
    ),
    ("Dr. Maria Okafor 405-714-9506", [(PERSON, "Maria Okafor"), (PHONE, "405-714-9506")]),
    ("No acute cardiopulmonary abnormality.", []),
]


@pytest.mark.parametrize(("text", "expected"), MERGED)
def test_overlapping_detections_merge(redactor: TextRedactor, text: str, expected: list[tuple[str, str]]) -> None:
    assert found(redactor, text) == expected


def test_entity_types_are_specific(redactor: TextRedactor) -> None:
    text = "MRN: 00123456. Accession #: A16527841. Call (405) 714-9506. Seen 03/14/2023 by Dr. Smith."
    types = {t for t, _ in found(redactor, text)}
    assert {"MRN", "ACCESSION", "PHONE", "DATE", "PERSON"} <= types


# -- clinical terms -------------------------------------------------------------------------------

CLINICAL = [
    "Right lower lobe consolidation.",
    "No pneumothorax.",
    "History of Parkinson disease.",
    "Hodgkin lymphoma status post radiation.",
    "Down syndrome with repaired AV canal.",
    "Foley catheter in place.",
    "Swan-Ganz catheter tip in the right pulmonary artery.",
    "Kerley B lines compatible with interstitial edema.",
    "PA and lateral views of the chest.",
    "Marker L on the left; R marker partially excluded.",
    "Endotracheal tube tip is 4 cm above the carina.",
    "There is a 5 mm nodule in the left upper lobe.",
    "Patient on Lasix, Eliquis and vancomycin.",
    "Hickman catheter and Greenfield filter in expected position.",
    "Crohn's disease on prednisone.",
    "Follow-up per Fleischner Society guidelines.",
    "Cheyne-Stokes respirations overnight.",
    "Degenerative changes at L4-L5 and C6-C7.",
    "SpO2 92% on 2 L nasal cannula. BP 128/76, HR 88.",
    "2/6 systolic murmur. NYHA class III heart failure.",
    "FINDINGS: Heart size is normal. IMPRESSION: No acute cardiopulmonary abnormality.",
    "CHEST PA AND LATERAL. HX: PNA. R/O EFFUSION.",
    "Post-operative day 2 after CABG. Fever for 2 days.",
    "Jackson-Pratt drain and Salem sump in place.",
]


@pytest.mark.parametrize("text", CLINICAL)
def test_clinical_terms_survive(redactor: TextRedactor, text: str) -> None:
    assert redactor.redact(text).text == text


@pytest.mark.parametrize("sentence", KNOWN_SENTENCES)
def test_known_corpus_sentences_survive_in_any_case(redactor: TextRedactor, sentence: str) -> None:
    plain = sentence.replace("[[", "").replace("]]", "")
    for text in (plain, plain.upper()):
        assert redactor.redact(text).text == text


# -- API ------------------------------------------------------------------------------------------


def test_redact_replaces_with_typed_placeholders_and_keeps_offsets(redactor: TextRedactor) -> None:
    text = "Discussed with Dr. Alan Brown on 03/14/2023."
    result = redactor.redact(text)
    assert result.text == "Discussed with Dr. [PERSON] on [DATE]."
    assert [text[e.start : e.end] for e in result.entities] == ["Alan Brown", "03/14/2023"]
    assert all(isinstance(e, Entity) and 0 < e.score <= 1 for e in result.entities)


def test_text_cleaner_is_a_str_to_str_hook(redactor: TextRedactor) -> None:
    ctx = StudyContext.from_mapping({"PatientName": "DOE^JOHN", "PatientID": "E1234567"})
    clean = redactor.text_cleaner(ctx)
    assert clean("CXR DOE JOHN E1234567") == "CXR [PERSON] [MRN]"
    assert clean("") == ""


def test_analyze_rejects_non_text(redactor: TextRedactor) -> None:
    with pytest.raises(TextRedactionError):
        redactor.analyze(b"bytes")  # type: ignore[arg-type]
    with pytest.raises(TextRedactionError):
        redactor.analyze("text", {"PatientName": "DOE"})  # type: ignore[arg-type]


def test_building_and_running_needs_no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("network access attempted")

    import spacy.cli

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(spacy.cli, "download", refuse)
    fresh = TextRedactor()
    out = fresh.redact("Mail jdoe@example.org or see https://example.org, Dr. Smith.").text
    assert out == "Mail [EMAIL] or see [URL], Dr. [PERSON]."


# -- JSON lines -----------------------------------------------------------------------------------


def test_redact_jsonl_keeps_order_offsets_and_reports_bad_lines(redactor: TextRedactor) -> None:
    first = "Seen by Dr. Smith on 03/14/2023."
    lines = [
        json.dumps({"text": first, "id": 7}),
        "not json\n",
        json.dumps(["a list"]),
        json.dumps({"txt": "missing"}),
        "",
        json.dumps({"text": "CXR DOE JOHN", "context": {"PatientName": "DOE^JOHN"}}),
        json.dumps({"text": "x", "context": {"Bogus Key": "v"}}),
        json.dumps({"text": "No pneumothorax."}),
    ]
    out = [json.loads(o) for o in redact_jsonl(lines, redactor)]
    assert len(out) == len(lines)
    assert out[0]["text"] == "Seen by Dr. [PERSON] on [DATE]." and out[0]["id"] == 7
    assert [first[e["start"] : e["end"]] for e in out[0]["entities"]] == ["Smith", "03/14/2023"]
    assert set(out[0]["entities"][0]) == {"type", "start", "end", "score"}
    assert out[1] == {"error": "line 2: not JSON"}
    assert out[2] == {"error": "line 3: expected a JSON object"}
    assert out[3] == {"error": 'line 4: "text" must be a string'}
    assert out[4] == {"error": "line 5: empty line"}
    assert out[5]["text"] == "CXR [PERSON]"
    assert out[6]["error"].startswith("line 7: context: unknown DICOM keyword") and "Bogus" not in out[6]["error"]
    assert out[7] == {"text": "No pneumothorax.", "entities": []}


# -- properties -----------------------------------------------------------------------------------

_SIZES = st.one_of(st.integers(1, 99).map(str), st.floats(0.1, 20.0).map(lambda f: f"{f:.1f}"))
_MEASURED = st.builds(
    lambda size, unit, what, side, where: f"There is a {size} {unit} {what} in the {side} {where}.",
    _SIZES,
    st.sampled_from(["mm", "cm"]),
    st.sampled_from(["nodule", "mass", "opacity", "cyst", "effusion"]),
    st.sampled_from(["right", "left"]),
    st.sampled_from(["upper lobe", "lower lobe", "lung base", "apex", "hilum"]),
)
_DURATION = st.builds(
    lambda n, unit, what: f"{what.capitalize()} for {n} {unit}.",
    st.integers(1, 30),
    st.sampled_from(["days", "weeks", "months", "hours"]),
    st.sampled_from(["cough", "fever", "dyspnea", "chest pain"]),
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    seed=st.integers(0, 2**32 - 1),
    n=st.integers(1, 5),
    extra=st.lists(st.one_of(_MEASURED, _DURATION), max_size=3),
)
def test_phi_free_clinical_text_comes_back_unchanged(
    redactor: TextRedactor, seed: int, n: int, extra: list[str]
) -> None:
    text, _ = clinical_text(random.Random(seed), n)
    text = " ".join([text, *extra])
    assert redactor.redact(text).text == text
