"""Shared fixtures of the envelope tests: an appliance signing key, two clinicians, one sealed envelope."""

from __future__ import annotations

import dataclasses

import pytest

from appliance.envelope import (
    EciesKeyPair,
    Envelope,
    ReportPayload,
    generate_ecies_keypair,
    generate_signing_key,
    key_id_for,
    seal,
    signed_message,
    utc_now,
)

FINDINGS = "Findings-7f3a: small left apical pneumothorax, no effusion. Résumé ü 肺"
ACCESSION = "ACC-99812345"


@pytest.fixture(scope="module")
def appliance_key():
    return generate_signing_key()


@pytest.fixture(scope="module")
def trusted(appliance_key):
    return {key_id_for(appliance_key.public_key()): appliance_key.public_key()}


@pytest.fixture(scope="module")
def key_id(appliance_key):
    return key_id_for(appliance_key.public_key())


@pytest.fixture(scope="module")
def dr_a() -> EciesKeyPair:
    return generate_ecies_keypair()


@pytest.fixture(scope="module")
def dr_b() -> EciesKeyPair:
    return generate_ecies_keypair()


def make_payload(report_id: str = "rep-1", recipient_id: str = "dr-a", **changes) -> ReportPayload:
    base = ReportPayload(
        report_id=report_id,
        recipient_id=recipient_id,
        study_pseudonym="PSN-0001",
        accession_number=ACCESSION,
        study_date="20240131",
        findings=FINDINGS,
        impression="No acute disease.",
        bundle_id="cxr-demo-1",
        created_at=utc_now(),
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def sealed(dr_a, appliance_key, key_id) -> Envelope:
    return seal(make_payload(), "dr-a", dr_a.public_key, appliance_key, key_id)


def all_bytes(envelope: Envelope) -> bytes:
    return signed_message(envelope) + envelope.signature
