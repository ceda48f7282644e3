"""Strict structural parse of a received data set, yielding only the UIDs the spool needs.

The listener stores what it received byte for byte and never decodes pixel data. It still must
refuse a stream that is not a data set: pydicom's reader is lenient on purpose (a truncated last
element, trailing garbage or random bytes come back as a partial Dataset without an error), so
this module walks the element structure itself:

* every element header and value length must fit in the bytes received (no truncation, no
  trailing garbage);
* explicit VR streams must carry known VR codes;
* undefined lengths are allowed only where PS3.5 allows them (SQ, UN per CP-246, encapsulated
  Pixel Data, and any element in implicit VR, where it means SQ), and their items and delimiters
  are walked too, to a bounded depth;
* (0008,0016) SOP Class UID, (0008,0018) SOP Instance UID and (0020,000D) Study Instance UID are
  read from the top level and must be valid UIDs (PS3.5 9.1: digits and dots, no leading zeros,
  at most 64 characters). That validity is also what makes them safe as file and folder names.

Values are never interpreted beyond those three UIDs, so a malformed value (e.g. a bad date) is
the pipeline's problem, not the listener's.
"""

from __future__ import annotations

import re
import struct
import zlib
from dataclasses import dataclass

from dicom_listener.errors import InvalidIdentifier, LimitExceeded, MalformedDataset, MissingIdentifier

IMPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2"
EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1"
DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN = "1.2.840.10008.1.2.1.99"
EXPLICIT_VR_BIG_ENDIAN = "1.2.840.10008.1.2.2"

SOP_CLASS_UID = 0x00080016
SOP_INSTANCE_UID = 0x00080018
STUDY_INSTANCE_UID = 0x0020000D
SAMPLES_PER_PIXEL = 0x00280002
NUMBER_OF_FRAMES = 0x00280008
ROWS = 0x00280010
COLUMNS = 0x00280011
BITS_ALLOCATED = 0x00280100
BITS_STORED = 0x00280101
_IMAGE_TAGS = (SAMPLES_PER_PIXEL, NUMBER_OF_FRAMES, ROWS, COLUMNS, BITS_ALLOCATED, BITS_STORED)
_WANTED = frozenset((SOP_CLASS_UID, SOP_INSTANCE_UID, STUDY_INSTANCE_UID, *_IMAGE_TAGS))
FRAGMENT_HEAD_BYTES = 65536
"""How much of the first frame's codestream is kept for the header check (APPn segments included)."""

_PIXEL_DATA = 0x7FE00010
_ITEM = 0xFFFEE000
_ITEM_DELIMITER = 0xFFFEE00D
_SEQUENCE_DELIMITER = 0xFFFEE0DD
_UNDEFINED = 0xFFFFFFFF

_KNOWN_VRS = frozenset(
    vr.encode()
    for vr in [
        "AE",
        "AS",
        "AT",
        "CS",
        "DA",
        "DS",
        "DT",
        "FD",
        "FL",
        "IS",
        "LO",
        "LT",
        "OB",
        "OD",
        "OF",
        "OL",
        "OV",
        "OW",
        "PN",
        "SH",
        "SL",
        "SQ",
        "SS",
        "ST",
        "SV",
        "TM",
        "UC",
        "UI",
        "UL",
        "UN",
        "UR",
        "US",
        "UT",
        "UV",
    ]
)
# VRs whose explicit header is 2 reserved bytes + a 32-bit length (PS3.5 7.1.2).
_LONG_VRS = frozenset(
    vr.encode() for vr in ["OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"]
)

MAX_DEPTH = 32
"""Deepest sequence nesting accepted; real objects stay in single digits."""

MAX_INFLATED_BYTES = 512 * 1024 * 1024
"""Cap on the inflated size of a Deflated Explicit VR data set (a deflate bomb is refused)."""

