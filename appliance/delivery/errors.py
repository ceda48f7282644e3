"""Errors of the delivery package. Translated to gRPC status codes only in `server`
and from gRPC status codes only in `client`."""

from __future__ import annotations


class DeliveryError(Exception):
    """Base class for delivery errors."""


class TLSPolicyError(DeliveryError):
    """The server would accept a TLS version below 1.3, or TLS material is unusable."""


class ServerSetupError(DeliveryError):
    """The server cannot be created (unusable TLS files, address cannot be bound)."""


class StoreError(DeliveryError):
    """Base class for envelope store errors."""


class ReportNotFound(DeliveryError):
    """No such report for this recipient (whether or not it exists for someone else).

    Raised by the store and, for NOT_FOUND answers, by the client."""


class StoreConflict(StoreError):
    """An envelope with the same (recipient, report id) but different routing is already stored."""


class ClientError(DeliveryError):
    """Base class for errors the client library raises for RPC failures."""


class NotAuthorized(ClientError):
    """The server did not accept the client's identity (UNAUTHENTICATED / PERMISSION_DENIED)."""


class ServiceUnavailable(ClientError):
    """The appliance could not be reached, refused the TLS handshake, or timed out."""


class RemoteError(ClientError):
    """Any other gRPC failure; `code` holds the gRPC status code name."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
