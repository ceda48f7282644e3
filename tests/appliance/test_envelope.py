"""Sealed envelopes: real eciespy + Ed25519, no mocks."""

from __future__ import annotations

import dataclasses
import os
import stat
from pathlib import Path

import ecies
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.envelope import (
    ECIES_OVERHEAD,
    FORMAT_VERSION,
    BadSignature,
    DecryptionFailed,
    EciesKeyPair,
    Envelope,
    EnvelopeError,
    InconsistentPayload,
    KeyFileError,
    MalformedEnvelope,
    ReportPayload,
    WrongRecipient,
    check_structure,
    ecies_public_key,
    generate_ecies_keypair,
    generate_signing_key,
    key_id_for,
    load_ecies_private_key,
    load_ecies_public_key,
    load_signing_key,
    load_verify_key,
    open_envelope,
    payload_from_json,
    payload_to_json,
    save_ecies_private_key,
    save_ecies_public_key,
    save_signing_key,
    save_verify_key,
    seal,
    sign_envelope,
    signed_message,
    utc_now,
    verify_envelope,
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
        report_id=report_id, recipient_id=recipient_id, study_pseudonym="PSN-0001",
        accession_number=ACCESSION, study_date="20240131", findings=FINDINGS,
        impression="No acute disease.", bundle_id="cxr-demo-1", created_at=utc_now(),
    )
    return dataclasses.replace(base, **changes)


@pytest.fixture(scope="module")
def sealed(dr_a, appliance_key, key_id) -> Envelope:
    return seal(make_payload(), "dr-a", dr_a.public_key, appliance_key, key_id)


def all_bytes(envelope: Envelope) -> bytes:
    return signed_message(envelope) + envelope.signature


# --- round trip -------------------------------------------------------------

ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=40)


@settings(max_examples=40, deadline=None)
@given(report_id=ids, pseudonym=ids, accession=st.text(max_size=64), findings=st.text(max_size=2000),
       impression=st.text(max_size=500), study_date=st.text(max_size=8))
def test_round_trip_any_text(dr_a, appliance_key, key_id, trusted, report_id, pseudonym, accession,
                             findings, impression, study_date):
    payload = make_payload(report_id=report_id, study_pseudonym=pseudonym, accession_number=accession,
                           findings=findings, impression=impression, study_date=study_date)
    envelope = seal(payload, "dr-a", dr_a.public_key, appliance_key, key_id)
    assert open_envelope(envelope, dr_a.private_key, trusted, "dr-a") == payload
    assert payload_from_json(payload_to_json(payload)) == payload


def test_outer_fields_mirror_payload(sealed, key_id):
    assert (sealed.format_version, sealed.report_id, sealed.recipient_id, sealed.study_pseudonym,
            sealed.bundle_id, sealed.key_id) == (FORMAT_VERSION, "rep-1", "dr-a", "PSN-0001",
                                                 "cxr-demo-1", key_id)
    assert len(sealed.signature) == 64


def test_plaintext_never_in_envelope(sealed):
    blob = all_bytes(sealed)
    for secret in (FINDINGS, ACCESSION, "No acute disease.", "20240131"):
        assert secret.encode("utf-8") not in blob
    assert b"Findings-7f3a" not in blob


def test_ecies_parameters_are_pinned(sealed):
    plaintext_len = len(payload_to_json(make_payload(created_at=sealed.created_at)))
    # uncompressed ephemeral key (65) + 12-byte nonce + 16-byte tag + AES-GCM ciphertext
    assert len(sealed.ciphertext) == ECIES_OVERHEAD + plaintext_len == 65 + 12 + 16 + plaintext_len
    assert sealed.ciphertext[0] == 0x04


def test_library_defaults_do_not_decrypt(sealed, dr_a):
    # eciespy's default config (16-byte nonce) must not be what we use.
    with pytest.raises(ValueError):
        ecies.decrypt(dr_a.private_key, sealed.ciphertext, config=ecies.config.Config())


def test_global_ecies_config_is_ignored(dr_a, appliance_key, key_id, trusted):
    saved = dataclasses.replace(ecies.ECIES_CONFIG)
    try:
        ecies.ECIES_CONFIG.is_ephemeral_key_compressed = True
        ecies.ECIES_CONFIG.symmetric_nonce_length = 16
        envelope = seal(make_payload(), "dr-a", dr_a.public_key, appliance_key, key_id)
        assert envelope.ciphertext[0] == 0x04
        assert open_envelope(envelope, dr_a.private_key, trusted, "dr-a").findings == FINDINGS
    finally:
        for field in dataclasses.fields(saved):
            setattr(ecies.ECIES_CONFIG, field.name, getattr(saved, field.name))


def test_payload_repr_hides_report_text():
    text = repr(make_payload())
    assert FINDINGS not in text and ACCESSION not in text and "rep-1" in text


