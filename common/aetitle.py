"""The one AE-title rule (PS3.5 VR AE), used by the listener and the appliance config."""

from __future__ import annotations

AE_TITLE_MAX_LEN = 16


def ae_title_problem(value: object) -> str | None:
    """Why `value` is not an AE title, or None if it is one.

    PS3.5 AE: 1-16 characters of the default repertoire, no backslash, no control characters, not
    only spaces (leading and trailing spaces are not significant).
    """
    if not isinstance(value, str):
        return f"must be a string, not {type(value).__name__}"
    stripped = value.strip(" ")
    if not stripped:
        return "must not be empty or only spaces"
    if len(value) > AE_TITLE_MAX_LEN:
        return f"{value!r} is longer than {AE_TITLE_MAX_LEN} characters"
    if any(not (0x20 <= ord(ch) < 0x7F) or ch == "\\" for ch in stripped):
        return f"{value!r} contains a control, non-ASCII or backslash character"
    return None


def normalize_ae_title(value: str) -> str:
    """`value` without its non-significant spaces; ValueError naming the problem if it is not an AE title."""
    problem = ae_title_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value.strip(" ")
