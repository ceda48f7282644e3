"""Whole-day shifting of DA and DT values (the Clean action of Retain Longitudinal Temporal
Information with Modified Dates). Times are not shifted: a whole-day shift keeps every time of
day, and DT values keep their time and UTC offset verbatim, so a date and its time stay a pair.

A value that cannot be parsed (or would leave years 0001-9999) yields None: the caller then falls
back to the Basic Profile action instead of releasing or inventing a date.
"""

from __future__ import annotations

import datetime as _dt
import re

_DA = re.compile(r"^([0-9]{4})\.?([0-9]{2})\.?([0-9]{2})$")  # YYYYMMDD, or ACR-NEMA YYYY.MM.DD
_DT = re.compile(
    r"^(?P<y>[0-9]{4})(?P<m>[0-9]{2})?(?P<d>[0-9]{2})?"
    r"(?P<time>(?P<hh>[0-9]{2})(?:(?P<mm>[0-9]{2})(?:(?P<ss>[0-9]{2})(?:\.[0-9]{1,6})?)?)?)?"
    r"(?P<tz>[+-][0-9]{4})?$"
)
_TM = re.compile(r"^([0-9]{2})(?::?([0-9]{2})(?::?([0-9]{2})(?:\.[0-9]{1,6})?)?)?$")


def shift_da(value: str, days: int) -> str | None:
    """`value` (DA) moved by `days` days, as YYYYMMDD; "" stays ""; None if unparsable."""
    text = value.strip()
    if not text:
        return ""
    m = _DA.match(text)
    if not m:
        return None
    try:
        day = _dt.date(int(m.group(1)), int(m.group(2)), int(m.group(3)))
        return _ymd(day + _dt.timedelta(days=days))
    except (ValueError, OverflowError):
        return None


def shift_dt(value: str, days: int) -> str | None:
    """`value` (DT) with its date part moved by `days` days; the time of day and UTC offset are
    kept. Reduced-precision values keep their precision (YYYY, YYYYMM): they are shifted from the
    middle of the period they denote. "" stays ""; None if unparsable."""
    text = value.strip()
    if not text:
        return ""
    m = _DT.match(text)
    if not m:
        return None
    y, mo, d, time, tz = m.group("y"), m.group("m"), m.group("d"), m.group("time"), m.group("tz")
    if time and not d:
        return None
    if time and not _valid_time(m.group("hh"), m.group("mm"), m.group("ss")):
        return None
    if tz and not _valid_offset(tz):
        return None
    try:
        if d:
            shifted = _dt.date(int(y), int(mo), int(d)) + _dt.timedelta(days=days)
            out = _ymd(shifted)
        elif mo:
            shifted = _dt.date(int(y), int(mo), 15) + _dt.timedelta(days=days)
            out = f"{shifted.year:04d}{shifted.month:02d}"
        else:
            shifted = _dt.date(int(y), 7, 2) + _dt.timedelta(days=days)
            out = f"{shifted.year:04d}"
    except (ValueError, OverflowError):
        return None
    return out + (time or "") + (tz or "")


def valid_tm(value: str) -> bool:
    """True if `value` is a well-formed TM (HH[MM[SS[.F{1,6}]]], or the old HH:MM:SS form)."""
    m = _TM.match(value.strip())
    return m is not None and _valid_time(m.group(1), m.group(2), m.group(3))


def _ymd(day: _dt.date) -> str:
    return f"{day.year:04d}{day.month:02d}{day.day:02d}"


def _valid_time(hh: str | None, mm: str | None, ss: str | None) -> bool:
    if hh is None or int(hh) > 23:
        return False
    if mm is not None and int(mm) > 59:
        return False
    return ss is None or int(ss) <= 60  # 60: leap second


def _valid_offset(tz: str) -> bool:
    hours, minutes = int(tz[1:3]), int(tz[3:5])
    return hours <= 14 and minutes <= 59
