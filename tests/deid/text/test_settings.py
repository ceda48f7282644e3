"""Redactor settings (deid/text/settings.py): validation, placeholders, the entity subset."""

from __future__ import annotations

import pytest

from deid.text import DATE, PERSON, TextRedactionError, TextRedactor, TextRedactorSettings


def test_placeholders_are_configurable() -> None:
    custom = TextRedactor(TextRedactorSettings(placeholder="<{type}>", placeholders={"DATE": "[**DATE**]"}))
    assert custom.redact("Dr. Smith saw her on 03/14/2023.").text == "Dr. <PERSON> saw her on [**DATE**]."


def test_entities_setting_limits_detection() -> None:
    only_dates = TextRedactor(TextRedactorSettings(entities=("DATE",)))
    assert only_dates.redact("Dr. Smith saw her on 03/14/2023.").text == "Dr. Smith saw her on [DATE]."


@pytest.mark.parametrize(
    "kwargs",
    [
        {"entities": ()},
        {"entities": ("PERSON", "NOPE")},
        {"score_threshold": 1.5},
        {"name_multi_threshold": -0.1},
        {"placeholder": None},
        {"placeholders": {"NOPE": "x"}},
    ],
)
def test_settings_are_validated(kwargs: dict) -> None:
    with pytest.raises(TextRedactionError):
        TextRedactorSettings(**kwargs)


@pytest.mark.parametrize(
    ("settings", "entity_type", "expected"),
    [
        (TextRedactorSettings(), PERSON, "[PERSON]"),
        (TextRedactorSettings(placeholder="***"), DATE, "***"),
        (TextRedactorSettings(placeholder="<{type}>", placeholders={DATE: "[**DATE**]"}), DATE, "[**DATE**]"),
        (TextRedactorSettings(placeholder="<{type}>", placeholders={DATE: "[**DATE**]"}), PERSON, "<PERSON>"),
    ],
)
def test_replacement(settings: TextRedactorSettings, entity_type: str, expected: str) -> None:
    assert settings.replacement(entity_type) == expected


def test_settings_are_frozen_copies() -> None:
    custom = {DATE: "[D]"}
    s = TextRedactorSettings(placeholders=custom, entities=[DATE, PERSON])  # type: ignore[arg-type]
    custom[DATE] = "changed"
    assert s.replacement(DATE) == "[D]"
    assert s.entities == (DATE, PERSON)
    with pytest.raises(TypeError):
        s.placeholders[DATE] = "x"  # type: ignore[index]
