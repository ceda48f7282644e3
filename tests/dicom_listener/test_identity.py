"""The strict structural parser: UIDs out of well-formed data sets, typed refusals for the rest."""

from __future__ import annotations

import struct
import zlib

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence
from pydicom.uid import (
    DeflatedExplicitVRLittleEndian,
    ExplicitVRBigEndian,
    ExplicitVRLittleEndian,
    ImplicitVRLittleEndian,
    RLELossless,
)

from dicom_listener import (
    InvalidIdentifier,
    MalformedDataset,
    MissingIdentifier,
    UnparseableInstance,
    is_valid_uid,
    parse_identity,
)
from dicom_listener import identity as identity_module
from dicom_listener.errors import LimitExceeded

from .conftest import CR_IMAGE_STORAGE, encode, make_cr

NATIVE_SYNTAXES = [ImplicitVRLittleEndian, ExplicitVRLittleEndian, DeflatedExplicitVRLittleEndian]

uids = (
    st.lists(st.integers(min_value=0, max_value=10**12), min_size=2, max_size=10)
    .map(lambda parts: ".".join(str(p) for p in parts))
    .filter(lambda uid: len(uid) <= 64)
)


@pytest.mark.parametrize(
    ("value", "valid"),
    [
        ("1.2.840.10008.5.1.4.1.1.1", True),
        ("0", True),
        ("1.0.2", True),
        ("1." + "2" * 62, True),  # 64 characters
        ("1." + "2" * 63, False),  # 65 characters
        ("", False),
        ("1.02.3", False),  # leading zero in a component
        ("1..2", False),
        (".1.2", False),
        ("1.2.", False),
        ("1.2.a", False),
        ("1.2 ", False),
        ("../../etc", False),
        ("1.2/3", False),
        (None, False),
        (123, False),
    ],
)
def test_uid_validity(value: object, valid: bool) -> None:
    assert is_valid_uid(value) is valid


@pytest.mark.parametrize("syntax", NATIVE_SYNTAXES + [RLELossless])
def test_real_cr_instance_yields_its_uids(syntax: str) -> None:
    if syntax == RLELossless:
        ds = make_cr()
        ds.compress(RLELossless)
    else:
        ds = make_cr(transfer_syntax=syntax)
    found = parse_identity(encode(ds), syntax)
    assert (found.sop_class_uid, found.sop_instance_uid, found.study_instance_uid) == (
        CR_IMAGE_STORAGE,
        ds.SOPInstanceUID,
        ds.StudyInstanceUID,
    )


def _with_extras(ds: Dataset, texts: list[str], nested: int) -> Dataset:
    for index, text in enumerate(texts):
        ds.add_new(0x00091000 + index, "LO", text)  # private block, any content
    # Sequences nested `nested` deep, with empty and non-empty items.
    inner = Dataset()
    inner.CodeValue = "X1"
    for _ in range(nested):
        outer = Dataset()
        outer.CodeMeaning = "m"
        outer.ConceptNameCodeSequence = Sequence([inner, Dataset()])
        inner = outer
    ds.ProcedureCodeSequence = Sequence([inner])
    return ds


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    sop=uids,
    study=uids,
    syntax=st.sampled_from(NATIVE_SYNTAXES),
    texts=st.lists(
        st.text(alphabet=st.characters(min_codepoint=32, max_codepoint=126), max_size=30),
        max_size=4,
    ),
    nested=st.integers(min_value=0, max_value=5),
)
def test_round_trip_any_valid_uids(sop: str, study: str, syntax: str, texts: list[str], nested: int) -> None:
    ds = _with_extras(make_cr(study, sop, size=4, transfer_syntax=syntax), texts, nested)
    found = parse_identity(encode(ds), syntax)
    assert (found.sop_instance_uid, found.study_instance_uid) == (sop, study)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=600), syntax=st.sampled_from(NATIVE_SYNTAXES + [RLELossless]))
def test_arbitrary_bytes_never_crash(data: bytes, syntax: str) -> None:
    try:
        found = parse_identity(data, syntax)
    except UnparseableInstance:
        return
    assert is_valid_uid(found.sop_instance_uid) and is_valid_uid(found.study_instance_uid)


@settings(max_examples=200, deadline=None)
@given(
    position=st.integers(min_value=0),
    value=st.integers(min_value=0, max_value=255),
    syntax=st.sampled_from(NATIVE_SYNTAXES[:2]),
)
def test_corrupted_byte_gives_identity_or_typed_refusal(position: int, value: int, syntax: str) -> None:
    data = bytearray(encode(make_cr(size=4, transfer_syntax=syntax)))
    data[position % len(data)] = value
    try:
        found = parse_identity(bytes(data), syntax)
    except UnparseableInstance:
        return
    assert is_valid_uid(found.sop_instance_uid)


@settings(max_examples=80, deadline=None)
@given(cut=st.integers(min_value=1), syntax=st.sampled_from(NATIVE_SYNTAXES[:2]))
def test_truncation_inside_pixel_data_is_malformed(cut: int, syntax: str) -> None:
    data = encode(make_cr(size=8, transfer_syntax=syntax))
    pixel_bytes = 8 * 8 * 2  # Pixel Data is the last element: the last 128 bytes are its value
    with pytest.raises(MalformedDataset):
        parse_identity(data[: len(data) - 1 - cut % pixel_bytes], syntax)


