"""`appliance.envelope.format`: structural checks, the plaintext JSON and the signed message."""

from __future__ import annotations

import dataclasses

import pytest

from appliance.envelope import (
    ECIES_OVERHEAD,
    Envelope,
    MalformedEnvelope,
    ReportPayload,
    check_structure,
    payload_from_json,
    payload_to_json,
    signed_message,
)

from .conftest import ACCESSION, FINDINGS, make_payload


def test_payload_repr_hides_report_text():
    text = repr(make_payload())
    assert FINDINGS not in text and ACCESSION not in text and "rep-1" in text


# --- validation -------------------------------------------------------------


@pytest.mark.parametrize(
    "changes",
    [
        {"report_id": ""},
        {"report_id": "has space"},
        {"recipient_id": "dr-ä"},
        {"key_id": "x" * 257},
        {"created_at": "2024-01-31 12:00:00"},
        {"created_at": "2024-01-31T12:00:00+01:00"},
        {"ciphertext": b"\x04" * ECIES_OVERHEAD},
        {"signature": b"\x00" * 63},
        {"format_version": True},
    ],
)
def test_check_structure_rejects(sealed, changes):
    with pytest.raises(MalformedEnvelope):
        check_structure(dataclasses.replace(sealed, **changes))


@pytest.mark.parametrize(
    "data",
    [
        b"not json",
        b"\xff\xfe",
        b"[]",
        b'{"report_id": "x"}',
    ],
)
def test_payload_from_json_rejects(data):
    with pytest.raises(MalformedEnvelope):
        payload_from_json(data)


def test_payload_from_json_rejects_extra_and_non_string_fields():
    good = dataclasses.asdict(make_payload())
    import json

    with pytest.raises(MalformedEnvelope):
        payload_from_json(json.dumps({**good, "extra": "x"}).encode())
    with pytest.raises(MalformedEnvelope):
        payload_from_json(json.dumps({**good, "findings": 1}).encode())


# --- canonical encodings ----------------------------------------------------


# Computed with the single-module appliance/envelope.py before the package split.
_PAYLOAD = ReportPayload(
    report_id="rep-golden",
    recipient_id="dr-a",
    study_pseudonym="PSN-0001",
    accession_number="ACC-1",
    study_date="20240131",
    findings="Clear lungs. \u00fc",
    impression="Normal.",
    bundle_id="cxr-demo-1",
    created_at="2025-01-31T12:00:00.000001Z",
)


def test_payload_json_is_byte_identical_to_format_v1():
    assert payload_to_json(_PAYLOAD) == (
        b'{"accession_number":"ACC-1","bundle_id":"cxr-demo-1","created_at":"2025-01-31T12:00:00.000001Z",'
        b'"findings":"Clear lungs. \xc3\xbc","impression":"Normal.","recipient_id":"dr-a","report_id":"rep-golden",'
        b'"study_date":"20240131","study_pseudonym":"PSN-0001"}'
    )


def test_signed_message_layout():
    envelope = Envelope(1, "r", "dr-a", "p", "b", "2025-01-31T12:00:00Z", "k", b"\x04" * 94, b"")
    assert signed_message(envelope) == (
        b"securemed-edge/envelope/v1\x00"
        + b"\x00\x00\x00\x01"
        + b"\x00\x00\x00\x01r"
        + b"\x00\x00\x00\x04dr-a"
        + b"\x00\x00\x00\x01p"
        + b"\x00\x00\x00\x01b"
        + b"\x00\x00\x00\x142025-01-31T12:00:00Z"
        + b"\x00\x00\x00\x01k"
        + b"\x00\x00\x00\x5e"
        + b"\x04" * 94
    )
