"""The de-identification options (PS3.15 E.3) as a frozen dataclass, and its parser from a mapping
(the appliance reads the mapping from TOML)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, fields
from typing import Any

from deid.errors import DeidConfigError

#: Largest |shift| accepted: a century keeps every shifted DICOM date inside years 0001-9999.
MAX_SHIFT_DAYS = 36_500


@dataclass(frozen=True, order=True)
class SafePrivateTag:
    """One allow-listed private attribute: the block's Private Creator string, the odd group and
    the element offset inside the block (the low byte, xx in (gggg,00xx)/(gggg,xxee) -> ee)."""

    creator: str
    group: int
    element: int

    def __post_init__(self) -> None:
        if not isinstance(self.creator, str) or not self.creator.strip():
            raise DeidConfigError("creator", "must be a non-empty string")
        if not isinstance(self.group, int) or isinstance(self.group, bool):
            raise DeidConfigError("group", "must be an integer")
        if not (0x0009 <= self.group <= 0xFFFD and self.group % 2 == 1):
            raise DeidConfigError("group", f"0x{self.group:04X} is not a private (odd) group")
        if not isinstance(self.element, int) or isinstance(self.element, bool):
            raise DeidConfigError("element", "must be an integer")
        if not 0x00 <= self.element <= 0xFF:
            raise DeidConfigError("element", "must be the element offset 0x00-0xFF inside the block")
        object.__setattr__(self, "creator", self.creator.strip())


def _safe(creator: str, group: int, *elements: int) -> list[SafePrivateTag]:
    return [SafePrivateTag(creator, group, e) for e in elements]


#: A few attributes PS3.15 Table E.3.10-1 lists as safe (quantitative acquisition parameters
#: without identifying content). Sites extend or replace it with `safe_private_allow_list`.
DEFAULT_SAFE_PRIVATE: frozenset[SafePrivateTag] = frozenset(
    _safe("SIEMENS MR HEADER", 0x0019, 0x0C, 0x0D, 0x0E, 0x27)  # b-value, diffusion direction
    + _safe("GEMS_ACQU_01", 0x0019, 0x23, 0x24, 0x27)  # table speed, mid scan time, rotation
    + _safe("GEMS_PARM_01", 0x0043, 0x27, 0x39)  # scan pitch ratio, b-value slop_int_6-9
    + _safe("Philips Imaging DD 001", 0x2001, 0x03, 0x04)  # diffusion b-factor, direction
    + _safe("Philips MR Imaging DD 001", 0x2005, 0x0D, 0x0E)  # scale intercept, scale slope
    + _safe("Philips PET Private Group", 0x7053, 0x00, 0x09)  # SUV factor, activity scale
)


@dataclass(frozen=True)
class DeidOptions:
    """Which PS3.15 E.3 options are on, plus the engine's own settings.

    Options of Table E.1-1 (each switches the matching option column on):
        retain_long_full_dates / retain_long_modified_dates (mutually exclusive), retain_patient_chars,
        retain_device_id, retain_institution_id, retain_uids, retain_safe_private,
        clean_descriptors, clean_structured_content, clean_graphics.
    safe_private_allow_list: the private attributes kept under retain_safe_private.
    clean_pixel_data / clean_recognizable_visual_features: flags for the pixel stage; the header
        engine only reports them as pending (DeidResult.pending) and refuses burned-in annotation
        without clean_pixel_data.
    keep_laterality_markers: for the pixel stage: keep burned-in L/R markers when cleaning pixels.
    date_shift_min_days / date_shift_max_days: inclusive range of the per-patient keyed date shift
        (retain_long_modified_dates). The range must not contain 0.
    strict_iod: refuse SOP Classes without a curated IOD type table instead of using the generic
        image fallback.
    """

    retain_long_full_dates: bool = False
    retain_long_modified_dates: bool = False
    retain_patient_chars: bool = False
    retain_device_id: bool = False
    retain_institution_id: bool = False
    retain_uids: bool = False
    retain_safe_private: bool = False
    safe_private_allow_list: frozenset[SafePrivateTag] = DEFAULT_SAFE_PRIVATE
    clean_descriptors: bool = False
    clean_structured_content: bool = False
    clean_graphics: bool = False
    clean_pixel_data: bool = False
    clean_recognizable_visual_features: bool = False
    keep_laterality_markers: bool = True
    date_shift_min_days: int = -365
    date_shift_max_days: int = -1
    strict_iod: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kind = _KINDS[f.name]
            if kind is bool and not isinstance(value, bool):
                raise DeidConfigError(f.name, f"must be true or false, not {type(value).__name__}")
            if kind is int and (not isinstance(value, int) or isinstance(value, bool)):
                raise DeidConfigError(f.name, f"must be an integer, not {type(value).__name__}")
        allow = self.safe_private_allow_list
        if not isinstance(allow, frozenset) or not all(isinstance(e, SafePrivateTag) for e in allow):
            if isinstance(allow, Iterable) and not isinstance(allow, (str, bytes, Mapping)):
                allow = frozenset(allow)
                if not all(isinstance(e, SafePrivateTag) for e in allow):
                    raise DeidConfigError("safe_private_allow_list", "entries must be SafePrivateTag")
                object.__setattr__(self, "safe_private_allow_list", allow)
            else:
                raise DeidConfigError("safe_private_allow_list", "must be a set of SafePrivateTag")
        if self.retain_long_full_dates and self.retain_long_modified_dates:
            raise DeidConfigError(
                "retain_long_modified_dates",
                "retain_long_full_dates and retain_long_modified_dates are mutually exclusive",
            )
        lo, hi = self.date_shift_min_days, self.date_shift_max_days
        if lo > hi:
            raise DeidConfigError("date_shift_min_days", f"{lo} is greater than date_shift_max_days {hi}")
        if lo <= 0 <= hi:
            # A zero shift would release the true dates for some patients.
            raise DeidConfigError("date_shift_min_days", f"the range [{lo}, {hi}] must not contain 0")
        for name, value in (("date_shift_min_days", lo), ("date_shift_max_days", hi)):
            if abs(value) > MAX_SHIFT_DAYS:
                raise DeidConfigError(name, f"|{value}| exceeds {MAX_SHIFT_DAYS} days")

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> DeidOptions:
        """Build options from a mapping such as a parsed TOML table.

        Unknown keys, wrong types (an int where a bool is expected, a bool where an int is) and
        malformed allow-list entries raise DeidConfigError whose `key` is the exact offending key,
        e.g. ``retain_uid`` or ``safe_private_allow_list[1].group``. Allow-list entries are tables
        with exactly the keys creator (str), group (int, odd) and element (int, 0x00-0xFF); the
        given list replaces the default one.
        """
        if not isinstance(data, Mapping):
            raise DeidConfigError("deid", f"must be a table, not {type(data).__name__}")
        kwargs: dict[str, Any] = {}
        for key, value in data.items():
            if not isinstance(key, str) or key not in _KINDS:
                raise DeidConfigError(str(key), "unknown option")
            kind = _KINDS[key]
            if key == "safe_private_allow_list":
                kwargs[key] = _parse_allow_list(value)
            elif kind is bool:
                if not isinstance(value, bool):
                    raise DeidConfigError(key, f"must be true or false, not {type(value).__name__}")
                kwargs[key] = value
            elif kind is int:
                if not isinstance(value, int) or isinstance(value, bool):
                    raise DeidConfigError(key, f"must be an integer, not {type(value).__name__}")
                kwargs[key] = value
        return cls(**kwargs)

    def enabled_table_options(self) -> frozenset[str]:
        """Names of the Table E.1-1 option columns switched on."""
        return frozenset(name for name in TABLE_OPTION_FIELDS if getattr(self, name))


#: The DeidOptions fields that correspond to option columns of Table E.1-1.
TABLE_OPTION_FIELDS: tuple[str, ...] = (
    "retain_safe_private",
    "retain_uids",
    "retain_device_id",
    "retain_institution_id",
    "retain_patient_chars",
    "retain_long_full_dates",
    "retain_long_modified_dates",
    "clean_descriptors",
    "clean_structured_content",
    "clean_graphics",
)

_KINDS: dict[str, type] = {
    "retain_long_full_dates": bool,
    "retain_long_modified_dates": bool,
    "retain_patient_chars": bool,
    "retain_device_id": bool,
    "retain_institution_id": bool,
    "retain_uids": bool,
    "retain_safe_private": bool,
    "safe_private_allow_list": frozenset,
    "clean_descriptors": bool,
    "clean_structured_content": bool,
    "clean_graphics": bool,
    "clean_pixel_data": bool,
    "clean_recognizable_visual_features": bool,
    "keep_laterality_markers": bool,
    "date_shift_min_days": int,
    "date_shift_max_days": int,
    "strict_iod": bool,
}
assert set(_KINDS) == {f.name for f in fields(DeidOptions)}, "keep _KINDS in step with DeidOptions"

_ENTRY_KEYS = ("creator", "group", "element")


def _parse_allow_list(value: Any) -> frozenset[SafePrivateTag]:
    key = "safe_private_allow_list"
    if not isinstance(value, (list, tuple)):
        raise DeidConfigError(key, f"must be a list of tables, not {type(value).__name__}")
    entries = []
    for i, item in enumerate(value):
        where = f"{key}[{i}]"
        if not isinstance(item, Mapping):
            raise DeidConfigError(where, f"must be a table, not {type(item).__name__}")
        for k in item:
            if k not in _ENTRY_KEYS:
                raise DeidConfigError(f"{where}.{k}", "unknown key")
        for k in _ENTRY_KEYS:
            if k not in item:
                raise DeidConfigError(f"{where}.{k}", "missing")
        try:
            entries.append(SafePrivateTag(item["creator"], item["group"], item["element"]))
        except DeidConfigError as exc:
            raise DeidConfigError(f"{where}.{exc.key}", str(exc).split(": ", 1)[1]) from None
    return frozenset(entries)


#: The name the pixel/text stages use; same class.
Options = DeidOptions
