"""common.codestream: real codestreams agree, lying or garbled headers are named, no bytes crash it."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from common.codestream import CHECKED_TRANSFER_SYNTAXES, codestream_problem

JPEG_BASELINE = "1.2.840.10008.1.2.4.50"
JPEG_SV1 = "1.2.840.10008.1.2.4.70"
JPEG_LS = "1.2.840.10008.1.2.4.80"
J2K_LOSSLESS = "1.2.840.10008.1.2.4.90"
J2K = "1.2.840.10008.1.2.4.91"


def _sof(marker: int, precision: int, height: int, width: int, components: int) -> bytes:
    body = struct.pack(">BHHB", precision, height, width, components) + b"\x01\x11\x00" * components
    return b"\xff" + bytes([marker]) + struct.pack(">H", 2 + len(body)) + body


def _jpeg(marker: int = 0xC0, precision: int = 8, height: int = 512, width: int = 512, components: int = 1) -> bytes:
    app0 = b"\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    return b"\xff\xd8" + app0 + _sof(marker, precision, height, width, components) + b"\xff\xda\x00\x08" + b"\x00" * 600


def _siz(width: int, height: int, components: int = 1, precision: int = 12, lsiz: int | None = None) -> bytes:
    body = struct.pack(">HIIIIIIIIH", 0, width, height, 0, 0, width, height, 0, 0, components)
    body += bytes([precision - 1, 1, 1]) * components
    return b"\xff\x4f\xff\x51" + struct.pack(">H", lsiz if lsiz is not None else 2 + len(body)) + body + b"\xff\x52"


def test_hand_made_headers_that_agree_pass() -> None:
    assert codestream_problem(JPEG_BASELINE, _jpeg(), 512, 512, 1, 8) is None
    assert codestream_problem(JPEG_BASELINE, _jpeg(components=3), 512, 512, 3, 8) is None
    assert codestream_problem(JPEG_SV1, _jpeg(0xC3, 16, 300, 200), 300, 200, 1, 12) is None
    assert codestream_problem(JPEG_LS, _jpeg(0xF7, 12, 64, 32), 64, 32, 1, 12) is None
    assert codestream_problem(J2K, _siz(640, 480), 480, 640, 1, 12) is None
    jp2 = b"\x00\x00\x00\x0cjP  \r\n\x87\n" + b"\x00\x00\x00\x14ftypjp2 \x00\x00\x00\x00jp2 "
    codestream = _siz(100, 50, 3, 8)
    jp2 += struct.pack(">I", 8 + len(codestream)) + b"jp2c" + codestream
    assert codestream_problem(J2K_LOSSLESS, jp2, 50, 100, 3, 8) is None


@pytest.mark.parametrize(
    ("syntax", "fragment", "expected"),
    [
        (JPEG_LS, _jpeg(0xF7, 8, 65535, 65535), "codestream is 65535x65535 but Columns x Rows is 512x512"),
        (JPEG_BASELINE, _jpeg(height=512, width=4096), "codestream is 4096x512"),
        (JPEG_BASELINE, _jpeg(components=3), "3 component(s) but Samples per Pixel is 1"),
        (JPEG_BASELINE, _jpeg(precision=16), "precision 16 exceeds Bits Stored 8"),
        (JPEG_BASELINE, _jpeg(0xF7), "JPEG transfer syntax but a JPEG-LS codestream"),
        (JPEG_LS, _jpeg(0xC0), "JPEG-LS transfer syntax but a JPEG codestream"),
        (JPEG_BASELINE, b"", "does not start with SOI"),
        (JPEG_BASELINE, b"\xff\xd8\xff\xda\x00\x08", "no frame header before its scan"),
        (JPEG_BASELINE, _jpeg()[:30], "length is invalid"),
        (JPEG_BASELINE, _jpeg(height=0), "height is 0"),
        (J2K, _siz(65535, 65535), "codestream is 65535x65535"),
        (J2K, _siz(512, 512, precision=20), "precision 20 exceeds Bits Stored 8"),
        (J2K, _siz(512, 512, lsiz=99), "SIZ marker length does not match"),
        (J2K, b"\xff\x4f\xff\x51\x00", "SIZ marker is truncated"),
        (J2K, _jpeg(), "does not start with SOC and SIZ"),
    ],
)
def test_lying_or_garbled_headers_are_named(syntax: str, fragment: bytes, expected: str) -> None:
    problem = codestream_problem(syntax, fragment, 512, 512, 1, 8)
    assert problem is not None and expected in problem


def test_syntaxes_without_a_codestream_header_are_not_checked() -> None:
    for syntax in ("1.2.840.10008.1.2.1", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.1.99", "garbage"):
        assert codestream_problem(syntax, b"\x00" * 10, 1, 1, 1, 8) is None


def test_real_pillow_jpeg_agrees() -> None:
    image = pytest.importorskip("PIL.Image")
    buffer = io.BytesIO()
    pixels = np.random.default_rng(0).integers(0, 255, size=(48, 80), dtype=np.uint8)
    image.fromarray(pixels).save(buffer, format="JPEG")
    data = buffer.getvalue()
    assert codestream_problem(JPEG_BASELINE, data, 48, 80, 1, 8) is None
    assert codestream_problem(JPEG_BASELINE, data, 80, 48, 1, 8) is not None


def _compressed_first_fragment(tmp_path: Path, tool: str, syntax: str) -> bytes:
    from pydicom import dcmread
    from pydicom.encaps import generate_fragments

    from tests.dicom_listener.conftest import dcmtk, write_cr

    source, _ = write_cr(tmp_path, size=40)
    target = tmp_path / "c.dcm"
    done = subprocess.run([dcmtk(tool), str(source), str(target)], capture_output=True, timeout=30, check=False)
    assert done.returncode == 0, done.stderr
    ds = dcmread(target)
    assert ds.file_meta.TransferSyntaxUID == syntax
    fragments = list(generate_fragments(ds.PixelData))
    return fragments[1] if not fragments[0].startswith(b"\xff") else fragments[0]


@pytest.mark.dcmtk
@pytest.mark.parametrize(("tool", "syntax"), [("dcmcjpls", JPEG_LS), ("dcmcjpeg", JPEG_SV1)])
def test_real_dcmtk_codestreams_agree(tmp_path: Path, tool: str, syntax: str) -> None:
    fragment = _compressed_first_fragment(tmp_path, tool, syntax)
    assert codestream_problem(syntax, fragment, 40, 40, 1, 12) is None
    assert "40x40 but Columns x Rows is 512x40" in str(codestream_problem(syntax, fragment, 40, 512, 1, 12))


def test_real_openjpeg_codestream_agrees() -> None:
    openjpeg = pytest.importorskip("openjpeg")
    pixels = np.random.default_rng(1).integers(0, 4096, size=(96, 144), dtype=np.uint16)
    data = bytes(openjpeg.encode(pixels, bits_stored=12, use_mct=False))
    assert codestream_problem(J2K_LOSSLESS, data, 96, 144, 1, 12) is None
    assert codestream_problem(J2K_LOSSLESS, data, 96, 144, 3, 12) is not None


@settings(max_examples=400, deadline=None)
@given(
    syntax=st.sampled_from(sorted(CHECKED_TRANSFER_SYNTAXES)),
    data=st.one_of(
        st.binary(max_size=300),
        st.builds(lambda tail: b"\xff\xd8" + tail, st.binary(max_size=200)),
        st.builds(lambda tail: b"\xff\x4f\xff\x51" + tail, st.binary(max_size=200)),
        st.builds(lambda tail: b"\x00\x00\x00\x0cjP  \r\n\x87\n" + tail, st.binary(max_size=200)),
    ),
    rows=st.integers(0, 70000),
    columns=st.integers(0, 70000),
    samples=st.integers(0, 4),
    bits=st.integers(0, 40),
)
def test_any_bytes_give_none_or_a_reason_and_never_raise(
    syntax: str, data: bytes, rows: int, columns: int, samples: int, bits: int
) -> None:
    problem = codestream_problem(syntax, data, rows, columns, samples, bits)
    assert problem is None or (isinstance(problem, str) and 0 < len(problem) < 120)


@settings(max_examples=200, deadline=None)
@given(
    marker=st.sampled_from([0xC0, 0xC1, 0xC3, 0xF7]),
    height=st.integers(1, 65535),
    width=st.integers(0, 65535),
    components=st.integers(1, 4),
)
def test_header_dimensions_are_read_exactly(marker: int, height: int, width: int, components: int) -> None:
    syntax = JPEG_LS if marker == 0xF7 else JPEG_SV1
    data = _jpeg(marker, 8, height, width, components)
    assert codestream_problem(syntax, data, height, width, components, 8) is None
    assert codestream_problem(syntax, data, height + 1, width, components, 8) is not None
