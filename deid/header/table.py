"""DICOM PS3.15 Table E.1-1 (edition 2024b) as typed rows, and the lookup of a tag's row.

The table is data (data/confidentiality_profile_attributes.json, see data/SOURCE.md); this module
only parses it. Which action is finally taken for an element (variants, options, VR rules) is
decided in deid/rules.py.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from types import MappingProxyType

from deid.errors import DeidConfigError

EDITION = "2024b"
TABLE_FILE = "confidentiality_profile_attributes.json"

#: Every action code of the "Basic Profile" column.
BASIC_ACTIONS = frozenset({"D", "Z", "X", "K", "C", "U", "Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"})
#: Codes the option columns use.
OPTION_ACTIONS = frozenset({"K", "C"})

#: Option column of the JSON -> name of the DeidOptions field that switches it on.
OPTION_COLUMNS: Mapping[str, str] = MappingProxyType(
    {
        "rtnSafePrivOpt": "retain_safe_private",
        "rtnUIDsOpt": "retain_uids",
        "rtnDevIdOpt": "retain_device_id",
        "rtnInstIdOpt": "retain_institution_id",
        "rtnPatCharsOpt": "retain_patient_chars",
        "rtnLongFullDatesOpt": "retain_long_full_dates",
        "rtnLongModifDatesOpt": "retain_long_modified_dates",
        "cleanDescOpt": "clean_descriptors",
        "cleanStructContOpt": "clean_structured_content",
        "cleanGraphOpt": "clean_graphics",
    }
)
#: Options that only ever decide about temporal (DA/DT/TM) attributes.
TEMPORAL_OPTIONS = frozenset({"retain_long_full_dates", "retain_long_modified_dates"})

_EXACT = re.compile(r"^\(([0-9A-F]{4}),([0-9A-F]{4})\)$")
PRIVATE_PATTERN = "(GGGG,EEEE) WHERE GGGG IS ODD"


@dataclass(frozen=True)
class ProfileRow:
    """One row of Table E.1-1.

    tag: the tag as printed in the standard, e.g. "(0010,0010)" or "(60XX,3000)".
    basic: the Basic Profile action code.
    options: DeidOptions field name -> action code ("K" or "C") for the options that change it.
    std_comp_iod: "In Std. Comp. IOD" column (the attribute appears in a standard composite IOD).
    """

    row_id: str
    tag: str
    name: str
    basic: str
    options: Mapping[str, str]
    std_comp_iod: bool

    @property
    def exact_tag(self) -> int | None:
        """The tag as an int for rows naming one attribute; None for pattern rows."""
        m = _EXACT.match(self.tag)
        return int(m.group(1) + m.group(2), 16) if m else None

    @property
    def is_temporal(self) -> bool:
        """True for rows the two temporal options address (dates, times, timestamps)."""
        return any(opt in TEMPORAL_OPTIONS for opt in self.options)


@dataclass(frozen=True)
class ProfileTable:
    """All rows, with the lookups the engine needs."""

    rows: tuple[ProfileRow, ...]
    edition: str = EDITION

    def __post_init__(self) -> None:
        exact: dict[int, ProfileRow] = {}
        patterns: dict[str, ProfileRow] = {}
        for row in self.rows:
            tag = row.exact_tag
            if tag is None:
                patterns[row.tag] = row
            elif tag in exact:
                raise DeidConfigError("table", f"duplicate row for {row.tag}")
            else:
                exact[tag] = row
        for needed in ("(50XX,XXXX)", "(60XX,3000)", "(60XX,4000)", PRIVATE_PATTERN):
            if needed not in patterns:
                raise DeidConfigError("table", f"pattern row {needed} is missing")
        unknown = set(patterns) - {"(50XX,XXXX)", "(60XX,3000)", "(60XX,4000)", PRIVATE_PATTERN}
        if unknown:
            raise DeidConfigError("table", f"unsupported tag patterns {sorted(unknown)}")
        object.__setattr__(self, "_exact", exact)
        object.__setattr__(self, "_patterns", patterns)

    def __iter__(self) -> Iterator[ProfileRow]:
        return iter(self.rows)

    def __len__(self) -> int:
        return len(self.rows)

    @property
    def curve_row(self) -> ProfileRow:
        return self._patterns["(50XX,XXXX)"]  # type: ignore[attr-defined]

    @property
    def overlay_data_row(self) -> ProfileRow:
        return self._patterns["(60XX,3000)"]  # type: ignore[attr-defined]

    @property
    def overlay_comments_row(self) -> ProfileRow:
        return self._patterns["(60XX,4000)"]  # type: ignore[attr-defined]

    @property
    def private_row(self) -> ProfileRow:
        return self._patterns[PRIVATE_PATTERN]  # type: ignore[attr-defined]

    def lookup(self, tag: int) -> ProfileRow | None:
        """The row that governs `tag`, or None if the table does not list it.

        Curves (50xx,xxxx) and overlays (60xx,3000)/(60xx,4000) match their pattern rows for the
        even repeating groups 5000-501E / 6000-601E; private tags (odd groups) match the private
        row. Every other tag needs an exact row.
        """
        row = self._exact.get(tag)  # type: ignore[attr-defined]
        if row is not None:
            return row
        group, element = tag >> 16, tag & 0xFFFF
        if group % 2 == 1:
            return self.private_row
        if is_curve_group(group):
            return self.curve_row
        if is_overlay_group(group):
            if element == 0x3000:
                return self.overlay_data_row
            if element == 0x4000:
                return self.overlay_comments_row
        return None


def is_curve_group(group: int) -> bool:
    """True for the retired curve repeating groups 5000-501E (even)."""
    return 0x5000 <= group <= 0x501E and group % 2 == 0


def is_overlay_group(group: int) -> bool:
    """True for the overlay repeating groups 6000-601E (even)."""
    return 0x6000 <= group <= 0x601E and group % 2 == 0


def parse_rows(raw: object) -> tuple[ProfileRow, ...]:
    """Validate the JSON document and turn it into rows; DeidConfigError names the bad row."""
    if not isinstance(raw, list):
        raise DeidConfigError("table", "top level must be a list of rows")
    rows = []
    for i, item in enumerate(raw):
        where = f"table[{i}]"
        if not isinstance(item, dict):
            raise DeidConfigError(where, "row must be an object")
        for key in ("name", "tag", "id", "basicProfile", "stdCompIOD"):
            if not isinstance(item.get(key), str):
                raise DeidConfigError(f"{where}.{key}", "missing or not a string")
        basic = item["basicProfile"]
        if basic not in BASIC_ACTIONS:
            raise DeidConfigError(f"{where}.basicProfile", f"unknown action {basic!r}")
        options = {}
        for column, field_name in OPTION_COLUMNS.items():
            if column in item:
                code = item[column]
                if code not in OPTION_ACTIONS:
                    raise DeidConfigError(f"{where}.{column}", f"unknown option action {code!r}")
                options[field_name] = code
        extra = set(item) - {"name", "tag", "id", "basicProfile", "stdCompIOD"} - set(OPTION_COLUMNS)
        if extra:
            raise DeidConfigError(f"{where}", f"unknown columns {sorted(extra)}")
        rows.append(
            ProfileRow(
                row_id=item["id"],
                tag=item["tag"].upper(),
                name=" ".join(item["name"].split()),  # some names carry line breaks ("... (see Note 11)")
                basic=basic,
                options=MappingProxyType(options),
                std_comp_iod=item["stdCompIOD"] == "Y",
            )
        )
    return tuple(rows)


@lru_cache(maxsize=1)
def load_table() -> ProfileTable:
    """The bundled edition-2024b table (parsed once per process)."""
    text = resources.files("deid.header").joinpath("data", TABLE_FILE).read_text("utf-8")
    return ProfileTable(rows=parse_rows(json.loads(text)))
