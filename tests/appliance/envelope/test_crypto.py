"""`appliance.envelope.crypto`: seal/open with real eciespy + Ed25519, no mocks: round trips, pinned
ECIES parameters, tampering, swaps and wrong keys, and an envelope sealed before the package split
(format version 1 must keep opening, and signatures must come out byte-identical)."""

from __future__ import annotations

import dataclasses
import hashlib

import ecies
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.envelope import (
    ECIES_OVERHEAD,
    FORMAT_VERSION,
    BadSignature,
    DecryptionFailed,
    Envelope,
    EnvelopeError,
    InconsistentPayload,
    MalformedEnvelope,
    ReportPayload,
    WrongRecipient,
    ecies_public_key,
    generate_signing_key,
    key_id_for,
    open_envelope,
    payload_from_json,
    payload_to_json,
    seal,
    sign_envelope,
    signed_message,
    verify_envelope,
)

from .conftest import ACCESSION, FINDINGS, all_bytes, make_payload

# --- round trip -------------------------------------------------------------


ids = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-._", min_size=1, max_size=40)


@settings(max_examples=40, deadline=None)
@given(
    report_id=ids,
    pseudonym=ids,
    accession=st.text(max_size=64),
    findings=st.text(max_size=2000),
    impression=st.text(max_size=500),
    study_date=st.text(max_size=8),
)
def test_round_trip_any_text(
    dr_a, appliance_key, key_id, trusted, report_id, pseudonym, accession, findings, impression, study_date
):
    payload = make_payload(
        report_id=report_id,
        study_pseudonym=pseudonym,
        accession_number=accession,
        findings=findings,
        impression=impression,
        study_date=study_date,
    )
    envelope = seal(payload, "dr-a", dr_a.public_key, appliance_key, key_id)
    assert open_envelope(envelope, dr_a.private_key, trusted, "dr-a") == payload
    assert payload_from_json(payload_to_json(payload)) == payload


def test_outer_fields_mirror_payload(sealed, key_id):
    assert (
        sealed.format_version,
        sealed.report_id,
        sealed.recipient_id,
        sealed.study_pseudonym,
        sealed.bundle_id,
        sealed.key_id,
    ) == (FORMAT_VERSION, "rep-1", "dr-a", "PSN-0001", "cxr-demo-1", key_id)
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


@pytest.mark.parametrize("field", ["report_id", "recipient_id", "study_pseudonym", "bundle_id", "created_at", "key_id"])
def test_every_id_character_tamper_rejected(sealed, dr_a, trusted, field):
    value = getattr(sealed, field)
    for i in range(len(value)):
        replacement = "7" if value[i] != "7" else "8"
        tampered = dataclasses.replace(sealed, **{field: value[:i] + replacement + value[i + 1 :]})
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


@pytest.mark.parametrize(
    "change",
    [
        lambda ct: ct[:-1],
        lambda ct: ct + b"\x00",
        lambda ct: ct[1:],
    ],
)
def test_truncated_or_extended_ciphertext_rejected(sealed, dr_a, trusted, change):
    with pytest.raises(EnvelopeError):
        open_envelope(
            dataclasses.replace(sealed, ciphertext=change(sealed.ciphertext)), dr_a.private_key, trusted, "dr-a"
        )


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


def test_seal_refuses_inconsistent_arguments(dr_a, appliance_key, key_id):
    with pytest.raises(ValueError):
        seal(make_payload(recipient_id="dr-b"), "dr-a", dr_a.public_key, appliance_key, key_id)
    with pytest.raises(ValueError):
        seal(make_payload(), "dr-a", b"\x04" + b"\x01" * 64, appliance_key, key_id)
    with pytest.raises(ValueError):
        seal(make_payload(report_id="bad id"), "dr-a", dr_a.public_key, appliance_key, key_id)


# --- compatibility ----------------------------------------------------------