_UID_RE = re.compile(r"(0|[1-9][0-9]*)(\.(0|[1-9][0-9]*))*")
_U16 = struct.Struct("<H")
_U32 = struct.Struct("<I")
_TAG = struct.Struct("<HH")


def is_valid_uid(value: object) -> bool:
    """True for a valid DICOM UID: 1-64 characters, dot-separated numbers, no leading zeros."""
    return isinstance(value, str) and 0 < len(value) <= 64 and _UID_RE.fullmatch(value) is not None


@dataclass(frozen=True)
class InstanceIdentity:
    """The three UIDs that decide where an instance is stored; all valid DICOM UIDs."""

    sop_class_uid: str
    sop_instance_uid: str
    study_instance_uid: str


@dataclass(frozen=True)
class ImageHeader:
    """The top-level image attributes that bound what decoding the pixel data costs.

    Integer attributes are None when absent (or not a single valid value). pixel_data_length is
    the native Pixel Data length (None when encapsulated); first_fragment is the head (at most
    FRAGMENT_HEAD_BYTES) of the fragments after the Basic Offset Table, concatenated (the first
    frame's codestream starts there), None when native or when there is no such fragment.
    """

    rows: int | None
    columns: int | None
    number_of_frames: int | None
    samples_per_pixel: int | None
    bits_allocated: int | None
    bits_stored: int | None
    encapsulated: bool
    pixel_data_length: int | None
    first_fragment: bytes | None


@dataclass(frozen=True)
class ParsedInstance:
    """parse_instance's result: the identity, and the image header when there is Pixel Data."""

    identity: InstanceIdentity
    image: ImageHeader | None


def parse_identity(dataset: bytes, transfer_syntax_uid: str) -> InstanceIdentity:
    """Walk `dataset` (encoded in `transfer_syntax_uid`, no file meta) and return its identity.

    Raises MalformedDataset when the bytes are not a well-formed little-endian data set,
    MissingIdentifier when a required UID is absent or empty, InvalidIdentifier when it is not a
    valid UID. Never raises anything else for any input bytes.
    """
    return parse_instance(dataset, transfer_syntax_uid).identity


def parse_instance(
    dataset: bytes | memoryview, transfer_syntax_uid: str, *, max_inflated_bytes: int = MAX_INFLATED_BYTES
) -> ParsedInstance:
    """parse_identity, plus the top-level image header (Rows, Columns, ... first fragment).

    `dataset` may be a memoryview (the listener maps the file it received into one): it is
    walked in place, nothing of it is kept beyond the copied values of the wanted elements.

    A deflated data set is inflated at most to max_inflated_bytes: beyond it LimitExceeded is
    raised, having held no more than that in memory. Same errors as parse_identity otherwise.
    """
    if transfer_syntax_uid == IMPLICIT_VR_LITTLE_ENDIAN:
        implicit = True
    elif transfer_syntax_uid == EXPLICIT_VR_BIG_ENDIAN:
        raise MalformedDataset("big endian transfer syntax is not accepted")
    elif is_valid_uid(transfer_syntax_uid):
        # Every other accepted syntax (native explicit LE, deflated, and all encapsulated ones)
        # encodes the data set in explicit VR little endian.
        implicit = False
    else:
        raise MalformedDataset("transfer syntax UID is not a valid UID")
    if transfer_syntax_uid == DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN:
        dataset = _inflate(dataset, max_inflated_bytes)

    found: dict[int, bytes] = {}
    walker = _Walker(memoryview(dataset), implicit, found)
    end = walker.dataset(0, len(dataset), delimited=False, depth=0, implicit=implicit)
    if end != len(dataset):  # pragma: no cover - dataset() only returns at the limit
        raise MalformedDataset("data set does not end at the end of the stream")
    identity = InstanceIdentity(
        sop_class_uid=_uid(found, SOP_CLASS_UID, "SOP Class UID"),
        sop_instance_uid=_uid(found, SOP_INSTANCE_UID, "SOP Instance UID"),
        study_instance_uid=_uid(found, STUDY_INSTANCE_UID, "Study Instance UID"),
    )
    image = None
    if walker.pixel_data_length is not None or walker.encapsulated:
        image = ImageHeader(
            rows=_us(found, ROWS),
            columns=_us(found, COLUMNS),
            number_of_frames=_integer_string(found.get(NUMBER_OF_FRAMES)),
            samples_per_pixel=_us(found, SAMPLES_PER_PIXEL),
            bits_allocated=_us(found, BITS_ALLOCATED),
            bits_stored=_us(found, BITS_STORED),
            encapsulated=walker.encapsulated,
            pixel_data_length=walker.pixel_data_length,
            first_fragment=walker.first_fragment,
        )
    return ParsedInstance(identity, image)


