"""Cheap sanity check of a compressed frame's codestream header against its DICOM data set.

A decoder allocates what the codestream header says, not what Rows/Columns say: a 2.4 KB JPEG-LS
frame whose SOF55 claims 65535 x 65535 makes a decoder reserve gigabytes. `codestream_problem`
reads only the header (a few dozen bytes, never the entropy-coded data) and reports when it is
missing, garbled, or disagrees with the data set, so callers can refuse the instance before any
decoder sees it. Standard library only; never raises for any input bytes.

Codestreams understood, by transfer syntax:

    1.2.840.10008.1.2.4.50/.51/.57/.70   JPEG (ISO 10918-1): SOI, then marker segments up to the
                                         first SOFn (C0-C3, C5-C7, C9-CB, CD-CF): P, Y, X, Nf
    1.2.840.10008.1.2.4.80/.81           JPEG-LS (ISO 14495-1): SOI ... SOF55 (FFF7): P, Y, X, Nf
    1.2.840.10008.1.2.4.90/.91           JPEG 2000 (ISO 15444-1): SOC + SIZ (Xsiz-XOsiz,
                                         Ysiz-YOsiz, Csiz, Ssiz), bare or inside a JP2 'jp2c' box

Any other transfer syntax (native, deflated, RLE, ...) returns None: there is no such header.
"""

from __future__ import annotations

import struct

JPEG_TRANSFER_SYNTAXES = frozenset(
    {
        "1.2.840.10008.1.2.4.50",
        "1.2.840.10008.1.2.4.51",
        "1.2.840.10008.1.2.4.57",
        "1.2.840.10008.1.2.4.70",
    }
)
JPEG_LS_TRANSFER_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.80", "1.2.840.10008.1.2.4.81"})
JPEG_2000_TRANSFER_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"})
CHECKED_TRANSFER_SYNTAXES = JPEG_TRANSFER_SYNTAXES | JPEG_LS_TRANSFER_SYNTAXES | JPEG_2000_TRANSFER_SYNTAXES

# SOFn markers of ISO 10918-1 (C4 DHT, C8 JPG and CC DAC are not frames).
_JPEG_SOF = frozenset({0xC0, 0xC1, 0xC2, 0xC3, 0xC5, 0xC6, 0xC7, 0xC9, 0xCA, 0xCB, 0xCD, 0xCE, 0xCF})
_SOF55 = 0xF7
_SOS = 0xDA
_EOI = 0xD9
# Markers without a length field: TEM, RSTn, SOI, EOI.
_STANDALONE = frozenset({0x01, *range(0xD0, 0xDA)})
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_MAX_JP2_BOXES = 64


def codestream_problem(
    transfer_syntax_uid: str,
    first_fragment: bytes,
    rows: int,
    columns: int,
    samples_per_pixel: int,
    bits_stored: int,
) -> str | None:
    """Why the first frame's codestream header cannot be trusted, or None when it agrees.

    `first_fragment` is the first Pixel Data fragment after the Basic Offset Table (only its first
    few hundred bytes matter). rows/columns/samples_per_pixel/bits_stored are the data set's values.
    Returns a short reason (fixed text plus numbers, no patient data) when the header is missing,
    truncated or garbled, when its width/height/component count differ from the data set, or when
    its sample precision does not fit the data set (more bits than a Bits Stored <= 8 / <= 16 /
    <= 32 container holds). Returns None for transfer syntaxes without such a header.
    Stable contract: the listener refuses at C-STORE and the pipeline checks before decoding.
    """
    try:
        data = bytes(first_fragment)
        if transfer_syntax_uid in JPEG_TRANSFER_SYNTAXES:
            header = _jpeg_frame(data, jpeg_ls=False)
        elif transfer_syntax_uid in JPEG_LS_TRANSFER_SYNTAXES:
            header = _jpeg_frame(data, jpeg_ls=True)
        elif transfer_syntax_uid in JPEG_2000_TRANSFER_SYNTAXES:
            header = _j2k_size(data)
        else:
            return None
    except _Garbled as exc:
        return str(exc)
    except (struct.error, IndexError, ValueError):  # pragma: no cover - bounds are checked above
        return "codestream header is garbled"
    precision, height, width, components = header
    if width != columns or height != rows:
        return f"codestream is {width}x{height} but Columns x Rows is {columns}x{rows}"
    if components != samples_per_pixel:
        return f"codestream has {components} component(s) but Samples per Pixel is {samples_per_pixel}"
    if precision < 1:
        return f"codestream sample precision {precision} is invalid"
    container = 8 if bits_stored <= 8 else 16 if bits_stored <= 16 else 32
    if precision > container:
        return f"codestream sample precision {precision} exceeds Bits Stored {bits_stored}"
    return None


