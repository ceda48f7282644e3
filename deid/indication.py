"""The clinical indication of a study: found in the original header, cleaned before anything sees it.

Contract
--------
`find_indication(ds)` returns the first non-blank free-text source, in this order (issue 11):

1. in each item of Request Attributes Sequence (0040,0275): Reason for the Requested Procedure
   (0040,1002), then Requested Procedure Description (0032,1060);
2. Reason for the Requested Procedure (0040,1002) at the top level;
3. Admitting Diagnoses Description (0008,1080);
4. Additional Patient History (0010,21B0);
5. Study Description (0008,1030), the last resort.

It must be read from the ORIGINAL dataset: PS3.15 Annex E removes or cleans these attributes. The
raw text it returns is patient data; only `clean_indication` may turn it into something another
component sees. `clean_indication(raw, cleaner)` cleans it with the same free-text cleaning as the
header's descriptors (`DeidTool.indication` passes the tool's TextRedactor with the study's own
deny-list); with no cleaner the raw text is never used and the status is "uncleanable".

`Indication.source` names the attribute as a keyword path (never a value), so it may be logged; its
`text` is the cleaned indication (de-identified, but still clinical free text: not logged either).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, Literal

from pydicom.dataset import Dataset

Status = Literal["present", "absent", "uncleanable"]

#: Longest raw indication cleaned (characters): Additional Patient History is LT (up to 10240); the
#: prompt is an indication line and the model reads its first tokens only, so the rest is dropped
#: before cleaning rather than after (less text through Presidio, nothing unbounded).
MAX_INDICATION_CHARS = 2048

_SEQUENCE = "RequestAttributesSequence"
_IN_SEQUENCE = ("ReasonForTheRequestedProcedure", "RequestedProcedureDescription")
_TOP_LEVEL = (
    "ReasonForTheRequestedProcedure",
    "AdmittingDiagnosesDescription",
    "AdditionalPatientHistory",
    "StudyDescription",
)


@dataclass(frozen=True)
class Indication:
    """text: the cleaned indication (None unless status is "present"); source: the attribute it came
    from as a keyword path, e.g. "RequestAttributesSequence[0].ReasonForTheRequestedProcedure"
    (None when absent)."""

    text: str | None
    source: str | None
    status: Status

    def __repr__(self) -> str:
        # The text is clinical free text of a patient: keep it out of logs and tracebacks.
        return f"Indication(source={self.source!r}, status={self.status!r})"


ABSENT = Indication(None, None, "absent")


def _text(ds: Dataset, keyword: str) -> str:
    """The attribute's value as one stripped string ("" if missing, empty or undecodable).

    Multi-valued attributes (Admitting Diagnoses Description is LO, 1-n) are joined with "; "."""
    try:
        if keyword not in ds:
            return ""
        value: Any = ds[keyword].value
    except Exception:  # pydicom raises many types on a value it cannot decode: nothing to read
        return ""
    if value is None:
        return ""
    items = list(value) if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue" else [value]
    parts = []
    for item in items:
        if isinstance(item, bytes):
            item = item.decode("latin-1", errors="replace")
        text = " ".join(str(item).split())
        if text:
            parts.append(text)
    return "; ".join(parts)


def _candidates(ds: Dataset) -> Iterator[tuple[str, str]]:
    """(source, raw text) of every source, in the documented order."""
    try:
        items = list(ds.get(_SEQUENCE) or ()) if _SEQUENCE in ds else []
    except Exception:
        items = []
    for i, item in enumerate(items):
        if isinstance(item, Dataset):
            for keyword in _IN_SEQUENCE:
                yield f"{_SEQUENCE}[{i}].{keyword}", _text(item, keyword)
    for keyword in _TOP_LEVEL:
        yield keyword, _text(ds, keyword)


def find_indication(ds: Dataset) -> tuple[str, str] | None:
    """(source, raw text) of the first non-blank source, or None. The text is NOT cleaned."""
    for source, raw in _candidates(ds):
        if raw:
            return source, raw[:MAX_INDICATION_CHARS]
    return None


def clean_indication(found: tuple[str, str] | None, cleaner: Callable[[str], str] | None) -> Indication:
    """The Indication of `find_indication`'s result: cleaned by `cleaner`, or "uncleanable" without
    one (the raw text is dropped). A text that cleans to nothing is absent."""
    if found is None:
        return ABSENT
    source, raw = found
    if cleaner is None:
        return Indication(None, source, "uncleanable")
    text = " ".join(cleaner(raw).split())
    if not text:
        return Indication(None, source, "absent")
    return Indication(text, source, "present")
