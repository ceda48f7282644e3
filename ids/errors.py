"""Typed errors of ids/. Messages never carry the screened text or a report: file names and hashes
at most."""

from __future__ import annotations

from common.errors import ExitCode, SecureMedError

__all__ = ["IdsError", "IdsModelError"]


class IdsError(SecureMedError):
    """Base class of every error raised by ids/ (bad input data: exit 65)."""

    exit_code = ExitCode.DATAERR


class IdsModelError(IdsError):
    """The injection classifier's directory cannot be used: a missing or malformed manifest, a file
    whose sha256 differs from the manifest, a graph ONNX Runtime refuses, or a feature dimension
    that differs from `ids.features.FEATURE_DIM` (exit 65, DATAERR)."""

    exit_code = ExitCode.DATAERR
