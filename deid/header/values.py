"""Element values the header engine writes: Type 1 dummies by VR, empty values, the string forms it
compares and maps, and the patient key that seeds the date shift."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydicom.datadict import keyword_for_tag
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence

from deid.header.rules import BINARY_VRS, TEMPORAL_VRS
from deid.keys import normalize_uid

_DUMMY_TEXT = "DEIDENTIFIED"
_DUMMIES: Mapping[str, Any] = {
    "AE": _DUMMY_TEXT,
    "AS": "000Y",
    "CS": _DUMMY_TEXT,
    "DA": "19000101",
    "DT": "19000101000000",
    "TM": "000000",
    "DS": "0",
    "IS": "0",
    "LO": _DUMMY_TEXT,
    "LT": _DUMMY_TEXT,
    "PN": _DUMMY_TEXT,
    "SH": _DUMMY_TEXT,
    "ST": _DUMMY_TEXT,
    "UT": _DUMMY_TEXT,
    "UC": _DUMMY_TEXT,
    "UR": "urn:deidentified",
}
_STRING_VRS = frozenset(_DUMMIES) | {"UI"}
#: Maximum value length (characters) of the text VRs a cleaner may lengthen.
_MAX_LEN = {"AE": 16, "CS": 16, "SH": 16, "LO": 64, "PN": 64, "ST": 1024, "LT": 10240}


def _patient_key(ds: Dataset, sop_instance: str) -> str:
    """What pseudonym and date shift are keyed on: the Patient ID; without one, the study (so an
    unidentified study stays internally consistent), else the instance."""
    patient_id = _text(ds.get("PatientID"))
    if patient_id:
        return "patient:" + patient_id
    study = normalize_uid(_text(ds.get("StudyInstanceUID")))
    return "study:" + study if study else "instance:" + sop_instance


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, DataElement):
        value = value.value
    if value is None:
        return ""
    if isinstance(value, (MultiValue, list, tuple)):
        return "\\".join(str(v) for v in value).strip()
    return str(value).strip()


def _strings(elem: DataElement) -> list[str]:
    """The element's values as strings (dates keep their original text)."""
    value = elem.value
    if value is None or value == "" or value == b"":
        return []
    items = list(value) if isinstance(value, (MultiValue, list, tuple)) else [value]
    return [str(getattr(v, "original_string", None) or v) for v in items]


def _is_empty(value: Any) -> bool:
    return value is None or value == "" or value == b"" or (isinstance(value, (list, MultiValue)) and len(value) == 0)


def _uid_strings(elem: DataElement) -> list[str]:
    """The values the UI rule needs; nothing for other VRs (never stringify Pixel Data)."""
    return _strings(elem) if elem.VR == "UI" else []


def _value(values: list[str]) -> Any:
    if not values:
        return ""
    return values[0] if len(values) == 1 else values


def _empty(vr: str) -> Any:
    if vr == "SQ":
        return Sequence()
    if vr in _STRING_VRS:
        return ""
    if vr in BINARY_VRS:
        return b""
    return None


def _dummy(vr: str) -> Any:
    if vr in _DUMMIES:
        return _DUMMIES[vr]
    if vr in BINARY_VRS:
        return b"\x00" * 8
    return 0  # AT, FL, FD, SL, SS, SV, UL, US, UV and "US or SS"


def _fmt(tag: int) -> str:
    return f"({tag >> 16:04X},{tag & 0xFFFF:04X})"


def _name(tag: int) -> str:
    if (tag >> 16) % 2 == 1:
        return "Private"
    return keyword_for_tag(tag) or "Unknown"


assert set(_DUMMIES) >= TEMPORAL_VRS
