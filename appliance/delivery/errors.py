"""Errors of the delivery package. Translated to gRPC status codes only in `server`
and from gRPC status codes only in `client`."""

from __future__ import annotations

from common.errors import ExitCode, SecureMedError


class DeliveryError(SecureMedError):
    """Base class for delivery errors."""


class TLSPolicyError(DeliveryError):
    """The server would accept a TLS version below 1.3, or TLS material is unusable."""

    exit_code = ExitCode.CONFIG


class ServerSetupError(DeliveryError):
    """The server cannot be created (unusable TLS files, address cannot be bound)."""

    exit_code = ExitCode.CONFIG


class StoreError(DeliveryError):
    """Base class for envelope store errors."""


class ReportNotFound(DeliveryError):
    """No such report for this recipient (whether or not it exists for someone else).

    Raised by the store and, for NOT_FOUND answers, by the client."""

    exit_code = ExitCode.NOINPUT


class StoreConflict(StoreError):
    """An envelope with the same (recipient, report id) but different routing is already stored."""


class ClientError(DeliveryError):
    """Base class for errors the client library raises for RPC failures."""

    exit_code = ExitCode.UNAVAILABLE


class NotAuthorized(ClientError):
    """The server did not accept the client's identity (UNAUTHENTICATED / PERMISSION_DENIED)."""


class ServiceUnavailable(ClientError):
    """The appliance could not be reached, refused the TLS handshake, or timed out."""


class RemoteError(ClientError):
    """Any other gRPC failure; `code` holds the gRPC status code name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
