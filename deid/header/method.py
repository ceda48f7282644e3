"""What the header engine returns and records: `DeidResult` with its per-element `ActionRecord`s, the
pending-work names for later stages, and the De-identification Method attributes (CID 7050 codes)
written into every output (`mark_option_applied` adds an option a later stage carried out)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from deid.errors import DeidConfigError
from deid.header.values import _strings, _value
from deid.mapping import ReidentificationRecord

#: This project's implementation identification (a 2.25 UID derived from a name-based UUID).
IMPLEMENTATION_CLASS_UID = "2.25.260748440119513171602331972455044889599"
IMPLEMENTATION_VERSION_NAME = "SMEDGE_DEID_1"

#: Names of the work DeidResult.pending may report for later stages.
PENDING_CLEAN_PIXEL_DATA = "clean_pixel_data"
PENDING_CLEAN_VISUAL_FEATURES = "clean_recognizable_visual_features"
PENDING_EMBEDDED_OVERLAY = "embedded_overlay_bits"

#: CID 7050 De-identification Method, coding scheme DCM (PS3.16); option field -> (code, meaning).
PROFILE_CODE = ("113100", "Basic Application Confidentiality Profile")
METHOD_CODES: Mapping[str, tuple[str, str]] = {
    "clean_pixel_data": ("113101", "Clean Pixel Data Option"),
    "clean_recognizable_visual_features": ("113102", "Clean Recognizable Visual Features Option"),
    "clean_graphics": ("113103", "Clean Graphics Option"),
    "clean_structured_content": ("113104", "Clean Structured Content Option"),
    "clean_descriptors": ("113105", "Clean Descriptors Option"),
    "retain_long_full_dates": ("113106", "Retain Longitudinal Temporal Information Full Dates Option"),
    "retain_long_modified_dates": ("113107", "Retain Longitudinal Temporal Information Modified Dates Option"),
    "retain_patient_chars": ("113108", "Retain Patient Characteristics Option"),
    "retain_device_id": ("113109", "Retain Device Identity Option"),
    "retain_uids": ("113110", "Retain UIDs Option"),
    "retain_safe_private": ("113111", "Retain Safe Private Option"),
    "retain_institution_id": ("113112", "Retain Institution Identity Option"),
}
_METHOD_PREFIX = "SecureMed Edge, DICOM PS3.15 E.1-1 2024b"


@dataclass(frozen=True)
class ActionRecord:
    """What was done to one element: its tag "(gggg,eeee)", its keyword (or "Private",
    "Unknown"), the action code actually taken and the sequence path to it ("" at top level,
    e.g. "(0008,1140)[0]/"). Contains no patient data."""

    tag: str
    name: str
    action: str
    path: str = ""

    def to_dict(self) -> dict[str, str]:
        return {"tag": self.tag, "name": self.name, "action": self.action, "path": self.path}


@dataclass(frozen=True)
class DeidResult:
    """dataset: the de-identified instance (a new object; the input is untouched), with rebuilt
    File Meta Information and a zeroed preamble. record: the re-identification mapping (patient
    data: store it encrypted, never log it). actions: per-element log without patient data.
    pending: work later stages must finish before the instance counts as de-identified
    (PENDING_* names). options_applied: the option fields recorded in De-identification Method."""

    dataset: Dataset
    record: ReidentificationRecord
    actions: list[ActionRecord]
    pending: frozenset[str]
    options_applied: tuple[str, ...]
    iod: str = ""

    def summary(self) -> dict[str, Any]:
        """A JSON-serialisable summary without patient data (tags, action codes, new UIDs)."""
        counts: dict[str, int] = {}
        for a in self.actions:
            counts[a.action] = counts.get(a.action, 0) + 1
        return {
            "sop_class_uid": str(self.dataset.get("SOPClassUID", "")),
            "new_sop_instance_uid": self.record.new_sop_instance_uid,
            "iod": self.iod,
            "options_applied": list(self.options_applied),
            "pending": sorted(self.pending),
            "action_counts": dict(sorted(counts.items())),
            "actions": [a.to_dict() for a in self.actions],
        }


def mark_option_applied(ds: Dataset, option: str) -> None:
    """Record in `ds` that a later stage carried out `option` (e.g. "clean_pixel_data" after the
    pixel stage redacted burned-in text): adds its CID 7050 code to De-identification Method
    Code Sequence and its meaning to De-identification Method, once."""
    if option not in METHOD_CODES:
        raise DeidConfigError("option", f"{option!r} is not a de-identification option")
    code, meaning = METHOD_CODES[option]
    seq = ds.get("DeidentificationMethodCodeSequence")
    if seq is None:
        ds.DeidentificationMethodCodeSequence = seq = Sequence()
    else:
        seq = seq.value if isinstance(seq, DataElement) else seq
    if any(str(item.get("CodeValue", "")) == code for item in seq):
        return
    seq.append(_code_item(code, meaning))
    methods = _strings(ds["DeidentificationMethod"]) if "DeidentificationMethod" in ds else []
    ds.DeidentificationMethod = _value([*methods, meaning])
    ds.PatientIdentityRemoved = "YES"


def _write_method(out: Dataset, applied: tuple[str, ...]) -> None:
    out.PatientIdentityRemoved = "YES"
    out.DeidentificationMethod = [_METHOD_PREFIX, PROFILE_CODE[1], *(METHOD_CODES[n][1] for n in applied)]
    out.DeidentificationMethodCodeSequence = Sequence(
        [_code_item(*PROFILE_CODE), *(_code_item(*METHOD_CODES[n]) for n in applied)]
    )


def _code_item(code: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue = code
    item.CodingSchemeDesignator = "DCM"
    item.CodeMeaning = meaning
    return item
