"""Generates docs/deid-conformance.md: every row of PS3.15 Table E.1-1 (2024b) with the action the
project takes under the Basic Profile and under each option.

    python -m appliance.deid.conformance > docs/deid-conformance.md

The cells use the action codes of the standard for what the engine really does (after variant
resolution, option precedence and fall-backs); tests/appliance/deid/test_conformance.py runs the
engine on every row under every option and compares the outcome with this document.
"""

from __future__ import annotations

import sys
from collections.abc import Iterable

from pydicom.datadict import dictionary_VR

from appliance.deid.iod import CR_IMAGE, DEFAULT_IOD_TYPES, GENERIC_IMAGE, IodTypes
from appliance.deid.options import TABLE_OPTION_FIELDS, DeidOptions
from appliance.deid.rules import (
    TEMPORAL_VRS,
    TEXT_VRS,
    UNLISTED_PERSON_NAME,
    UNLISTED_TEMPORAL,
    UNLISTED_UID,
    decide,
    resolve_variant,
)
from appliance.deid.table import (
    EDITION,
    PRIVATE_PATTERN,
    ProfileRow,
    ProfileTable,
    load_table,
)

#: Reference IOD of the option columns (the appliance's main input).
REFERENCE_SOP_CLASS = CR_IMAGE
#: Column order: basic, then the options in Table E.1-1 order.
COLUMNS: tuple[str, ...] = ("basic", *TABLE_OPTION_FIELDS)
COLUMN_TITLES = {
    "basic": "Basic",
    "retain_safe_private": "Rtn Safe Priv",
    "retain_uids": "Rtn UIDs",
    "retain_device_id": "Rtn Dev Id",
    "retain_institution_id": "Rtn Inst Id",
    "retain_patient_chars": "Rtn Pat Chars",
    "retain_long_full_dates": "Rtn Long Full Dates",
    "retain_long_modified_dates": "Rtn Long Modif Dates",
    "clean_descriptors": "Clean Desc",
    "clean_structured_content": "Clean Struct Cont",
    "clean_graphics": "Clean Graph",
}
_PATTERN_ROWS = ("(50XX,XXXX)", "(60XX,3000)", "(60XX,4000)")
_PSEUDONYM_TAGS = (0x00100010, 0x00100020)
_TIMEZONE_OFFSET = 0x00080201


def options_for(column: str) -> DeidOptions:
    """The options of one column: the Basic Profile alone, or it plus one option."""
    return DeidOptions() if column == "basic" else DeidOptions.from_mapping({column: True})


def row_vr(row: ProfileRow) -> str:
    tag = row.exact_tag
    if tag is None:
        return {"(60XX,3000)": "OB or OW", "(60XX,4000)": "LT"}.get(row.tag, "various")
    try:
        return dictionary_VR(tag)
    except KeyError:
        return "?"


def project_action(row: ProfileRow, column: str, iod: IodTypes, *, nested: bool = False) -> str:
    """The code of what the engine does to an attribute of `row` in an instance of `iod` with the
    options of `column`, assuming a text cleaner is plugged in; at the top level of the data set,
    or inside a sequence with `nested`."""
    tag = row.exact_tag
    if row.tag in _PATTERN_ROWS:
        return "X"  # the whole overlay/curve group goes, under X and C alike
    if row.tag == PRIVATE_PATTERN:
        return "C" if column == "retain_safe_private" else "X"
    assert tag is not None
    if tag >> 16 == 0x0000:
        return "X"  # command elements never belong in a stored data set
    if tag in _PSEUDONYM_TAGS:
        return "D"
    decision = decide(row, options_for(column), "3" if nested else iod.type_of(tag))
    if decision.action != "C":
        return decision.action
    vr = row_vr(row)
    if vr == "SQ" or vr in TEMPORAL_VRS or vr == "AE" or tag == _TIMEZONE_OFFSET or vr in TEXT_VRS:
        return "C"
    return decision.fallback  # binary values cannot be cleaned


