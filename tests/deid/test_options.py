"""DeidOptions: validation, and parsing from a TOML-like mapping with exact error keys."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deid import (
    DEFAULT_SAFE_PRIVATE,
    DeidConfigError,
    DeidOptions,
    SafePrivateTag,
)
from deid.options import TABLE_OPTION_FIELDS

BOOL_FIELDS = [
    "retain_long_full_dates",
    "retain_long_modified_dates",
    "retain_patient_chars",
    "retain_device_id",
    "retain_institution_id",
    "retain_uids",
    "retain_safe_private",
    "clean_descriptors",
    "clean_structured_content",
    "clean_graphics",
    "clean_pixel_data",
    "clean_recognizable_visual_features",
    "keep_laterality_markers",
    "strict_iod",
]
KNOWN = set(BOOL_FIELDS) | {"safe_private_allow_list", "date_shift_min_days", "date_shift_max_days"}


def test_defaults_are_the_basic_profile() -> None:
    o = DeidOptions()
    assert not o.enabled_table_options()
    assert o.safe_private_allow_list == DEFAULT_SAFE_PRIVATE
    assert (o.date_shift_min_days, o.date_shift_max_days) == (-365, -1)


def test_from_mapping_reads_every_field() -> None:
    data = {name: True for name in BOOL_FIELDS if name != "retain_long_full_dates"}
    data |= {
        "date_shift_min_days": -30,
        "date_shift_max_days": -10,
        "safe_private_allow_list": [{"creator": "ACME 1.0", "group": 0x0029, "element": 0x10}],
    }
    o = DeidOptions.from_mapping(data)
    assert o.retain_long_modified_dates and o.clean_pixel_data and not o.retain_long_full_dates
    assert o.safe_private_allow_list == {SafePrivateTag("ACME 1.0", 0x0029, 0x10)}
    assert (o.date_shift_min_days, o.date_shift_max_days) == (-30, -10)
    assert o.enabled_table_options() == set(TABLE_OPTION_FIELDS) - {"retain_long_full_dates"}


@pytest.mark.parametrize(
    ("data", "key"),
    [
        ({"retain_uid": True}, "retain_uid"),
        ({"retain_uids": 1}, "retain_uids"),
        ({"retain_uids": "yes"}, "retain_uids"),
        ({"date_shift_min_days": True}, "date_shift_min_days"),
        ({"date_shift_max_days": -1.5}, "date_shift_max_days"),
        ({"date_shift_min_days": -1, "date_shift_max_days": 5}, "date_shift_min_days"),
        ({"date_shift_min_days": -5, "date_shift_max_days": -10}, "date_shift_min_days"),
        ({"date_shift_min_days": -40000}, "date_shift_min_days"),
        ({"retain_long_full_dates": True, "retain_long_modified_dates": True}, "retain_long_modified_dates"),
        ({"safe_private_allow_list": {"creator": "A"}}, "safe_private_allow_list"),
        ({"safe_private_allow_list": ["A"]}, "safe_private_allow_list[0]"),
        (
            {"safe_private_allow_list": [{"creator": "A", "group": 9, "element": 1, "vr": "LO"}]},
            "safe_private_allow_list[0].vr",
        ),
        ({"safe_private_allow_list": [{"creator": "A", "group": 9}]}, "safe_private_allow_list[0].element"),
        (
            {
                "safe_private_allow_list": [
                    {"creator": "A", "group": 9, "element": 1},
                    {"creator": "A", "group": 8, "element": 1},
                ]
            },
            "safe_private_allow_list[1].group",
        ),
        (
            {"safe_private_allow_list": [{"creator": "A", "group": 9, "element": 0x100}]},
            "safe_private_allow_list[0].element",
        ),
        (
            {"safe_private_allow_list": [{"creator": " ", "group": 9, "element": 1}]},
            "safe_private_allow_list[0].creator",
        ),
        (
            {"safe_private_allow_list": [{"creator": "A", "group": True, "element": 1}]},
            "safe_private_allow_list[0].group",
        ),
    ],
)
def test_from_mapping_names_the_exact_bad_key(data: dict, key: str) -> None:
    with pytest.raises(DeidConfigError) as err:
        DeidOptions.from_mapping(data)
    assert err.value.key == key
    assert str(err.value).startswith(key + ":")


def test_constructor_validates_types_too() -> None:
    with pytest.raises(DeidConfigError) as err:
        DeidOptions(retain_uids=1)  # type: ignore[arg-type]
    assert err.value.key == "retain_uids"
    assert DeidOptions(safe_private_allow_list=[SafePrivateTag("A", 9, 1)]).safe_private_allow_list == {
        SafePrivateTag("A", 9, 1)
    }  # type: ignore[arg-type]


def test_options_are_frozen() -> None:
    with pytest.raises(AttributeError):
        DeidOptions().retain_uids = True  # type: ignore[misc]


@settings(max_examples=200, deadline=None)
@given(st.text(min_size=1, max_size=30).filter(lambda k: k not in KNOWN), st.sampled_from([True, 0, "x", [], {}]))
def test_unknown_keys_are_rejected_by_name(key: str, value: object) -> None:
    with pytest.raises(DeidConfigError) as err:
        DeidOptions.from_mapping({"retain_uids": True, key: value})
    assert err.value.key == key


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.sampled_from(BOOL_FIELDS), st.booleans()))
def test_any_valid_bool_mapping_round_trips(data: dict[str, bool]) -> None:
    if data.get("retain_long_full_dates") and data.get("retain_long_modified_dates"):
        with pytest.raises(DeidConfigError):
            DeidOptions.from_mapping(data)
        return
    o = DeidOptions.from_mapping(data)
    for name in BOOL_FIELDS:
        assert getattr(o, name) == data.get(name, getattr(DeidOptions(), name))


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(BOOL_FIELDS), st.one_of(st.integers(), st.text(), st.none(), st.floats(allow_nan=False)))
def test_non_bool_values_for_bool_options_are_rejected_by_name(key: str, value: object) -> None:
    with pytest.raises(DeidConfigError) as err:
        DeidOptions.from_mapping({key: value})
    assert err.value.key == key
