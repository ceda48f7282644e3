"""ListenerSettings / TLSFiles validation."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest

from dicom_listener import ListenerConfigError, ListenerSettings, TLSFiles


def _settings(**overrides: Any) -> ListenerSettings:
    values: dict[str, Any] = {
        "ae_title": "SECUREMED",
        "allowed_calling_aets": frozenset({"PACS"}),
        "spool_dir": Path("/tmp/spool"),
    }
    values.update(overrides)
    return ListenerSettings(**values)


def test_defaults_and_normalisation() -> None:
    settings = _settings(ae_title=" SECUREMED ", allowed_calling_aets=["PACS ", "MOD1"], spool_dir="/x")
    assert settings.ae_title == "SECUREMED"
    assert settings.allowed_calling_aets == frozenset({"PACS", "MOD1"})
    assert settings.spool_dir == Path("/x")
    assert settings.tls is None
    with pytest.raises(dataclasses.FrozenInstanceError):
        settings.ae_title = "OTHER"  # type: ignore[misc]


def test_empty_allow_list_is_allowed_and_means_nobody() -> None:
    assert _settings(allowed_calling_aets=frozenset()).allowed_calling_aets == frozenset()


@pytest.mark.parametrize(
    "overrides",
    [
        {"ae_title": ""},
        {"ae_title": "    "},
        {"ae_title": "A" * 17},
        {"ae_title": "BACK\\SLASH"},
        {"ae_title": "TAB\tAE"},
        {"ae_title": "ÜMLAUT"},
        {"allowed_calling_aets": "PACS"},  # a str is not a collection of titles
        {"allowed_calling_aets": frozenset({"X" * 17})},
        {"quiet_period_s": -1},
        {"quiet_period_s": float("nan")},
        {"network_timeout_s": 0},
        {"acse_timeout_s": float("inf")},
        {"max_pdu": 100},
        {"max_associations": 0},
        {"tls": "yes"},
    ],
)
def test_invalid_settings_are_refused(overrides: dict[str, Any]) -> None:
    with pytest.raises(ListenerConfigError):
        _settings(**overrides)


def test_tls_settings_coerce_paths() -> None:
    tls = TLSFiles("c.pem", "k.pem", "ca.pem")
    assert tls.cert_file == Path("c.pem") and tls.require_client_cert is True
    assert _settings(tls=tls).tls is tls