def _notes(row: ProfileRow) -> str:
    notes = []
    tag = row.exact_tag
    if row.basic in ("Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*"):
        notes.append("[variant](#iod-dependent-variants)")
    if tag in _PSEUDONYM_TAGS:
        notes.append("[pseudonym](#deviations-and-choices)")
    if row.tag in _PATTERN_ROWS:
        notes.append("[group](#deviations-and-choices)")
    if tag is not None and tag >> 16 == 0x0000:
        notes.append("[command](#deviations-and-choices)")
    if tag is not None and tag >> 16 == 0x0002:
        notes.append("[file meta](#deviations-and-choices)")
    if row.is_temporal and any(o not in ("retain_long_full_dates", "retain_long_modified_dates") for o in row.options):
        notes.append("[dates](#deviations-and-choices)")
    if row.tag == PRIVATE_PATTERN:
        notes.append("[private](#private-attributes)")
    return " ".join(notes)


def _table(header: Iterable[str], rows: Iterable[Iterable[str]]) -> list[str]:
    header = list(header)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in r) + " |" for r in rows]
    return lines


def render_markdown(table: ProfileTable | None = None) -> str:
    """The whole document as Markdown."""
    table = table or load_table()
    ref = DEFAULT_IOD_TYPES[REFERENCE_SOP_CLASS]
    out: list[str] = []
    w = out.append
    w("# DICOM de-identification: conformance to PS3.15 Annex E")
    w("")
    w("<!-- Generated by `python -m appliance.deid.conformance > docs/deid-conformance.md`; do not edit. -->")
    w("")
    w(f"Source: DICOM PS3.15 Table E.1-1, edition **{EDITION}**, {len(table)} rows, machine-readable copy in")
    w("`appliance/deid/data/` (origin and licence: `appliance/deid/data/SOURCE.md`). Engine:")
    w("`appliance/deid/header.py` (`Deidentifier`); decisions: `appliance/deid/rules.py`. The table at the")
    w("end lists every row, and `tests/appliance/deid/test_conformance.py` checks the engine against it,")
    w("row by row and option by option.")
    w("")
    w("Stand-alone use: `python -m appliance.deid --secret-file site.secret [--config deid.toml]")
    w("[--store map.sqlite --store-key map.key] -o OUTDIR FILE...` (options in a `[deid]` TOML table; see")
    w("`appliance/deid/__main__.py`). From code: `Deidentifier(DeidOptions(...), secret).deidentify(ds)`.")
    w("")
    w("## Action codes")
    w("")
    w("Cells hold the code of what the engine does (not merely the standard's code):")
    w("")
    w("- **X** removed. **Z** zero-length value (a sequence: no items). **K** kept unchanged (a sequence:")
    w("  kept, its items processed by the same rules).")
    w("- **U** every value that is not a well-known UID (pydicom's UID dictionary: SOP classes, transfer")
    w("  syntaxes, coding schemes, ...) replaced by `2.25.<128-bit integer>`, the integer being")
    w("  HMAC-SHA256(site secret, original UID) with RFC 9562 version-8 bits: consistent across instances,")
    w("  studies and runs with the same secret, unrelated under another secret, never a bare hash. Applied")
    w("  wherever the attribute appears, including references inside sequences and (0002,0003).")
    w("- **D** a dummy value valid for the VR: text `DEIDENTIFIED`, DA `19000101`, TM `000000`, DT")
    w("  `19000101000000`, DS/IS `0`, binary numbers 0, AS `000Y`, UR `urn:deidentified`, OB/OW/UN 8 zero")
    w("  bytes, UI a keyed UID. A sequence gets dummy items: each item is processed by the rules and every")
    w("  value they would keep is replaced by its VR's dummy as well (code strings and class UIDs excepted),")
    w("  so codes and free text naming a person, an institution or a finding do not survive (Person")
    w("  Identification Code Sequence, Content Sequence, ...).")
    w("- **C** clean, by VR: DA and DT shifted by the patient's keyed offset (whole days in")
    w("  `date_shift_min_days..date_shift_max_days`, default -365..-1; DT keeps its time and UTC offset, reduced")
    w("  precision is kept); TM unchanged (the shift is whole days, so times of day stay true and paired with")
    w("  their dates); Timezone Offset From UTC `+0000`; AE a keyed pseudonymous AE title `DEID` + 12 hex;")
    w("  text VRs (LO, SH, ST, LT, UT, UC, PN, CS) passed through the `text_cleaner` hook (the free-text")
    w("  stage), truncated to the VR's length (a CS value the cleaner changes is emptied: a code string cannot hold")
    w("  its placeholder); a sequence kept, its items processed and the text the rules")
    w("  would keep passed through the text cleaner; private attributes kept when allow-listed. **When the")
    w("  engine cannot clean** (no `text_cleaner` plugged in, a date it cannot parse, a binary value) it")
    w("  takes the resolved Basic action of the row instead; the option columns below assume a text cleaner")
    w("  is plugged in. Without one, Clean Descriptors, Clean Structured Content and Clean Graphics are not")
    w("  claimed in De-identification Method.")
    w("")
    w("Option precedence: an enabled option proposes its code for the rows where its column has one; C")
    w("wins over K (it discloses less); no proposal leaves the Basic action. The two temporal options are")
    w("mutually exclusive (configuration error).")
    w("")
    w("## IOD-dependent variants")
    w("")
    w("Z/D, X/Z, X/D, X/Z/D and X/Z/U* depend on whether the IOD requires the attribute. At the top level of")
    w("the data set the engine looks the attribute's type up in the instance's IOD (`appliance/deid/iod.py`,")
    w("hand-curated from PS3.3 2024b module tables and cross-checked against dicom3tools' dciodvfy).")
    w("A conditional attribute (1C/2C) that is present is treated as required. SOP Classes without a curated")
    w("table use the generic image fallback (modules every image IOD shares), or are refused with")
    w("`strict_iod = true`. Inside sequences the enclosing macro decides the type, which the engine does not")
    w("model: nested attributes are resolved as Type 3 (the most protective choice).")
    w("")
    w(
        "\n".join(
            _table(
                ["Code", "Type 1/1C", "Type 2/2C", "Type 3 / absent / nested"],
                [[code, resolve_variant(code, "1"), resolve_variant(code, "2"), resolve_variant(code, "3")]
                 for code in ("Z/D", "X/Z", "X/D", "X/Z/D", "X/Z/U*")],
            )
        )
    )
    w("")
    w("U for X/Z/U* keeps the sequence and replaces the instance UIDs inside it.")
    w("")
    iods = [*DEFAULT_IOD_TYPES.items(), ("(other)", GENERIC_IMAGE)]
    names = {
        "1.2.840.10008.5.1.4.1.1.1": "CR",
        "1.2.840.10008.5.1.4.1.1.1.1": "DX pres.",
        "1.2.840.10008.5.1.4.1.1.1.1.1": "DX proc.",
        "1.2.840.10008.5.1.4.1.1.7": "SC",
        "1.2.840.10008.5.1.4.1.1.2": "CT",
        "1.2.840.10008.5.1.4.1.1.4": "MR",
        "(other)": "Generic",
    }
    variant_rows = sorted((r for r in table if "/" in r.basic), key=lambda r: r.tag)
    w("Resolution of every variant row per IOD (Basic Profile, top level):")
    w("")
    w(
        "\n".join(
            _table(
                ["Tag", "Name", "Code", *(names[uid] for uid, _ in iods), "Nested"],
                [
                    [r.tag, r.name, r.basic, *(project_action(r, "basic", iod) for _, iod in iods),
                     project_action(r, "basic", GENERIC_IMAGE, nested=True)]
                    for r in variant_rows
                ],
            )
        )
    )
    w("")
    w("## Attributes the table does not list")
    w("")
    w("Table E.1-1 keeps what it does not list, with these VR rules on top (anywhere in the data set,")
    w("including nested sequences and retained private attributes):")
    w("")
    w(
        "\n".join(
            _table(
                ["Rule", "Basic", "Options"],
                [
                    ["DA, DT, TM (" + UNLISTED_TEMPORAL.name + ")", UNLISTED_TEMPORAL.basic,
                     "Rtn Long Full Dates: K; Rtn Long Modif Dates: C"],
                    ["PN (" + UNLISTED_PERSON_NAME.name + ")", UNLISTED_PERSON_NAME.basic, "-"],
                    ["UI naming an instance (" + UNLISTED_UID.name + ")", UNLISTED_UID.basic, "Rtn UIDs: K"],
                    ["UI naming a class/syntax/scheme, or a well-known UID", "K", "-"],
                    ["Public tag unknown to the data dictionary", "X", "-"],
                    ["Group length (gggg,0000), command group 0000, group 0002 in the data set", "X", "-"],
                    ["Anything else", "K", "-"],
                ],
            )
        )
    )
    w("")
    w("## Private attributes")
    w("")
    w("Removed (X), Private Creator elements included. With `retain_safe_private`, a private data element")
    w("is kept when (Private Creator, group, element offset) is in `safe_private_allow_list` (default: a few")
    w("entries of PS3.15 Table E.3.10-1, see `appliance/deid/options.py`); its Private Creator element is")
    w("kept with it. A kept private element still follows the VR rules above (dates removed or shifted,")
    w("names removed, instance UIDs replaced); a kept private sequence has its items processed.")
    w("")
    w("## Deviations and choices")
    w("")
    w("- **pseudonym**: Patient ID (Z/D) is replaced everywhere by a keyed pseudonym of its value")
    w("  (`ANON` + 16 base32 characters of HMAC-SHA256(secret, Patient ID)); the top-level Patient's Name (Z)")
    w("  by the same pseudonym. Both are allowed: Z and Z/D permit \"a non-zero length value that may be a")
    w("  dummy value\". Nested Patient's Name follows its row (Z).")
    w("- **dates**: date and time rows that another option would keep (e.g. Retain Device Identity on Date of")
    w("  Last Calibration) are decided by the two temporal options only, so no option releases true dates")
    w("  unless Retain Longitudinal Temporal Information Full Dates is on.")
    w("- **group**: Overlay Data / Overlay Comments (60xx) and Curve Data (50xx): the whole repeating group is")
    w("  removed under X and C alike (an overlay without its data is invalid; no graphics cleaner exists).")
    w("  An overlay embedded in unused Pixel Data bits is reported as pending (`embedded_overlay_bits`).")
    w("- **command**: command elements (group 0000) are removed whatever the option.")
    w("- **file meta**: the File Meta Information is rebuilt: Media Storage SOP Class/Instance UID from the")
    w("  de-identified SOP Class/Instance UID, the original Transfer Syntax, the project's Implementation")
    w("  Class UID and Version Name, no Source/Sending/Receiving AE titles, no private information; the")
    w("  128-byte preamble is zeroed.")
    w("- Patient Identity Removed is set to YES; De-identification Method lists the profile and the options")
    w("  applied; De-identification Method Code Sequence carries their CID 7050 codes (DCM 113100-113112);")
    w("  Longitudinal Temporal Information Modified is MODIFIED, UNMODIFIED or REMOVED.")
    w("- Pixel data: Clean Pixel Data and Clean Recognizable Visual Features are flags for the pixel stage;")
    w("  the header engine reports them in `DeidResult.pending` and does not claim them (the stage calls")
    w("  `mark_option_applied`). Burned In Annotation YES, or a Secondary Capture whose Burned In Annotation")
    w("  is not NO, with Clean Pixel Data off raises `UnsafeToDeidentify` (native and encapsulated pixel data")
    w("  alike).")
    w("")
    w("## Table E.1-1")
    w("")
    w(f"Option columns: the Basic Profile plus that one option, for a top-level attribute of a {ref.name}")
    w("(see the per-IOD table above for the variants in other IODs).")
    w("")
    header = ["Tag", "Name", "VR", "Std Basic", *(COLUMN_TITLES[c] for c in COLUMNS), "Notes"]
    body = []
    for row in sorted(table, key=lambda r: (r.tag, r.name)):
        body.append(
            [row.tag, row.name, row_vr(row), row.basic, *(project_action(row, c, ref) for c in COLUMNS), _notes(row)]
        )
    w("\n".join(_table(header, body)))
    w("")
    return "\n".join(out)


def parse_markdown(text: str) -> dict[str, dict[str, str]]:
    """Read the main table back: tag -> {column: code}; for tests and audits."""
    lines = text.splitlines()
    start = lines.index("## Table E.1-1")
    header_idx = next(i for i in range(start, len(lines)) if lines[i].startswith("| Tag |"))
    titles = _cells(lines[header_idx])
    by_title = {v: k for k, v in COLUMN_TITLES.items()}
    result: dict[str, dict[str, str]] = {}
    for line in lines[header_idx + 2 :]:
        if not line.startswith("|"):
            break
        entry = dict(zip(titles, _cells(line)))
        result[entry["Tag"]] = {by_title[t]: entry[t] for t in titles if t in by_title}
    return result


def _cells(line: str) -> list[str]:
    return [c.strip() for c in line.strip()[1:-1].split("|")]


def main() -> int:
    sys.stdout.write(render_markdown())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
