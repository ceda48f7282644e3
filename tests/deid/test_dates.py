"""Whole-day date shifting of DA/DT values."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from deid.header.dates import shift_da, shift_dt, valid_tm


@pytest.mark.parametrize(
    ("value", "days", "expected"),
    [
        ("20240301", -1, "20240229"),  # leap day
        ("20230301", -1, "20230228"),
        ("20240101", -1, "20231231"),
        ("20241231", 1, "20250101"),
        ("2024.03.15", -15, "20240229"),  # ACR-NEMA form is normalised
        (" 20240315 ", -365, "20230316"),
        ("", -10, ""),
        ("00010105", -3, "00010102"),
        ("00010101", -1, None),  # would leave year 1
        ("20240230", -1, None),  # invalid date
        ("2024031", -1, None),
        ("20240315-20240320", -1, None),  # a range is not a stored value
        ("YYYYMMDD", -1, None),
    ],
)
def test_shift_da(value: str, days: int, expected: str | None) -> None:
    assert shift_da(value, days) == expected


@pytest.mark.parametrize(
    ("value", "days", "expected"),
    [
        ("20240301101112.123456+0100", -1, "20240229101112.123456+0100"),
        ("20240301235959", -1, "20240229235959"),
        ("2024030110", -1, "2024022910"),
        ("20240301", -1, "20240229"),
        ("202403", -20, "202402"),  # month precision from the middle of the month
        ("2024", -100, "2024"),  # year precision from the middle of the year
        ("2024", -200, "2023"),
        ("20240301-0500", -1, "20240229-0500"),
        ("20240301246000", -1, None),  # hour 24
        ("2024031", -1, None),
        ("20240301+1500", -1, None),  # offset beyond +14:00
        ("", -1, ""),
    ],
)
def test_shift_dt(value: str, days: int, expected: str | None) -> None:
    assert shift_dt(value, days) == expected


@pytest.mark.parametrize(
    ("value", "ok"),
    [
        ("101112", True),
        ("1011", True),
        ("10", True),
        ("101112.123456", True),
        ("10:11:12", True),
        ("241112", False),
        ("106000", False),
        ("abc", False),
    ],
)
def test_valid_tm(value: str, ok: bool) -> None:
    assert valid_tm(value) is ok


dates = st.dates(min_value=dt.date(1800, 1, 1), max_value=dt.date(2200, 12, 31))
days = st.integers(-36500, 36500)


@settings(max_examples=500, deadline=None)
@given(dates, days)
def test_any_date_in_range_shifts_to_a_valid_date_exactly_n_days_away(day: dt.date, n: int) -> None:
    out = shift_da(day.strftime("%Y%m%d"), n)
    assert out is not None and len(out) == 8
    assert dt.date(int(out[:4]), int(out[4:6]), int(out[6:])) - day == dt.timedelta(days=n)


@settings(max_examples=500, deadline=None)
@given(dates, days, st.times(), st.sampled_from(["", "+0000", "-0500", "+1400"]))
def test_dt_keeps_its_time_and_offset(day: dt.date, n: int, t: dt.time, tz: str) -> None:
    time_part = t.strftime("%H%M%S") + (f".{t.microsecond:06d}" if t.microsecond else "")
    out = shift_dt(day.strftime("%Y%m%d") + time_part + tz, n)
    assert out is not None
    assert out[8:] == time_part + tz
    assert dt.date(int(out[:4]), int(out[4:6]), int(out[6:8])) - day == dt.timedelta(days=n)


@settings(max_examples=300, deadline=None)
@given(st.text(max_size=20), days)
def test_arbitrary_text_never_yields_an_invalid_date(text: str, n: int) -> None:
    out = shift_da(text, n)
    if out:
        dt.date(int(out[:4]), int(out[4:6]), int(out[6:8]))  # raises if invalid
        assert len(out) == 8 and out.isdigit()