def test_trailing_garbage_is_malformed() -> None:
    data = encode(make_cr(size=4))
    with pytest.raises(MalformedDataset):
        parse_identity(data + b"\x01\x02\x03", ExplicitVRLittleEndian)


def _element(tag: int, vr: bytes, value: bytes) -> bytes:
    group, element = tag >> 16, tag & 0xFFFF
    if vr in (b"OB", b"SQ", b"UN", b"UT"):
        return struct.pack("<HH2sHI", group, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def _ids(
    sop: bytes = b"1.2.3\x00",
    study: bytes = b"1.2.4\x00",
    cls: bytes = b"1.2.840.10008.5.1.4.1.1.1\x00",
) -> bytes:
    out = b""
    if cls:
        out += _element(0x00080016, b"UI", cls)
    if sop:
        out += _element(0x00080018, b"UI", sop)
    if study:
        out += _element(0x0020000D, b"UI", study)
    return out


@pytest.mark.parametrize(
    ("data", "error"),
    [
        (_ids(sop=b""), MissingIdentifier),
        (_ids(study=b""), MissingIdentifier),
        (_ids(cls=b""), MissingIdentifier),
        (_ids(sop=b"\x00\x00"), MissingIdentifier),
        (_ids(sop=b"1.2.03\x00"), InvalidIdentifier),
        (_ids(study=b"1.2.abc\x00"), InvalidIdentifier),
        (_ids(study=b"1.2.\xe9\x00"), InvalidIdentifier),
        (_ids(study=b"../../x"), InvalidIdentifier),
        (_ids() + b"\x08\x00\x20\x00ZZ\x00\x00", MalformedDataset),  # unknown VR
        (_ids()[:-3], MalformedDataset),
        (_ids() + b"\x10\x00\x10\x00PN", MalformedDataset),  # header cut short
        # Undefined length on a VR that may not have one.
        (_ids() + struct.pack("<HH2sHI", 0x0010, 0x0010, b"UT", 0, 0xFFFFFFFF), MalformedDataset),
        # Undefined-length sequence never delimited.
        (_ids() + struct.pack("<HH2sHI", 0x0008, 0x1032, b"SQ", 0, 0xFFFFFFFF), MalformedDataset),
        # A sequence whose content is not an item.
        (
            _ids() + _element(0x00081032, b"SQ", _element(0x00080100, b"SH", b"AB")),
            MalformedDataset,
        ),
        # A stray item delimiter at top level.
        (_ids() + struct.pack("<HHI", 0xFFFE, 0xE00D, 0), MalformedDataset),
    ],
)
def test_refusals_are_typed(data: bytes, error: type[UnparseableInstance]) -> None:
    with pytest.raises(error):
        parse_identity(data, ExplicitVRLittleEndian)


def test_hand_built_explicit_stream_parses() -> None:
    found = parse_identity(_ids(study=b"1.2.4 "), ExplicitVRLittleEndian)
    assert (found.sop_instance_uid, found.study_instance_uid) == ("1.2.3", "1.2.4")


def test_undefined_length_un_is_walked_as_implicit_sequence() -> None:
    item = struct.pack("<HHI", 0x0008, 0x0100, 2) + b"AB"  # implicit VR element inside
    seq = (
        struct.pack("<HH2sHI", 0x0009, 0x1010, b"UN", 0, 0xFFFFFFFF)
        + struct.pack("<HHI", 0xFFFE, 0xE000, len(item))
        + item
        + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    )
    assert parse_identity(_ids() + seq, ExplicitVRLittleEndian).sop_instance_uid == "1.2.3"


def test_nesting_bomb_is_refused() -> None:
    depth = identity_module.MAX_DEPTH + 5
    opening = struct.pack("<HH2sHI", 0x0008, 0x1032, b"SQ", 0, 0xFFFFFFFF) + struct.pack(
        "<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF
    )
    closing = struct.pack("<HHI", 0xFFFE, 0xE00D, 0) + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)
    with pytest.raises(MalformedDataset, match="nested"):
        parse_identity(_ids() + opening * depth + closing * depth, ExplicitVRLittleEndian)


def test_deflate_bomb_and_broken_deflate_are_refused() -> None:
    squeezer = zlib.compressobj(9, zlib.DEFLATED, -zlib.MAX_WBITS)
    bomb = squeezer.compress(_ids() + _element(0x7FE00010, b"OB", b"\x00" * 5000)) + squeezer.flush()
    with pytest.raises(LimitExceeded, match="inflates beyond 1000 bytes"):
        identity_module.parse_instance(bomb, DeflatedExplicitVRLittleEndian, max_inflated_bytes=1000)
    assert identity_module.parse_instance(bomb, DeflatedExplicitVRLittleEndian).image is not None
    with pytest.raises(MalformedDataset, match="inflate"):
        parse_identity(b"\xff\xff\xff\xff", DeflatedExplicitVRLittleEndian)


@pytest.mark.parametrize("syntax", [ExplicitVRBigEndian, "not-a-uid", ""])
def test_unsupported_transfer_syntax_is_malformed(syntax: str) -> None:
    with pytest.raises(MalformedDataset):
        parse_identity(_ids(), syntax)