# --- tampering --------------------------------------------------------------

def test_every_ciphertext_byte_tamper_rejected(sealed, dr_a, trusted):
    for i in range(len(sealed.ciphertext)):
        ct = bytearray(sealed.ciphertext)
        ct[i] ^= 0x01
        with pytest.raises(BadSignature):
            open_envelope(dataclasses.replace(sealed, ciphertext=bytes(ct)), dr_a.private_key, trusted, "dr-a")


def test_every_signature_byte_tamper_rejected(sealed, dr_a, trusted):
    for i in range(len(sealed.signature)):
        sig = bytearray(sealed.signature)
        sig[i] ^= 0x80
        with pytest.raises(BadSignature):
            open_envelope(dataclasses.replace(sealed, signature=bytes(sig)), dr_a.private_key, trusted, "dr-a")


@pytest.mark.parametrize("field", ["report_id", "recipient_id", "study_pseudonym", "bundle_id",
                                   "created_at", "key_id"])
def test_every_id_character_tamper_rejected(sealed, dr_a, trusted, field):
    value = getattr(sealed, field)
    for i in range(len(value)):
        replacement = "7" if value[i] != "7" else "8"
        tampered = dataclasses.replace(sealed, **{field: value[:i] + replacement + value[i + 1:]})
        with pytest.raises(EnvelopeError):
            open_envelope(tampered, dr_a.private_key, trusted, "dr-a")


@settings(max_examples=200, deadline=None)
@given(data=st.data())
def test_any_single_byte_change_rejected(sealed, dr_a, trusted, data):
    field = data.draw(st.sampled_from(["ciphertext", "signature"]))
    value = bytearray(getattr(sealed, field))
    i = data.draw(st.integers(0, len(value) - 1))
    value[i] ^= data.draw(st.integers(1, 255))
    with pytest.raises(BadSignature):
        open_envelope(dataclasses.replace(sealed, **{field: bytes(value)}), dr_a.private_key, trusted, "dr-a")


@pytest.mark.parametrize("change", [
    lambda ct: ct[:-1],
    lambda ct: ct + b"\x00",
    lambda ct: ct[1:],
])
def test_truncated_or_extended_ciphertext_rejected(sealed, dr_a, trusted, change):
    with pytest.raises(EnvelopeError):
        open_envelope(dataclasses.replace(sealed, ciphertext=change(sealed.ciphertext)),
                      dr_a.private_key, trusted, "dr-a")


def test_format_version_change_rejected(sealed, dr_a, trusted):
    with pytest.raises(MalformedEnvelope):
        open_envelope(dataclasses.replace(sealed, format_version=2), dr_a.private_key, trusted, "dr-a")


# --- swaps and wrong keys ---------------------------------------------------

def test_ciphertext_moved_to_another_envelope_rejected(dr_a, appliance_key, key_id, trusted):
    one = seal(make_payload("rep-1"), "dr-a", dr_a.public_key, appliance_key, key_id)
    two = seal(make_payload("rep-2"), "dr-a", dr_a.public_key, appliance_key, key_id)
    with pytest.raises(BadSignature):
        open_envelope(dataclasses.replace(one, ciphertext=two.ciphertext), dr_a.private_key, trusted, "dr-a")
    with pytest.raises(BadSignature):
        open_envelope(dataclasses.replace(one, signature=two.signature), dr_a.private_key, trusted, "dr-a")


def test_envelope_readdressed_to_other_recipient_rejected(dr_a, dr_b, appliance_key, key_id, trusted):
    for_b = seal(make_payload(recipient_id="dr-b"), "dr-b", dr_b.public_key, appliance_key, key_id)
    with pytest.raises(WrongRecipient):
        open_envelope(for_b, dr_a.private_key, trusted, "dr-a")
    with pytest.raises(BadSignature):
        open_envelope(dataclasses.replace(for_b, recipient_id="dr-a"), dr_a.private_key, trusted, "dr-a")


def test_wrong_private_key_rejected(sealed, dr_b, trusted):
    with pytest.raises(DecryptionFailed):
        open_envelope(sealed, dr_b.private_key, trusted, "dr-a")


def test_untrusted_appliance_key_rejected(sealed, dr_a, key_id):
    impostor = generate_signing_key().public_key()
    with pytest.raises(BadSignature):
        open_envelope(sealed, dr_a.private_key, {key_id: impostor}, "dr-a")
    with pytest.raises(BadSignature):
        open_envelope(sealed, dr_a.private_key, {}, "dr-a")


def test_forged_by_other_key_rejected(dr_a, key_id, trusted):
    forger = generate_signing_key()
    forged = seal(make_payload(), "dr-a", dr_a.public_key, forger, key_id)
    with pytest.raises(BadSignature):
        open_envelope(forged, dr_a.private_key, trusted, "dr-a")


