"""parse_instance's image header and check_image: pixel limits and lying codestreams, from bytes."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian

from dicom_listener import (
    CodestreamMismatch,
    LimitExceeded,
    UnparseableInstance,
    check_image,
    parse_instance,
)

from .conftest import encode, make_cr

JPEG_LS = "1.2.840.10008.1.2.4.80"
GiB = 1 << 30


def _element(tag: int, vr: bytes, value: bytes) -> bytes:
    group, element = tag >> 16, tag & 0xFFFF
    if vr in (b"OB", b"SQ"):
        return struct.pack("<HH2sHI", group, element, vr, 0, len(value)) + value
    return struct.pack("<HH2sH", group, element, vr, len(value)) + value


def _us(tag: int, value: int) -> bytes:
    return _element(tag, b"US", struct.pack("<H", value))


def _jls_header(height: int, width: int, components: int = 1, precision: int = 12) -> bytes:
    body = struct.pack(">BHHB", precision, height, width, components) + b"\x01\x11\x00" * components
    return b"\xff\xd8\xff\xf7" + struct.pack(">H", 2 + len(body)) + body + b"\xff\xda\x00\x08" + b"\x00" * 64


def _encapsulated(fragments: list[bytes], rows: int = 512, columns: int = 512, frames: bytes | None = None) -> bytes:
    out = _element(0x00080016, b"UI", b"1.2.840.10008.5.1.4.1.1.1\x00")
    out += _element(0x00080018, b"UI", b"1.2.3\x00") + _element(0x0020000D, b"UI", b"1.2.4\x00")
    out += _us(0x00280002, 1)
    if frames is not None:
        out += _element(0x00280008, b"IS", frames)
    out += _us(0x00280010, rows) + _us(0x00280011, columns) + _us(0x00280100, 16) + _us(0x00280101, 12)
    items = b"".join(struct.pack("<HHI", 0xFFFE, 0xE000, len(f)) + f for f in [b"", *fragments])
    out += struct.pack("<HH2sHI", 0x7FE0, 0x0010, b"OB", 0, 0xFFFFFFFF) + items
    return out + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0)


@pytest.mark.parametrize("syntax", [ExplicitVRLittleEndian, ImplicitVRLittleEndian])
def test_native_image_header_is_read(syntax: str) -> None:
    ds = make_cr(size=48, transfer_syntax=syntax)
    image = parse_instance(encode(ds), syntax).image
    assert image is not None
    assert (image.rows, image.columns, image.samples_per_pixel, image.bits_allocated, image.bits_stored) == (
        48,
        48,
        1,
        16,
        12,
    )
    assert (image.encapsulated, image.pixel_data_length, image.first_fragment) == (False, 48 * 48 * 2, None)
    check_image(image, syntax, 48 * 48 * 2)
    with pytest.raises(LimitExceeded, match="4608 bytes, over the 4607 byte limit"):
        check_image(image, syntax, 48 * 48 * 2 - 1)


def test_no_pixel_data_means_no_image() -> None:
    ds = make_cr(size=4)
    del ds.PixelData
    assert parse_instance(encode(ds), ExplicitVRLittleEndian).image is None
    check_image(None, ExplicitVRLittleEndian, 1024)


def test_frames_count_towards_the_pixel_limit() -> None:
    data = _encapsulated([_jls_header(512, 512)], frames=b"100000")
    image = parse_instance(data, JPEG_LS).image
    assert image is not None and image.number_of_frames == 100000
    with pytest.raises(LimitExceeded):
        check_image(image, JPEG_LS, GiB)


def test_lying_codestream_and_missing_fragment_are_refused() -> None:
    honest = parse_instance(_encapsulated([_jls_header(512, 512)]), JPEG_LS).image
    check_image(honest, JPEG_LS, GiB)
    lying = parse_instance(_encapsulated([_jls_header(65535, 65535)]), JPEG_LS).image
    with pytest.raises(CodestreamMismatch, match="65535x65535 but Columns x Rows is 512x512"):
        check_image(lying, JPEG_LS, GiB)
    empty = parse_instance(_encapsulated([]), JPEG_LS).image
    with pytest.raises(CodestreamMismatch, match="no frame fragment"):
        check_image(empty, JPEG_LS, GiB)


def test_a_header_split_across_fragments_is_read_whole() -> None:
    header = _jls_header(512, 512)
    image = parse_instance(_encapsulated([header[:5], header[5:]]), JPEG_LS).image
    assert image is not None and image.first_fragment is not None and image.first_fragment.startswith(header)
    check_image(image, JPEG_LS, GiB)


@settings(max_examples=300, deadline=None)
@given(
    fragment=st.binary(max_size=80),
    rows=st.integers(0, 65535),
    columns=st.integers(0, 65535),
    frames=st.one_of(st.none(), st.binary(max_size=12)),
    syntax=st.sampled_from([JPEG_LS, "1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.5"]),
)
def test_any_header_gives_a_typed_refusal_or_passes(
    fragment: bytes, rows: int, columns: int, frames: bytes | None, syntax: str
) -> None:
    data = _encapsulated(
        [fragment], rows, columns, frames=frames if frames is None or len(frames) % 2 == 0 else frames + b" "
    )
    try:
        check_image(parse_instance(data, syntax).image, syntax, GiB)
    except UnparseableInstance as error:
        assert error.reason


def test_a_transfer_syntax_that_lies_about_encapsulation_is_refused() -> None:
    native = parse_instance(encode(make_cr(size=8)), ExplicitVRLittleEndian).image
    with pytest.raises(CodestreamMismatch, match="compressed transfer syntax but Pixel Data is not encapsulated"):
        check_image(native, JPEG_LS, GiB)
    with pytest.raises(CodestreamMismatch, match="compressed transfer syntax"):
        check_image(native, "1.2.840.10008.1.2.5", GiB)
    encapsulated = parse_instance(_encapsulated([_jls_header(512, 512)]), ExplicitVRLittleEndian).image
    with pytest.raises(CodestreamMismatch, match="native transfer syntax but encapsulated"):
        check_image(encapsulated, ExplicitVRLittleEndian, GiB)
