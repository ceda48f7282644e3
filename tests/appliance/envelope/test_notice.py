"""Payload kinds of issue 11: the withheld notice and the indication fields. Old plaintext still
parses, a notice can never carry report text, and the fields travel inside the signed ciphertext."""

from __future__ import annotations

import dataclasses
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.envelope import (
    BadSignature,
    MalformedEnvelope,
    ReportPayload,
    open_envelope,
    payload_from_json,
    payload_to_json,
    seal,
    sign_envelope,
)

from .conftest import make_payload

V1_FIELDS = (
    "report_id",
    "recipient_id",
    "study_pseudonym",
    "accession_number",
    "study_date",
    "findings",
    "impression",
    "bundle_id",
    "created_at",
)

codes = st.lists(st.from_regex(r"[a-z0-9][a-z0-9-]{0,20}", fullmatch=True), max_size=5).map(tuple)


def test_a_payload_of_the_first_version_parses_as_a_report_without_indication() -> None:
    old = {name: getattr(make_payload(), name) for name in V1_FIELDS}
    parsed = payload_from_json(json.dumps(old).encode())
    assert (parsed.kind, parsed.reason_codes, parsed.indication, parsed.indication_codes) == (
        "report",
        (),
        "absent",
        (),
    )
    assert not parsed.is_notice


def test_a_plain_report_encodes_exactly_the_first_versions_fields() -> None:
    assert set(json.loads(payload_to_json(make_payload()))) == set(V1_FIELDS)


@settings(max_examples=60, deadline=None)
@given(
    kind=st.sampled_from(["report", "withheld-notice"]),
    reasons=codes,
    indication=st.sampled_from(["used", "withheld", "absent"]),
    indication_codes=codes,
)
def test_every_valid_payload_round_trips(
    kind: str, reasons: tuple[str, ...], indication: str, indication_codes: tuple[str, ...]
) -> None:
    changes: dict[str, object] = {
        "kind": kind,
        "reason_codes": reasons,
        "indication": indication,
        "indication_codes": indication_codes,
    }
    if kind == "withheld-notice":
        changes.update(findings="", impression="", reason_codes=reasons or ("contradiction",))
    if indication == "withheld" and not indication_codes:
        changes["indication_codes"] = ("injection-override",)
    payload = make_payload(**changes)
    assert payload_from_json(payload_to_json(payload)) == payload


@pytest.mark.parametrize(
    "changes",
    [
        {"kind": "draft"},
        {"indication": "maybe"},
        {"kind": "withheld-notice", "reason_codes": ("contradiction",)},  # still carries the findings
        {"kind": "withheld-notice", "findings": "", "impression": ""},  # no codes
        {"reason_codes": ("Not A Code",)},
        {"indication_codes": ("ok", "")},
        {"indication": "withheld"},  # without its codes
        {"reason_codes": ("x",) * 65},
    ],
)
def test_invalid_payloads_are_refused_when_built_and_when_parsed(changes: dict[str, object]) -> None:
    with pytest.raises(MalformedEnvelope):
        make_payload(**changes)
    raw = {**json.loads(payload_to_json(make_payload())), **changes}
    raw = {k: list(v) if isinstance(v, tuple) else v for k, v in raw.items()}
    with pytest.raises(MalformedEnvelope):
        payload_from_json(json.dumps(raw).encode())


@pytest.mark.parametrize("bad", [{"reason_codes": "contradiction"}, {"kind": 1}, {"indication_codes": [1]}])
def test_wrongly_typed_new_fields_are_refused(bad: dict[str, object]) -> None:
    raw = {**json.loads(payload_to_json(make_payload())), **bad}
    with pytest.raises(MalformedEnvelope):
        payload_from_json(json.dumps(raw).encode())


def _notice() -> ReportPayload:
    return make_payload(
        findings="",
        impression="",
        kind="withheld-notice",
        reason_codes=("contradiction", "laterality-mismatch"),
        indication="withheld",
        indication_codes=("injection-override",),
    )


def test_a_sealed_notice_opens_with_its_codes(dr_a, appliance_key, key_id, trusted) -> None:
    notice = _notice()
    envelope = seal(notice, "dr-a", dr_a.public_key, appliance_key, key_id)
    opened = open_envelope(envelope, dr_a.private_key, trusted, "dr-a")
    assert opened == notice and opened.is_notice


def test_the_signature_covers_the_kind_and_codes(dr_a, appliance_key, key_id, trusted) -> None:
    """Re-encrypting a report as a notice (or any payload change) needs the appliance's key: a
    relabelled ciphertext under the old signature is refused."""
    report = seal(make_payload(report_id="rep-k"), "dr-a", dr_a.public_key, appliance_key, key_id)
    relabelled = seal(
        dataclasses.replace(_notice(), report_id="rep-k", created_at=report.created_at),
        "dr-a",
        dr_a.public_key,
        appliance_key,
        key_id,
    )
    forged = dataclasses.replace(relabelled, signature=report.signature)
    with pytest.raises(BadSignature):
        open_envelope(forged, dr_a.private_key, trusted, "dr-a")
    assert sign_envelope(relabelled, appliance_key).signature == relabelled.signature  # Ed25519: deterministic
