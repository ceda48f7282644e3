"""Which action the engine takes for one attribute: the row's Basic Profile code with its
IOD-dependent variant resolved, overridden by the enabled options, or a VR rule for attributes the
table does not list. Pure functions of (row or element facts, options); the engine applies them
and the conformance document is generated from them.

Variant resolution (PS3.15 E.1.1, "X unless Z/D is required to maintain IOD conformance"), by the
attribute's type in the instance's IOD at the top level of the data set:

    code     Type 1/1C   Type 2/2C   Type 3 or absent
    Z/D      D           Z           Z
    X/Z      Z           Z           X
    X/D      D           D           X
    X/Z/D    D           Z           X
    X/Z/U*   U (*)       Z           X

(*) the sequence is kept and the instance UIDs inside it are replaced (they are U rows anyway).
Inside sequences the type of an attribute depends on the enclosing macro, which the engine does
not model: nested attributes are resolved as Type 3, the most protective choice.

Options: every enabled option whose column has a code for the row proposes it; C (clean) wins
over K (keep) because it discloses less; with no proposal the resolved basic action stands. For
temporal rows (those the two temporal options address) only the temporal options may propose an
action: a date is never kept in full because, e.g., Retain Device Identity keeps the calibration
date's row.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydicom.datadict import dictionary_VR, keyword_for_tag
from pydicom.uid import UID_dictionary

from deid.header.table import TEMPORAL_OPTIONS, ProfileRow
from deid.options import DeidOptions

TEMPORAL_VRS = frozenset({"DA", "DT", "TM"})
#: Text VRs the Clean action hands to the text cleaner.
TEXT_VRS = frozenset({"LO", "SH", "ST", "LT", "UT", "UC", "PN", "CS"})
BINARY_VRS = frozenset({"OB", "OW", "OD", "OF", "OL", "OV", "UN", "OB or OW", "US or OW"})

#: Pseudo-rows for attributes the table does not list (VR rules).
UNLISTED_TEMPORAL = ProfileRow(
    row_id="vr-temporal",
    tag="(unlisted DA/DT/TM)",
    name="Unlisted date/time",
    basic="X/Z/D",
    options={"retain_long_full_dates": "K", "retain_long_modified_dates": "C"},
    std_comp_iod=False,
)
UNLISTED_PERSON_NAME = ProfileRow(
    row_id="vr-pn",
    tag="(unlisted PN)",
    name="Unlisted person name",
    basic="X/Z/D",
    options={},
    std_comp_iod=False,
)
UNLISTED_UID = ProfileRow(
    row_id="vr-ui",
    tag="(unlisted UI)",
    name="Unlisted instance UID",
    basic="U",
    options={"retain_uids": "K"},
    std_comp_iod=False,
)

#: Unlisted UI attributes that name classes, syntaxes or schemes, never instances: kept.
_CLASS_UID_WORDS = ("SOPClass", "TransferSyntax")
_CLASS_UID_KEYWORDS = frozenset(
    {
        "ImplementationClassUID",
        "PrivateInformationCreatorUID",
        "CodingSchemeUID",
        "ContextGroupExtensionCreatorUID",
        "ContextUID",
        "MappingResourceUID",
        "CreatorVersionUID",
        "AffectedSOPClassUID",
        "RequestedSOPClassUID",
    }
)


@dataclass(frozen=True)
class Decision:
    """action: X, Z, D, K, C or U. fallback: the resolved Basic Profile action, taken when a C
    cannot be carried out (no text cleaner, unparsable date, binary value)."""

    action: str
    fallback: str


def resolve_variant(code: str, attr_type: str) -> str:
    """The concrete action for `code` given the attribute's type ("1", "1C", "2", "2C", "3")."""
    type1 = attr_type in ("1", "1C")
    type2 = attr_type in ("2", "2C")
    if code == "Z/D":
        return "D" if type1 else "Z"
    if code == "X/Z":
        return "Z" if (type1 or type2) else "X"
    if code == "X/D":
        return "D" if (type1 or type2) else "X"
    if code == "X/Z/D":
        return "D" if type1 else "Z" if type2 else "X"
    if code == "X/Z/U*":
        return "U" if type1 else "Z" if type2 else "X"
    return code


def decide(row: ProfileRow, options: DeidOptions, attr_type: str) -> Decision:
    """The action for an attribute governed by `row` (see the module docstring)."""
    basic = resolve_variant(row.basic, attr_type)
    temporal = row.is_temporal
    proposals = {
        code for opt, code in row.options.items() if getattr(options, opt) and (not temporal or opt in TEMPORAL_OPTIONS)
    }
    if "C" in proposals:
        return Decision("C", basic)
    if "K" in proposals:
        return Decision("K", basic)
    return Decision(basic, basic)


def unlisted_row(tag: int, vr: str, values: list[str]) -> ProfileRow | None:
    """The VR rule governing a public attribute that Table E.1-1 does not list, or None (keep).

    DA/DT/TM: treated as a temporal row with basic X/Z/D (removed, or kept/shifted by the temporal
    options). PN: X/Z/D. UI: U unless the attribute names a class/syntax/scheme or every value is
    a well-known UID (pydicom's UID dictionary).
    """
    if vr in TEMPORAL_VRS:
        return UNLISTED_TEMPORAL
    if vr == "PN":
        return UNLISTED_PERSON_NAME
    if vr == "UI":
        keyword = keyword_for_tag(tag) or ""
        if keyword in _CLASS_UID_KEYWORDS or any(w in keyword for w in _CLASS_UID_WORDS):
            return None
        if values and all(is_well_known_uid(v) for v in values):
            return None
        return UNLISTED_UID
    return None


def is_well_known_uid(value: str) -> bool:
    """True for UIDs defined by the standard (SOP classes, transfer syntaxes, coding schemes,
    frames of reference like Talairach, ...): those are never remapped."""
    return str(value).strip(" \x00") in UID_dictionary


def is_known_public_tag(tag: int) -> bool:
    """True if pydicom's dictionary (or its repeating-group dictionary) knows `tag`."""
    try:
        dictionary_VR(tag)
    except KeyError:
        return False
    return True