def _us(found: dict[int, bytes], tag: int) -> int | None:
    raw = found.get(tag)
    if raw is None or len(raw) != 2:
        return None
    return int(_U16.unpack(raw)[0])


def _integer_string(raw: bytes | None) -> int | None:
    if raw is None:
        return None
    text = raw.strip(b" \x00")
    if not text or len(text) > 12 or not text.lstrip(b"+").isdigit():
        return None
    return int(text)


def _inflate(data: bytes | memoryview, limit: int) -> bytes:
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error as exc:
        raise MalformedDataset(f"deflated data set does not inflate ({exc})") from None
    if len(out) > limit:
        raise LimitExceeded(f"deflated data set inflates beyond {limit} bytes")
    if not inflater.eof:
        raise MalformedDataset("deflated data set is truncated")
    return out


def _uid(found: dict[int, bytes], tag: int, name: str) -> str:
    raw = found.get(tag)
    if raw is None:
        raise MissingIdentifier(f"{name} is missing")
    # UI values are padded to even length with NUL; tolerate trailing spaces from sloppy writers.
    try:
        value = raw.rstrip(b"\x00 ").decode("ascii")
    except UnicodeDecodeError:
        raise InvalidIdentifier(f"{name} is not ASCII") from None
    if not value:
        raise MissingIdentifier(f"{name} is empty")
    if not is_valid_uid(value):
        raise InvalidIdentifier(f"{name} is not a valid UID")
    return value