def test_inner_ids_must_match_signed_outer_ids(dr_a, appliance_key, key_id, trusted):
    envelope = seal(make_payload("rep-1"), "dr-a", dr_a.public_key, appliance_key, key_id)
    relabelled = sign_envelope(dataclasses.replace(envelope, report_id="rep-2"), appliance_key)
    verify_envelope(relabelled, trusted, "dr-a")  # outer part is validly signed ...
    with pytest.raises(InconsistentPayload):  # ... but the payload says otherwise
        open_envelope(relabelled, dr_a.private_key, trusted, "dr-a")
    # payload meant for dr-b, encrypted to dr-a's key and signed as dr-a's
    inner_b = seal(make_payload(recipient_id="dr-b"), "dr-b", dr_a.public_key, appliance_key, key_id)
    readdressed = sign_envelope(dataclasses.replace(inner_b, recipient_id="dr-a"), appliance_key)
    with pytest.raises(WrongRecipient):
        open_envelope(readdressed, dr_a.private_key, trusted, "dr-a")


# --- validation -------------------------------------------------------------

@pytest.mark.parametrize("changes", [
    {"report_id": ""},
    {"report_id": "has space"},
    {"recipient_id": "dr-ä"},
    {"key_id": "x" * 257},
    {"created_at": "2024-01-31 12:00:00"},
    {"created_at": "2024-01-31T12:00:00+01:00"},
    {"ciphertext": b"\x04" * ECIES_OVERHEAD},
    {"signature": b"\x00" * 63},
    {"format_version": True},
])
def test_check_structure_rejects(sealed, changes):
    with pytest.raises(MalformedEnvelope):
        check_structure(dataclasses.replace(sealed, **changes))


@pytest.mark.parametrize("data", [
    b"not json",
    b"\xff\xfe",
    b"[]",
    b'{"report_id": "x"}',
])
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


def test_seal_refuses_inconsistent_arguments(dr_a, appliance_key, key_id):
    with pytest.raises(ValueError):
        seal(make_payload(recipient_id="dr-b"), "dr-a", dr_a.public_key, appliance_key, key_id)
    with pytest.raises(ValueError):
        seal(make_payload(), "dr-a", b"\x04" + b"\x01" * 64, appliance_key, key_id)
    with pytest.raises(ValueError):
        seal(make_payload(report_id="bad id"), "dr-a", dr_a.public_key, appliance_key, key_id)


def test_empty_secret_is_not_silently_replaced():
    with pytest.raises(ValueError):
        ecies_public_key(b"")


# --- key files --------------------------------------------------------------

def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_ecies_key_files_round_trip(tmp_path, dr_a):
    save_ecies_private_key(tmp_path / "dr-a.key", dr_a.private_key)
    save_ecies_public_key(tmp_path / "dr-a.pub", dr_a.public_key)
    assert _mode(tmp_path / "dr-a.key") == 0o600
    assert load_ecies_private_key(tmp_path / "dr-a.key") == dr_a.private_key
    assert load_ecies_public_key(tmp_path / "dr-a.pub") == dr_a.public_key
    assert ecies_public_key(dr_a.private_key) == dr_a.public_key


def test_signing_key_files_round_trip(tmp_path, appliance_key, key_id):
    save_signing_key(tmp_path / "appliance.pem", appliance_key)
    save_verify_key(tmp_path / "appliance.pub.pem", appliance_key.public_key())
    assert _mode(tmp_path / "appliance.pem") == 0o600
    loaded = load_signing_key(tmp_path / "appliance.pem")
    assert key_id_for(loaded.public_key()) == key_id
    assert key_id_for(load_verify_key(tmp_path / "appliance.pub.pem")) == key_id


def test_group_readable_private_key_refused(tmp_path, dr_a, appliance_key):
    save_ecies_private_key(tmp_path / "k", dr_a.private_key)
    save_signing_key(tmp_path / "s", appliance_key)
    for path, loader in ((tmp_path / "k", load_ecies_private_key), (tmp_path / "s", load_signing_key)):
        os.chmod(path, 0o640)
        with pytest.raises(KeyFileError):
            loader(path)
        assert loader(path, allow_insecure_permissions=True)


@pytest.mark.parametrize("content", [b"", b"zz", b"00" * 31, b"00" * 32, b"ff" * 32])
def test_malformed_ecies_private_key_file(tmp_path, content):
    path = tmp_path / "k"
    path.write_bytes(content)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError):
        load_ecies_private_key(path)


def test_signing_key_loader_rejects_other_key_types(tmp_path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    path = tmp_path / "ec.pem"
    path.write_bytes(pem)
    os.chmod(path, 0o600)
    with pytest.raises(KeyFileError):
        load_signing_key(path)
    with pytest.raises(KeyFileError):
        load_signing_key(tmp_path / "missing.pem")
