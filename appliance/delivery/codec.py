"""`appliance.envelope.Envelope` <-> ``securemed.v1.Envelope`` protobuf (field for field)."""

from __future__ import annotations

from google.protobuf.message import DecodeError

from appliance.envelope import Envelope, MalformedEnvelope

from .pb import reports_pb2 as pb


def envelope_to_proto(envelope: Envelope) -> pb.Envelope:
    return pb.Envelope(
        format_version=envelope.format_version,
        report_id=envelope.report_id,
        recipient_id=envelope.recipient_id,
        study_pseudonym=envelope.study_pseudonym,
        bundle_id=envelope.bundle_id,
        created_at=envelope.created_at,
        key_id=envelope.key_id,
        ciphertext=envelope.ciphertext,
        signature=envelope.signature,
    )


def envelope_from_proto(message: pb.Envelope) -> Envelope:
    return Envelope(
        format_version=message.format_version,
        report_id=message.report_id,
        recipient_id=message.recipient_id,
        study_pseudonym=message.study_pseudonym,
        bundle_id=message.bundle_id,
        created_at=message.created_at,
        key_id=message.key_id,
        ciphertext=bytes(message.ciphertext),
        signature=bytes(message.signature),
    )


def encode_envelope(envelope: Envelope) -> bytes:
    """Protobuf bytes of `envelope` (the store's and the wire's representation)."""
    return envelope_to_proto(envelope).SerializeToString()


def decode_envelope(data: bytes) -> Envelope:
    """Inverse of `encode_envelope`; `MalformedEnvelope` if `data` is not an Envelope message."""
    message = pb.Envelope()
    try:
        message.ParseFromString(data)
    except DecodeError as exc:
        raise MalformedEnvelope("not a securemed.v1.Envelope") from exc
    return envelope_from_proto(message)
