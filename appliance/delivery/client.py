"""Clinician-side client for the ReportDelivery service.

`ReportClient` connects with mutual TLS (site CA, the clinician's certificate
and key), fetches sealed envelopes and verifies and decrypts them locally
with `appliance.envelope.open_envelope`; the appliance never sees the
clinician's ECIES private key and the network never carries plaintext.

Errors: RPC failures become `appliance.delivery.errors` types
(`ReportNotFound`, `NotAuthorized`, `ServiceUnavailable`, `RemoteError`);
an envelope that fails verification or decryption raises the
`appliance.envelope.EnvelopeError` subclass that says why. Nothing of a
rejected envelope is returned.

Notices: a payload of kind "withheld-notice" (the appliance's validator
withheld the draft) is rendered by `render` as "withheld by validator: code,
code", never as a report; a report whose indication was kept from the model
gets the line "Indication withheld by the validator (codes)." before its
text. The model's text itself is never edited.

Importing this module (via `appliance.delivery`) also limits this process's
gRPC to TLS 1.3 where possible (see `tlspolicy`); the server enforces it in
any case.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import grpc
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from grpc_health.v1 import health_pb2, health_pb2_grpc

# (appliance/delivery/__init__.py has already applied tlspolicy before grpc was imported.)
from appliance.envelope import (
    InconsistentPayload,
    ReportPayload,
    ecies_public_key,
    open_envelope,
    verify_envelope,
)

from .codec import envelope_from_proto
from .errors import NotAuthorized, RemoteError, ReportNotFound, ServiceUnavailable
from .pb import reports_pb2 as pb
from .pb import reports_pb2_grpc as pb_grpc
from .pki import clinician_ids_from_certificate

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ReportSummary:
    """A verified (signature and addressee checked) but not decrypted envelope."""

    report_id: str
    study_pseudonym: str
    bundle_id: str
    created_at: str
    acked: bool
    acked_at: str | None
    # Only with list(decrypt=True), from the payload (the kind is inside the ciphertext):
    kind: str | None = None
    reason_codes: tuple[str, ...] = ()
    indication: str | None = None
    indication_codes: tuple[str, ...] = ()

    @property
    def status(self) -> str:
        """The notice line ("withheld by validator: code, code") for a notice, else "" (also undecrypted)."""
        return notice_line(self.reason_codes) if self.kind == "withheld-notice" else ""


def notice_line(codes: tuple[str, ...]) -> str:
    return "withheld by validator: " + ", ".join(codes)


def indication_line(codes: tuple[str, ...]) -> str:
    return f"Indication withheld by the validator ({', '.join(codes)})."


def render(payload: ReportPayload) -> list[str]:
    """The lines a clinician is shown for `payload`: a header, then the notice, or the report's
    sections (after the withheld-indication line, when it was withheld). No line edits the text."""
    lines = [
        f"Report {payload.report_id}  (model {payload.bundle_id}, {payload.created_at})",
        f"Accession number: {payload.accession_number}   Study date: {payload.study_date}   "
        f"Study pseudonym: {payload.study_pseudonym}",
    ]
    if payload.is_notice:
        return [*lines, notice_line(payload.reason_codes)]
    if payload.indication == "withheld":
        lines.append(indication_line(payload.indication_codes))
    return [*lines, f"FINDINGS: {payload.findings}", f"IMPRESSION: {payload.impression}"]


def error_from_rpc(exc: grpc.RpcError) -> Exception:
    """The `appliance.delivery.errors` exception for a failed RPC (the client's only translation point)."""
    code = exc.code() if hasattr(exc, "code") else grpc.StatusCode.UNKNOWN
    details = (exc.details() if hasattr(exc, "details") else "") or ""
    if code == grpc.StatusCode.NOT_FOUND:
        return ReportNotFound(details)
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return NotAuthorized(details)
    if code in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED):
        return ServiceUnavailable(details)
    return RemoteError(code.name, details)


def _read(path: Path) -> bytes:
    return Path(path).read_bytes()


class ReportStream:
    """Iterator of decrypted `ReportPayload`s from a WatchReports call; `cancel()` is thread-safe."""

    def __init__(self, call: Any, open_fn: Callable[[pb.Envelope], ReportPayload]) -> None:
        self._call = call
        self._open = open_fn
        self._cancelled = threading.Event()

    def __iter__(self) -> ReportStream:
        return self

    def __next__(self) -> ReportPayload:
        try:
            message = next(self._call)
        except grpc.RpcError as exc:
            if self._cancelled.is_set():
                raise StopIteration from None
            if exc.code() == grpc.StatusCode.CANCELLED:  # server went away mid-stream
                raise ServiceUnavailable(exc.details() or "stream cancelled by the server") from None
            raise error_from_rpc(exc) from None
        try:
            return self._open(message)
        except Exception:
            self.cancel()
            raise

    def cancel(self) -> None:
        """End the stream; a blocked or later `next()` raises StopIteration."""
        self._cancelled.set()
        self._call.cancel()

    close = cancel

    def __enter__(self) -> ReportStream:
        return self

    def __exit__(self, *_: object) -> None:
        self.cancel()


