"""Typed errors of the runtime; the appliance translates them at its boundaries."""

from __future__ import annotations

from common.errors import ExitCode, SecureMedError


class RuntimeFailure(SecureMedError):
    """Base class of every error raised by runtime/."""


class BundleError(RuntimeFailure):
    """The model bundle cannot be used: missing, malformed manifest, unknown precision (exit 78)."""

    exit_code = ExitCode.CONFIG


class BundleIntegrityError(BundleError):
    """A bundle file is missing, unlisted, or its SHA-256 differs from the manifest."""


class PreprocessError(RuntimeFailure):
    """The image cannot be turned into model input (exit 65)."""

    exit_code = ExitCode.DATAERR


class UnsupportedImage(PreprocessError):
    """The DICOM instance is valid but not an image this model reads (colour, multi-frame, no pixels)."""