class _Garbled(Exception):
    """Internal: the header cannot be read; the message is the reason returned."""


def _jpeg_frame(data: bytes, *, jpeg_ls: bool) -> tuple[int, int, int, int]:
    """(P, Y, X, Nf) of the first frame header of a JPEG or JPEG-LS codestream."""
    kind = "JPEG-LS" if jpeg_ls else "JPEG"
    if data[:2] != b"\xff\xd8":
        raise _Garbled(f"{kind} codestream does not start with SOI")
    pos = 2
    while True:
        # Fill bytes (0xFF) may precede any marker.
        while pos < len(data) and data[pos] == 0xFF and pos + 1 < len(data) and data[pos + 1] == 0xFF:
            pos += 1
        if pos + 2 > len(data):
            raise _Garbled(f"{kind} codestream ends before its frame header")
        if data[pos] != 0xFF:
            raise _Garbled(f"{kind} codestream has garbage where a marker belongs")
        marker = data[pos + 1]
        pos += 2
        if marker in _STANDALONE:
            continue
        if marker == 0x00:
            raise _Garbled(f"{kind} codestream has garbage where a marker belongs")
        if marker in (_SOS, _EOI) or marker == 0xD8:
            raise _Garbled(f"{kind} codestream has no frame header before its scan")
        if pos + 2 > len(data):
            raise _Garbled(f"{kind} codestream is truncated in a marker segment")
        (length,) = struct.unpack_from(">H", data, pos)
        if length < 2 or pos + length > len(data):
            raise _Garbled(f"{kind} marker segment length is invalid")
        if marker == _SOF55 or marker in _JPEG_SOF:
            if (marker == _SOF55) != jpeg_ls:
                found = "JPEG-LS" if marker == _SOF55 else "JPEG"
                raise _Garbled(f"{kind} transfer syntax but a {found} codestream")
            if length < 8:
                raise _Garbled(f"{kind} frame header is truncated")
            precision, height, width, components = struct.unpack_from(">BHHB", data, pos + 2)
            if length != 8 + 3 * components:
                raise _Garbled(f"{kind} frame header length does not match its component count")
            if height == 0:
                raise _Garbled(f"{kind} frame height is 0 (defined later by DNL): not accepted")
            return precision, height, width, components
        pos += length


def _j2k_size(data: bytes) -> tuple[int, int, int, int]:
    """(max precision, height, width, Csiz) from the SIZ marker of a J2K codestream or JP2 file."""
    if data.startswith(_JP2_SIGNATURE):
        data = _jp2_codestream(data)
    if data[:4] != b"\xff\x4f\xff\x51":
        raise _Garbled("JPEG 2000 codestream does not start with SOC and SIZ")
    if len(data) < 4 + 38:
        raise _Garbled("JPEG 2000 SIZ marker is truncated")
    (lsiz, _rsiz, xsiz, ysiz, xosiz, yosiz, _xt, _yt, _xto, _yto, csiz) = struct.unpack_from(">HHIIIIIIIIH", data, 4)
    if csiz < 1 or lsiz != 38 + 3 * csiz or 4 + lsiz > len(data):
        raise _Garbled("JPEG 2000 SIZ marker length does not match its component count")
    if xosiz >= xsiz or yosiz >= ysiz:
        raise _Garbled("JPEG 2000 image offset lies outside the image")
    precision = max((data[4 + 38 + 3 * i] & 0x7F) + 1 for i in range(csiz))
    return precision, ysiz - yosiz, xsiz - xosiz, csiz


def _jp2_codestream(data: bytes) -> bytes:
    """The payload of the first 'jp2c' box of a JP2 file (ISO 15444-1 Annex I)."""
    pos = 0
    for _ in range(_MAX_JP2_BOXES):
        if pos + 8 > len(data):
            break
        length, kind = struct.unpack_from(">I4s", data, pos)
        header = 8
        if length == 1:
            if pos + 16 > len(data):
                break
            (length,) = struct.unpack_from(">Q", data, pos + 8)
            header = 16
        elif length == 0:
            length = len(data) - pos
        if length < header:
            raise _Garbled("JP2 box length is invalid")
        if kind == b"jp2c":
            return data[pos + header : pos + length]
        pos += length
    raise _Garbled("JP2 file has no codestream box in its first fragment")
