"""Shared fixtures for the delivery tests: a dev PKI, appliance and clinician keys, a store."""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Callable
from dataclasses import dataclass

import pytest

import appliance.delivery  # noqa: F401  (before anything imports grpc: TLS 1.2 policy)
from appliance.delivery.pki import DevPKIPaths, create_dev_pki
from appliance.delivery.store import EnvelopeStore
from appliance.envelope import (
    EciesKeyPair,
    Envelope,
    ReportPayload,
    generate_ecies_keypair,
    generate_signing_key,
    key_id_for,
    seal,
    utc_now,
)

SECRET_FINDINGS = "SECRET-FINDINGS-3b1f: right lower lobe consolidation"
SECRET_ACCESSION = "ACC-SECRET-4242"


@pytest.fixture(scope="session")
def pki(tmp_path_factory) -> DevPKIPaths:
    return create_dev_pki(tmp_path_factory.mktemp("pki"), clinicians=("dr-a", "dr-b"))


@pytest.fixture(scope="session")
def other_pki(tmp_path_factory) -> DevPKIPaths:
    """A second, unrelated CA issuing the same names."""
    return create_dev_pki(tmp_path_factory.mktemp("other-pki"), clinicians=("dr-a",))


@dataclass(frozen=True)
class Keys:
    signing_key: object
    key_id: str
    ecies: dict[str, EciesKeyPair]

    @property
    def trusted(self) -> dict:
        return {self.key_id: self.signing_key.public_key()}


@pytest.fixture(scope="session")
def keys() -> Keys:
    signing = generate_signing_key()
    return Keys(
        signing, key_id_for(signing.public_key()), {"dr-a": generate_ecies_keypair(), "dr-b": generate_ecies_keypair()}
    )


_counter = itertools.count(1)


@pytest.fixture(scope="session")
def make_envelope(keys) -> Callable[..., tuple[ReportPayload, Envelope]]:
    def make(recipient: str = "dr-a", report_id: str | None = None, **changes) -> tuple[ReportPayload, Envelope]:
        payload = ReportPayload(
            report_id=report_id or f"rep-{next(_counter):05d}",
            recipient_id=recipient,
            study_pseudonym=f"PSN-{next(_counter):05d}",
            accession_number=SECRET_ACCESSION,
            study_date="20240131",
            findings=SECRET_FINDINGS,
            impression="Pneumonia likely.",
            bundle_id="cxr-demo-1",
            created_at=utc_now(),
        )
        payload = dataclasses.replace(payload, **changes)
        return payload, seal(payload, recipient, keys.ecies[recipient].public_key, keys.signing_key, keys.key_id)

    return make


@pytest.fixture
def store(tmp_path) -> EnvelopeStore:
    s = EnvelopeStore(tmp_path / "envelopes.db", poll_interval=0.05)
    yield s
    s.close()