class ReportClient:
    """Lists, fetches, watches and acknowledges the reports addressed to `clinician_id`.

    `target` is ``host:port``; the server certificate must name that host
    (or `server_name`, if given). `cert_file` must be a client certificate
    whose SAN URI names `clinician_id` (ValueError otherwise, so a
    misconfigured client fails before talking to anybody).
    `ecies_private_key` is the clinician's 32-byte secp256k1 secret;
    `trusted_appliance_keys` maps appliance key ids to their Ed25519 keys.
    Every unary call has `timeout` seconds; `watch` has none.
    """

    def __init__(
        self,
        target: str,
        ca_file: Path,
        cert_file: Path,
        key_file: Path,
        ecies_private_key: bytes,
        trusted_appliance_keys: Mapping[str, Ed25519PublicKey],
        clinician_id: str,
        *,
        server_name: str | None = None,
        timeout: float = 10.0,
    ) -> None:
        cert_pem = _read(cert_file)
        named = clinician_ids_from_certificate(x509.load_pem_x509_certificate(cert_pem))
        if named != [clinician_id]:
            raise ValueError(f"client certificate {cert_file} does not identify clinician {clinician_id!r}")
        ecies_public_key(ecies_private_key)  # ValueError if it is not a secp256k1 secret
        self._private_key = bytes(ecies_private_key)
        self._trusted = dict(trusted_appliance_keys)
        self.clinician_id = clinician_id
        self._timeout = timeout
        credentials = grpc.ssl_channel_credentials(
            root_certificates=_read(ca_file), private_key=_read(key_file), certificate_chain=cert_pem
        )
        options = [("grpc.ssl_target_name_override", server_name)] if server_name else []
        self._channel = grpc.secure_channel(target, credentials, options=options)
        self._stub = pb_grpc.ReportDeliveryStub(self._channel)
        self._health = health_pb2_grpc.HealthStub(self._channel)

    def _open(self, message: pb.Envelope) -> ReportPayload:
        envelope = envelope_from_proto(message)
        try:
            return open_envelope(envelope, self._private_key, self._trusted, self.clinician_id)
        except Exception:
            _log.warning("rejected envelope for report %s", envelope.report_id)
            raise

    def list(self, include_acked: bool = False, *, page_size: int = 0, decrypt: bool = False) -> list[ReportSummary]:
        """All envelopes addressed to this clinician (every page), each signature-checked; with
        `decrypt`, also opened locally, so each summary says whether it is a notice (its codes)."""
        summaries: list[ReportSummary] = []
        token = ""
        while True:
            try:
                response = self._stub.ListReports(
                    pb.ListReportsRequest(include_acked=include_acked, page_size=page_size, page_token=token),
                    timeout=self._timeout,
                )
            except grpc.RpcError as exc:
                raise error_from_rpc(exc) from None
            for entry in response.reports:
                envelope = envelope_from_proto(entry.envelope)
                verify_envelope(envelope, self._trusted, self.clinician_id)
                summary = ReportSummary(
                    envelope.report_id,
                    envelope.study_pseudonym,
                    envelope.bundle_id,
                    envelope.created_at,
                    entry.acked,
                    entry.acked_at or None,
                )
                if decrypt:
                    payload = self._open(entry.envelope)
                    summary = replace(
                        summary,
                        kind=payload.kind,
                        reason_codes=payload.reason_codes,
                        indication=payload.indication,
                        indication_codes=payload.indication_codes,
                    )
                summaries.append(summary)
            token = response.next_page_token
            if not token:
                return summaries

    def get(self, report_id: str) -> ReportPayload:
        """Fetch, verify and decrypt one report; the payload's report id is checked too."""
        try:
            message = self._stub.GetReport(pb.GetReportRequest(report_id=report_id), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        payload = self._open(message)
        if payload.report_id != report_id:
            # A validly signed envelope, but for another report: the server mixed them up.
            raise InconsistentPayload("the server returned a different report than requested")
        return payload

    def ack(self, report_id: str) -> str:
        """Acknowledge a report; returns the (first) acknowledgement time."""
        try:
            response = self._stub.AckReport(pb.AckReportRequest(report_id=report_id), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        return response.acked_at

    def watch(self, include_unacked: bool = True) -> ReportStream:
        """Decrypted reports as the server streams them (unacknowledged ones first).

        Returns a `ReportStream`: iterate it; it ends when the server shuts
        down or `cancel()` is called (from any thread). A rejected envelope
        raises its `EnvelopeError` and cancels the stream.
        """
        call = self._stub.WatchReports(pb.WatchReportsRequest(include_unacked=include_unacked))
        return ReportStream(call, self._open)

    def serving(self, service: str = "") -> bool:
        """Whether the appliance's health service reports SERVING (model loaded)."""
        try:
            response = self._health.Check(health_pb2.HealthCheckRequest(service=service), timeout=self._timeout)
        except grpc.RpcError as exc:
            raise error_from_rpc(exc) from None
        return response.status == health_pb2.HealthCheckResponse.SERVING

    def close(self) -> None:
        self._channel.close()

    def __enter__(self) -> ReportClient:
        return self

    def __exit__(self, *_: object) -> None:
        self.close()