class _Walker:
    """Recursive-descent walk over one buffer; positions are absolute offsets into it."""

    def __init__(self, buf: memoryview, implicit: bool, found: dict[int, bytes]) -> None:
        self.buf = buf
        self.top_implicit = implicit
        self.found = found
        self.pixel_data_length: int | None = None
        self.encapsulated = False
        self.first_fragment: bytes | None = None

    def _header(self, pos: int, limit: int) -> tuple[int, int]:
        if pos + 8 > limit:
            raise MalformedDataset(f"truncated element header at offset {pos}")
        group, element = _TAG.unpack_from(self.buf, pos)
        return (group << 16) | element, _U32.unpack_from(self.buf, pos + 4)[0]

    def dataset(self, pos: int, limit: int, *, delimited: bool, depth: int, implicit: bool) -> int:
        """Walk elements from `pos`; return the offset just after the data set.

        delimited=False: the data set ends exactly at `limit` (top level, defined-length item).
        delimited=True: it ends with an Item Delimitation Item, somewhere before `limit`.
        """
        buf = self.buf
        while True:
            if pos == limit and not delimited:
                return pos
            tag, length = self._header(pos, limit)
            if tag == _ITEM_DELIMITER:
                if not delimited:
                    raise MalformedDataset(f"unexpected item delimiter at offset {pos}")
                return pos + 8
            if tag >> 16 == 0xFFFE:
                raise MalformedDataset(f"unexpected item tag at offset {pos}")
            vr: bytes | None
            if implicit:
                vr = None
                pos += 8
            else:
                vr = bytes(buf[pos + 4 : pos + 6])
                if vr not in _KNOWN_VRS:
                    raise MalformedDataset(f"unknown VR at offset {pos}")
                if vr in _LONG_VRS:
                    if pos + 12 > limit:
                        raise MalformedDataset(f"truncated element header at offset {pos}")
                    length = _U32.unpack_from(buf, pos + 8)[0]
                    pos += 12
                else:
                    length = _U16.unpack_from(buf, pos + 6)[0]
                    pos += 8
            if length == _UNDEFINED:
                pos = self._undefined_length(tag, vr, pos, limit, depth, implicit)
                continue
            if pos + length > limit:
                raise MalformedDataset(f"value of length {length} overruns the data at offset {pos}")
            if vr == b"SQ":
                self._defined_items(pos, pos + length, depth + 1, implicit)
            if depth == 0 and tag == _PIXEL_DATA:
                self.pixel_data_length = length  # never copied: it may be most of the data set
            elif depth == 0 and tag in _WANTED:
                self.found[tag] = bytes(buf[pos : pos + length])
            pos += length

    def _undefined_length(self, tag: int, vr: bytes | None, pos: int, limit: int, depth: int, implicit: bool) -> int:
        if vr is None or vr == b"SQ":
            return self._delimited_items(pos, limit, depth + 1, implicit)
        if vr == b"UN":
            # CP-246: an undefined-length UN is a sequence encoded in implicit VR little endian.
            return self._delimited_items(pos, limit, depth + 1, True)
        if vr in (b"OB", b"OW") and tag == _PIXEL_DATA:
            return self._fragments(pos, limit, top=depth == 0)
        raise MalformedDataset(f"undefined length not allowed for this element at offset {pos}")

    def _check_depth(self, depth: int) -> None:
        if depth > MAX_DEPTH:
            raise MalformedDataset(f"sequences nested deeper than {MAX_DEPTH}")

    def _item(self, pos: int, limit: int, length: int, depth: int, implicit: bool) -> int:
        if length == _UNDEFINED:
            return self.dataset(pos, limit, delimited=True, depth=depth, implicit=implicit)
        if pos + length > limit:
            raise MalformedDataset(f"item of length {length} overruns the data at offset {pos}")
        return self.dataset(pos, pos + length, delimited=False, depth=depth, implicit=implicit)

    def _delimited_items(self, pos: int, limit: int, depth: int, implicit: bool) -> int:
        self._check_depth(depth)
        while True:
            tag, length = self._header(pos, limit)
            if tag == _SEQUENCE_DELIMITER:
                return pos + 8
            if tag != _ITEM:
                raise MalformedDataset(f"expected an item or sequence delimiter at offset {pos}")
            pos = self._item(pos + 8, limit, length, depth, implicit)

    def _defined_items(self, pos: int, end: int, depth: int, implicit: bool) -> None:
        self._check_depth(depth)
        while pos < end:
            tag, length = self._header(pos, end)
            if tag != _ITEM:
                raise MalformedDataset(f"expected an item at offset {pos}")
            pos = self._item(pos + 8, end, length, depth, implicit)

    def _fragments(self, pos: int, limit: int, *, top: bool) -> int:
        if top:
            self.encapsulated = True
        index = 0
        while True:
            tag, length = self._header(pos, limit)
            if tag == _SEQUENCE_DELIMITER:
                return pos + 8
            if tag != _ITEM or length == _UNDEFINED:
                raise MalformedDataset(f"malformed encapsulated pixel data fragment at offset {pos}")
            pos += 8
            if pos + length > limit:
                raise MalformedDataset(f"fragment of length {length} overruns the data at offset {pos}")
            if top and index >= 1:  # item 0 is the Basic Offset Table
                # A frame may span fragments: keep the head of their concatenation, so a header
                # split across a fragment boundary is still read whole.
                head = self.first_fragment or b""
                if len(head) < FRAGMENT_HEAD_BYTES:
                    take = min(length, FRAGMENT_HEAD_BYTES - len(head))
                    self.first_fragment = head + bytes(self.buf[pos : pos + take])
            index += 1
            pos += length