# Sealed by the single-module appliance/envelope.py (before the package split) with
# the GOLDEN_* keys below. ECIES is randomised, so the ciphertext is a
# recorded one; Ed25519 is deterministic, so re-signing must give the recorded signature.
GOLDEN_SIGNING_SEED = bytes(range(32))
GOLDEN_ECIES_SECRET = bytes.fromhex("11" * 31 + "01")
GOLDEN_ECIES_PUBLIC = bytes.fromhex(
    "0465666e237a1523e156fddf24b8335f658f90e21330775a679b33b65fbaa38e38985de007caf7f01288a87822b22c453eec97f6b4bbc6942cf55ede356aac2a70"
)
GOLDEN_KEY_ID = "ed25519:56475aa75463474c"
GOLDEN_PAYLOAD = ReportPayload(
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
GOLDEN_CIPHERTEXT = bytes.fromhex(
    "0435b7dba2e6b2f6a6c950a92a6d5adeaad5d25e64334e162a6a7da384de7b5f2e993d4665b8bd0da0e317cc2d75331a"
    "b104e888d7ece403e10dabbbc7b3092f31d5d32cae33790234fd99dcb4f6a8772714f143648589158d3d81d6ee34bcd9"
    "f2195d6e85fd0b5126ecdadb772e1868e6ed46a01eb4b6c2170454f663e09be68f4fa56cc3027f048b0de448a619c306"
    "4f6f0fb458a4921094b78e9e1df3529e69548055e346f217a09c226eae89e82fdd9d533617ad238320ea28190abfe170"
    "bd755af95600d7e0a36b0b6169768e5201c5df7ceb90e812323a2d777d0269cd17d92c7fd3c7d74838a411b4522d4655"
    "7c74006c9b6277eafc1e7c89db1a752a8be950c96f8b5b83e5907c5e53d9f21648cdd0889bf228492704b536c756b6ec"
    "5c1a4631de36d713539fe615654b1a42993faddf9bae6eed70829dcac4c739ad96ff764d12ae792619451297e15eca49"
    "7a8f2f8f3c"
)
GOLDEN_SIGNATURE = bytes.fromhex(
    "5ca0646cd736c89e880040fa224e037bfebe957241fb86fc08cb18c7f493472b"
    "e1a783d8b7c601d36f53ee970b2b61b5e0ccc55978615311c40c22c7082f450d"
)


def _golden_envelope() -> Envelope:
    return Envelope(
        format_version=1,
        report_id="rep-golden",
        recipient_id="dr-a",
        study_pseudonym="PSN-0001",
        bundle_id="cxr-demo-1",
        created_at="2025-01-31T12:00:00.000001Z",
        key_id=GOLDEN_KEY_ID,
        ciphertext=GOLDEN_CIPHERTEXT,
        signature=GOLDEN_SIGNATURE,
    )


def test_envelope_sealed_before_the_split_opens_and_signs_identically():
    signing_key = Ed25519PrivateKey.from_private_bytes(GOLDEN_SIGNING_SEED)
    assert key_id_for(signing_key.public_key()) == GOLDEN_KEY_ID
    assert ecies_public_key(GOLDEN_ECIES_SECRET) == GOLDEN_ECIES_PUBLIC
    envelope = _golden_envelope()
    assert (
        hashlib.sha256(signed_message(envelope)).hexdigest()
        == "1de3edb27c687c25fc16fc704e4e60b0789415f209c8c24321c0f474a05cdc3c"
    )
    trusted = {GOLDEN_KEY_ID: signing_key.public_key()}
    assert open_envelope(envelope, GOLDEN_ECIES_SECRET, trusted, "dr-a") == GOLDEN_PAYLOAD
    assert sign_envelope(dataclasses.replace(envelope, signature=b""), signing_key).signature == GOLDEN_SIGNATURE
    resealed = seal(GOLDEN_PAYLOAD, "dr-a", GOLDEN_ECIES_PUBLIC, signing_key, GOLDEN_KEY_ID)
    assert len(resealed.ciphertext) == len(GOLDEN_CIPHERTEXT)
    assert open_envelope(resealed, GOLDEN_ECIES_SECRET, trusted, "dr-a") == GOLDEN_PAYLOAD
