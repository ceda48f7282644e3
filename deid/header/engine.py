"""The header de-identification engine: PS3.15 Annex E Basic Application Level Confidentiality
Profile with its options, applied to every data element of an instance, recursively.

What each action does (per VR), in short (docs/deid-conformance.md has the full statement):

- X remove. Z zero-length value (a sequence becomes empty). K keep (a sequence is kept and its
  items are processed by the same rules). U keyed UID replacement (keys.Keyring.uid) of every
  value that is not a well-known UID; for a sequence (X/Z/U* resolved to U) the sequence is kept
  and processed.
- D dummy value valid for the VR: text "DEIDENTIFIED", DA 19000101, TM 000000, DT 19000101000000,
  numbers 0, AS 000Y, UR urn:deidentified, binary 8 zero bytes, UI a keyed UID. A sequence gets
  dummy items: each item is processed by the rules and every value they would keep is replaced by
  its VR's dummy too (except code strings and class UIDs), so codes and free text naming a person,
  an institution or a finding do not survive.
- C clean: DA/DT shifted by the patient's keyed day offset (Modified Dates option), TM kept (the
  shift is whole days), Timezone Offset From UTC set to +0000, AE a keyed pseudonymous AE title,
  text VRs passed through the text cleaner hook; a sequence is kept, its items processed and the
  text the rules would keep passed through the text cleaner; private attributes kept when
  allow-listed. Where that is impossible (no text cleaner plugged in, an unparsable date, a binary
  value) the resolved Basic Profile action is taken instead.
- Overlay (60xx) and curve (50xx) repeating groups are removed whole under both X and C: an
  overlay without its data is not valid, and no graphics cleaner exists for the bitmaps.
- Patient ID is replaced everywhere by the keyed pseudonym of its value; the top-level Patient's
  Name by the patient's pseudonym (both allowed by Z/D and Z: "a non-zero length value that may
  be a dummy value").

The engine never mutates its input, never logs, and returns the re-identification mapping to the
caller only (DeidResult.record).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.multival import MultiValue
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian

from deid.errors import DeidConfigError, DeidError, UnsafeToDeidentify
from deid.header import dates
from deid.header.iod import DEFAULT_IOD_TYPES, GENERIC_IMAGE, SC_IMAGE, IodTypes
from deid.header.method import (
    IMPLEMENTATION_CLASS_UID,
    IMPLEMENTATION_VERSION_NAME,
    METHOD_CODES,
    PENDING_CLEAN_PIXEL_DATA,
    PENDING_CLEAN_VISUAL_FEATURES,
    PENDING_EMBEDDED_OVERLAY,
    ActionRecord,
    DeidResult,
    _write_method,
)
from deid.header.rules import (
    TEXT_VRS,
    Decision,
    decide,
    is_known_public_tag,
    is_well_known_uid,
    unlisted_row,
)
from deid.header.table import (
    ProfileTable,
    is_curve_group,
    is_overlay_group,
    load_table,
)
from deid.header.values import (
    _MAX_LEN,
    _dummy,
    _empty,
    _fmt,
    _is_empty,
    _name,
    _patient_key,
    _strings,
    _text,
    _uid_strings,
    _value,
)
from deid.keys import Keyring, normalize_uid
from deid.mapping import ReidentificationRecord
from deid.options import DeidOptions

_NEED_TEXT_CLEANER = frozenset({"clean_descriptors", "clean_structured_content", "clean_graphics"})
_SC_CLASSES = frozenset({SC_IMAGE} | {f"{SC_IMAGE}.{i}" for i in range(1, 5)})
_PATIENT_ID = 0x00100020
_PATIENT_NAME = 0x00100010
_TIMEZONE_OFFSET = 0x00080201
_PIXEL_DATA = 0x7FE00010
#: Written by the engine at the top level; never copied from the input.
_ENGINE_OWNED = frozenset({0x00120062, 0x00120063, 0x00120064, 0x00280303})

#: Sequence modes of the walk (ordered: a nested sequence takes the stricter one).
NORMAL, CLEAN, DUMMY = 0, 1, 2
_CLEANABLE_TEXT = frozenset({"LO", "SH", "ST", "LT", "UT", "UC"})


@contextlib.contextmanager
def _representable(tag: int, path: str) -> Iterator[None]:
    """pydicom reads values leniently and converts them only when they are copied: a Decimal
    String that is no number, or a UID in an element whose VR says IS, fails then, untyped. Such
    an instance cannot be de-identified safely: `UnsafeToDeidentify`, naming the element only."""
    try:
        yield
    except (ValueError, TypeError, OverflowError) as exc:
        where = path or "top level"
        raise UnsafeToDeidentify(
            f"value of {_fmt(tag)} at {where} cannot be represented ({type(exc).__name__})"
        ) from None


@dataclass
class _Run:
    """State of one deidentify() call."""

    iod: IodTypes
    pseudonym: str
    shift_days: int
    actions: list[ActionRecord] = field(default_factory=list)


class Deidentifier:
    """Applies the Basic Profile and the options of `options` to instances.

    secret: the site secret keying UIDs, pseudonyms and date shifts (>= 16 bytes; keep it stable:
        a new secret means new UIDs and pseudonyms for the same patients).
    iod_types: SOP Class UID -> top-level attribute types, for resolving Z/D, X/Z, ... variants.
    text_cleaner: the free-text stage's hook for the Clean action on text (str -> str); without
        it, text attributes whose option says C get their Basic Profile action, and the Clean
        Descriptors option is not claimed in De-identification Method.
    """

    def __init__(
        self,
        options: DeidOptions,
        secret: bytes,
        *,
        iod_types: Mapping[str, IodTypes] = DEFAULT_IOD_TYPES,
        text_cleaner: Callable[[str], str] | None = None,
        table: ProfileTable | None = None,
    ) -> None:
        if not isinstance(options, DeidOptions):
            raise DeidConfigError("options", "must be a DeidOptions")
        if text_cleaner is not None and not callable(text_cleaner):
            raise DeidConfigError("text_cleaner", "must be callable")
        self.options = options
        self.secret = bytes(secret)  # kept so a per-study engine (own text cleaner) can share it
        self._keys = Keyring(secret)
        self._iod_types = iod_types
        self._text_cleaner = text_cleaner
        self._table = table if table is not None else load_table()
        self._allow = frozenset((e.creator, e.group, e.element) for e in options.safe_private_allow_list)

    # -- public -----------------------------------------------------------------------------

    def deidentify(self, ds: Dataset) -> DeidResult:
        """De-identify `ds` (not modified). Raises UnsafeToDeidentify (see _check_safe) or
        DeidError (no SOP Instance UID, an element that cannot be decoded, unknown transfer
        syntax for encapsulated pixel data, a failing text cleaner)."""
        if not isinstance(ds, Dataset):
            raise DeidError("deidentify() needs a pydicom Dataset")
        sop_class = normalize_uid(ds.get("SOPClassUID", "") or "")
        sop_instance = normalize_uid(ds.get("SOPInstanceUID", "") or "")
        if not sop_instance:
            raise DeidError("the data set has no SOP Instance UID")
        iod = self._iod_types.get(sop_class)
        if iod is None:
            if self.options.strict_iod:
                raise UnsafeToDeidentify(f"SOP Class {sop_class or '(none)'} has no curated IOD table (strict_iod)")
            iod = GENERIC_IMAGE
        self._check_safe(ds, sop_class)

        patient_key = _patient_key(ds, sop_instance)
        run = _Run(
            iod=iod,
            pseudonym=self._keys.pseudonym(patient_key),
            shift_days=self._keys.date_shift(
                patient_key, self.options.date_shift_min_days, self.options.date_shift_max_days
            ),
        )
        out = self._process(ds, run, path="", top=True)
        out.PatientID = run.pseudonym
        out.PatientName = run.pseudonym
        applied = self._options_applied()
        _write_method(out, applied)
        out.LongitudinalTemporalInformationModified = (
            "MODIFIED"
            if self.options.retain_long_modified_dates
            else "UNMODIFIED"
            if self.options.retain_long_full_dates
            else "REMOVED"
        )
        result_ds = FileDataset("", out, preamble=b"\x00" * 128, file_meta=self._file_meta(ds, out))
        record = ReidentificationRecord(
            pseudonym=run.pseudonym,
            new_study_instance_uid=str(out.get("StudyInstanceUID", "")),
            new_series_instance_uid=str(out.get("SeriesInstanceUID", "")),
            new_sop_instance_uid=str(out.get("SOPInstanceUID", "")),
            date_shift_days=run.shift_days if self.options.retain_long_modified_dates else None,
            original_patient_id=_text(ds.get("PatientID")),
            original_patient_name=_text(ds.get("PatientName")),
            original_accession_number=_text(ds.get("AccessionNumber")),
            original_study_date=_text(ds.get("StudyDate")),
            original_study_instance_uid=normalize_uid(_text(ds.get("StudyInstanceUID"))),
            original_series_instance_uid=normalize_uid(_text(ds.get("SeriesInstanceUID"))),
            original_sop_instance_uid=sop_instance,
        )
        return DeidResult(
            dataset=result_ds,
            record=record,
            actions=run.actions,
            pending=self._pending(ds),
            options_applied=applied,
            iod=iod.name,
        )

    # -- safety and bookkeeping ---------------------------------------------------------------

    def _check_safe(self, ds: Dataset, sop_class: str) -> None:
        """Refuse what the header engine cannot make safe.

        Burned In Annotation YES without Clean Pixel Data: the header would be clean but the
        pixels would still show the patient (native or encapsulated pixel data alike: this engine
        touches neither). A Secondary Capture (scanned film, screenshot) whose Burned In
        Annotation is not explicitly NO is treated the same way, since such images commonly carry
        the patient's name.
        """
        if self.options.clean_pixel_data or _PIXEL_DATA not in ds:
            return
        burned = _text(ds.get("BurnedInAnnotation")).upper()
        if burned == "YES":
            raise UnsafeToDeidentify("Burned In Annotation is YES and clean_pixel_data is off")
        if sop_class in _SC_CLASSES and burned != "NO":
            raise UnsafeToDeidentify("Secondary Capture without Burned In Annotation NO and clean_pixel_data is off")

    def _pending(self, ds: Dataset) -> frozenset[str]:
        if _PIXEL_DATA not in ds:
            return frozenset()
        pending = set()
        if self.options.clean_pixel_data:
            pending.add(PENDING_CLEAN_PIXEL_DATA)
        if self.options.clean_recognizable_visual_features:
            pending.add(PENDING_CLEAN_VISUAL_FEATURES)
        # An overlay without Overlay Data keeps its bitmap in unused bits of Pixel Data (retired
        # but still seen): removing the 60xx group does not remove those bits.
        for group in range(0x6000, 0x6020, 2):
            if (group << 16 | 0x0010) in ds and (group << 16 | 0x3000) not in ds:
                pending.add(PENDING_EMBEDDED_OVERLAY)
        return frozenset(pending)

    def _options_applied(self) -> tuple[str, ...]:
        """Options recorded in De-identification Method: the enabled ones, except the Clean
        options whose text the engine could not clean (no text cleaner plugged in: their rows got
        the Basic Profile action instead)."""
        applied = [
            name
            for name in self.options.enabled_table_options()
            if name not in _NEED_TEXT_CLEANER or self._text_cleaner is not None
        ]
        return tuple(sorted(applied, key=lambda n: METHOD_CODES[n][0]))

    def _file_meta(self, src: Dataset, out: Dataset) -> FileMetaDataset:
        meta = FileMetaDataset()
        meta.FileMetaInformationVersion = b"\x00\x01"
        meta.MediaStorageSOPClassUID = out.get("SOPClassUID", "")
        meta.MediaStorageSOPInstanceUID = out.get("SOPInstanceUID", "")
        src_meta = getattr(src, "file_meta", None)
        syntax = str(src_meta.get("TransferSyntaxUID") or "") if src_meta is not None else ""
        if not syntax:
            pixels = src.get("PixelData")
            if isinstance(pixels, bytes) and pixels[:4] == b"\xfe\xff\x00\xe0":
                raise DeidError("encapsulated Pixel Data without a Transfer Syntax UID in the file meta")
            syntax = str(ExplicitVRLittleEndian)
        meta.TransferSyntaxUID = UID(syntax)
        meta.ImplementationClassUID = UID(IMPLEMENTATION_CLASS_UID)
        meta.ImplementationVersionName = IMPLEMENTATION_VERSION_NAME
        return meta

    # -- the walk -----------------------------------------------------------------------------
    #
    # `mode` says how the values the rules would keep unchanged are treated inside a sequence:
    # NORMAL keeps them (Basic Profile semantics for unlisted attributes); DUMMY (inside a
    # sequence whose action is D) replaces them by the VR's dummy, except code strings and
    # class/scheme UIDs, so that free text and codes identifying a person or an institution do
    # not survive; CLEAN (inside a sequence whose action is C) passes their text through the text
    # cleaner. A nested sequence takes the stricter of its parent's mode and its own.

    def _process(self, src: Dataset, run: _Run, path: str, top: bool, mode: int = NORMAL) -> Dataset:
        out = Dataset()
        kept_private = self._private_plan(src) if self.options.retain_safe_private else frozenset()
        # keys(), not iteration: iterating a Dataset yields elements and decodes them all.
        for tag in sorted(int(t) for t in src.keys()):  # noqa: SIM118
            try:
                elem = src[tag]
            except Exception as exc:  # a raw element pydicom cannot decode: cannot judge it
                raise DeidError(f"element {_fmt(tag)} at {path or 'top level'} cannot be decoded") from exc
            group, element = tag >> 16, tag & 0xFFFF
            if group in (0x0000, 0x0002) or element == 0x0000:
                # Command elements, misplaced file meta, group lengths: never part of the output.
                self._log(run, tag, "X", path)
                continue
            if group % 2 == 1:
                self._private(elem, out, run, path, mode, keep=tag in kept_private)
                continue
            if is_curve_group(group) or is_overlay_group(group):
                self._log(run, tag, "X", path)
                continue
            if top and tag in _ENGINE_OWNED:
                continue
            if tag == _PATIENT_ID:
                value = _text(elem.value)
                out.add(DataElement(tag, "LO", run.pseudonym if top else self._keys.pseudonym(value) if value else ""))
                self._log(run, tag, "D", path)
                continue
            if tag == _PATIENT_NAME and top:
                continue  # set to the pseudonym after the walk
            row = self._table.lookup(tag)
            if row is None:
                if not is_known_public_tag(tag):
                    self._log(run, tag, "X", path)  # not in any dictionary: cannot be judged
                    continue
                row = unlisted_row(tag, elem.VR, _uid_strings(elem))
                if row is None:
                    with _representable(tag, path):
                        self._unlisted(elem, out, run, path, mode)
                    continue
            attr_type = run.iod.type_of(tag) if top else "3"
            with _representable(tag, path):
                self._apply(decide(row, self.options, attr_type), elem, out, run, path, mode)
        if top and _PATIENT_NAME in src:
            self._log(run, _PATIENT_NAME, "D", path)
        return out

    def _apply(self, decision: Decision, elem: DataElement, out: Dataset, run: _Run, path: str, mode: int) -> None:
        action, vr, tag = decision.action, elem.VR, int(elem.tag)
        if action == "C":
            if self._clean(elem, out, run, path, mode):
                self._log(run, tag, "C", path)
                return
            action = decision.fallback
        if action == "X":
            pass
        elif action == "Z":
            out.add(DataElement(tag, vr, _empty(vr)))
        elif vr == "SQ" and action in ("K", "U"):
            self._sequence(elem, out, run, path, mode)
        elif vr == "SQ" and action == "D":
            self._sequence(elem, out, run, path, DUMMY)
        elif action == "K":
            self._copy(elem, out)
        elif action == "U" or (action == "D" and vr == "UI"):
            out.add(DataElement(tag, vr, self._map_uids(elem)))
        elif action == "D":
            out.add(DataElement(tag, vr, _dummy(vr)))
        else:  # a code the table validation should have rejected
            raise DeidError(f"unsupported action {action!r} for {_fmt(tag)}")
        self._log(run, tag, action, path)

    def _clean(self, elem: DataElement, out: Dataset, run: _Run, path: str, mode: int) -> bool:
        """Carry out C for `elem`; False when it cannot be done (the caller falls back)."""
        vr, tag = elem.VR, int(elem.tag)
        if vr == "SQ":
            if self._text_cleaner is None:  # its free text could not be cleaned
                return False
            self._sequence(elem, out, run, path, max(mode, CLEAN))
            return True
        values = _strings(elem)
        if vr in ("DA", "DT"):
            shift = dates.shift_da if vr == "DA" else dates.shift_dt
            shifted = [shift(v, run.shift_days) for v in values]
            if any(v is None for v in shifted):
                return False
            out.add(DataElement(tag, vr, _value([v for v in shifted if v is not None])))
            return True
        if vr == "TM":
            if not all(dates.valid_tm(v) for v in values if v.strip()):
                return False
            out.add(DataElement(tag, vr, _value(values)))
            return True
        if tag == _TIMEZONE_OFFSET:
            out.add(DataElement(tag, vr, "+0000"))
            return True
        if vr == "AE":
            out.add(DataElement(tag, vr, _value([self._keys.ae_title(v) for v in values])))
            return True
        if vr in TEXT_VRS and self._text_cleaner is not None:
            out.add(DataElement(tag, vr, _value([self._clean_text(tag, vr, v) for v in values])))
            return True
        return False

    def _clean_text(self, tag: int, vr: str, value: str) -> str:
        try:
            cleaned = self._text_cleaner(value)  # type: ignore[misc]
        except Exception as exc:
            raise DeidError(f"text cleaner failed on {_fmt(tag)}") from exc
        if not isinstance(cleaned, str):
            raise DeidError(f"text cleaner returned {type(cleaned).__name__} for {_fmt(tag)}")
        if vr == "CS" and cleaned != value:
            # A code string cannot hold the cleaner's "[TYPE]" placeholder (PS3.5 allows only upper
            # case, digits, space and underscore): a value that needed cleaning is emptied instead.
            return ""
        if vr not in ("LT", "ST", "UT"):
            cleaned = cleaned.replace("\\", " ")  # a backslash would split the value
        limit = _MAX_LEN.get(vr)
        return cleaned[:limit] if limit else cleaned

    def _unlisted(self, elem: DataElement, out: Dataset, run: _Run, path: str, mode: int) -> None:
        """An attribute no row or VR rule governs: kept, subject to the sequence mode."""
        tag, vr = int(elem.tag), elem.VR
        if vr == "SQ":
            self._sequence(elem, out, run, path, mode)
        elif mode == NORMAL or vr in ("CS", "UI") or _is_empty(elem.value):
            self._copy(elem, out)
        elif mode == DUMMY:
            out.add(DataElement(tag, vr, _dummy(vr)))
            self._log(run, tag, "D", path)
        elif vr in _CLEANABLE_TEXT:  # CLEAN: the text cleaner is plugged in (see _clean)
            out.add(DataElement(tag, vr, _value([self._clean_text(tag, vr, v) for v in _strings(elem)])))
            self._log(run, tag, "C", path)
        else:
            self._copy(elem, out)

    def _sequence(self, elem: DataElement, out: Dataset, run: _Run, path: str, mode: int) -> None:
        """Keep a sequence; every item is processed by the same rules, in `mode`."""
        tag = int(elem.tag)
        prefix = f"{path}{_fmt(tag)}"
        items = [
            self._process(item, run, f"{prefix}[{i}]/", top=False, mode=mode) for i, item in enumerate(elem.value or [])
        ]
        out.add(DataElement(tag, "SQ", Sequence(items)))

    @staticmethod
    def _copy(elem: DataElement, out: Dataset) -> None:
        value = elem.value
        out.add(DataElement(int(elem.tag), elem.VR, list(value) if isinstance(value, MultiValue) else value))

    def _map_uids(self, elem: DataElement) -> Any:
        mapped = [v if (not normalize_uid(v) or is_well_known_uid(v)) else self._keys.uid(v) for v in _strings(elem)]
        if not mapped:  # D on an empty UI still needs a value
            mapped = [self._keys.uid(f"dummy:{_fmt(int(elem.tag))}")]
        return _value(mapped)

    # -- private attributes ---------------------------------------------------------------------

    def _private_plan(self, src: Dataset) -> frozenset[int]:
        """Tags of the private elements kept under Retain Safe Private: allow-listed data
        elements and the Private Creator elements that reserve their blocks."""
        keep: set[int] = set()
        for key in src.keys():  # noqa: SIM118 (tags without decoding the elements)
            tag = int(key)
            group, element = tag >> 16, tag & 0xFFFF
            if group % 2 == 0 or element < 0x1000:
                continue
            creator_tag = group << 16 | element >> 8
            creator = src.get(creator_tag)
            if creator is None or not isinstance(creator.value, str):
                continue
            if (creator.value.strip(), group, element & 0xFF) in self._allow:
                keep.add(tag)
                keep.add(creator_tag)
        return frozenset(keep)

    def _private(self, elem: DataElement, out: Dataset, run: _Run, path: str, mode: int, keep: bool) -> None:
        tag = int(elem.tag)
        if not keep:
            self._log(run, tag, "X", path)
            return
        row = unlisted_row(tag, elem.VR, _uid_strings(elem)) if (tag & 0xFFFF) >= 0x1000 else None
        if row is None:
            # Allow-listed values are trusted as they are; a private sequence's items are processed.
            if elem.VR == "SQ":
                self._sequence(elem, out, run, path, mode)
            else:
                self._copy(elem, out)
            self._log(run, tag, "C", path)
            return
        # An allow-listed element still follows the VR rules (dates, names, instance UIDs).
        self._apply(decide(row, self.options, "3"), elem, out, run, path, mode)

    def _log(self, run: _Run, tag: int, action: str, path: str) -> None:
        run.actions.append(ActionRecord(_fmt(tag), _name(tag), action, path))
