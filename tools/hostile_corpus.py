"""A generated corpus of hostile DICOM files, all derived from valid chest phantoms.

    python -m tools.hostile_corpus OUT_DIR [--full] [--seed N]

writes one .dcm per case and `manifest.json` ([{name, file, kind, sop_instance_uid, study_uid}]).
The short corpus (default) has one case of each kind; `--full` adds a few hundred random variants
(bit flips, truncations, wrong lengths at random offsets). Kinds:

    truncated        the file cut short (inside the header, inside Pixel Data)
    bitflip          random bits flipped anywhere after the preamble
    wrong-length     an element's length field rewritten (too long, odd, undefined)
    nested           sequences nested 40 deep (beyond the listener's 32) and 12 deep (allowed)
    invalid-uid      a leading zero, letters, 65 characters, an empty Study Instance UID
    lying-syntax     meta says JPEG-LS but Pixel Data is native; meta says native, Pixel Data holds items
    bomb             a tiny JPEG-LS / JPEG codestream claiming 65535 x 65535 (Rows/Columns 512),
                     and a two-frame instance whose second frame makes that claim
    zero-pixels      zero-length Pixel Data
    lying-size       Rows x Columns larger than the Pixel Data

Every case has its own SOP Instance and Study Instance UID (unless the case is about them), so
each accepted instance is its own job. Nothing here reads patient data: phantoms are synthetic.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import random
import struct
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass
from functools import partial
from pathlib import Path

import numpy as np
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import encapsulate
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import write_file_meta_info
from pydicom.sequence import Sequence
from pydicom.uid import UID, ExplicitVRLittleEndian, JPEGBaseline8Bit, JPEGLSLossless

from training.phantoms import make_phantom

ROOT = "1.2.826.0.1.3680043.10.1137.9"  # the project's phantom root, a branch for hostile cases
PREAMBLE_AND_MAGIC = 132


@dataclass(frozen=True)
class Case:
    name: str
    file: str
    kind: str
    sop_instance_uid: str
    study_uid: str


def jpeg_ls_codestream(width: int, height: int, *, bits: int = 8, payload: int = 2000) -> bytes:
    """A tiny JPEG-LS (SOF55) codestream: one component, `payload` zero bytes of scan data."""
    sof = b"\xff\xf7" + struct.pack(">HBHHB", 11, bits, height, width, 1) + bytes([1, 0x11, 0])
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + bytes([1, 0]) + bytes([0, 0, 0])
    return b"\xff\xd8" + sof + sos + b"\x00" * payload + b"\xff\xd9"


def jpeg_baseline(pixels: np.ndarray, *, claim: tuple[int, int] | None = None) -> bytes:
    """A JPEG baseline codestream by Pillow; `claim` rewrites the SOF0 height and width (a lie)."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90)
    data = bytearray(buf.getvalue())
    if claim is not None:
        sof = data.find(b"\xff\xc0")
        struct.pack_into(">HH", data, sof + 5, *claim)
    return bytes(data)


def phantom(seed: int, index: int) -> Dataset:
    """A valid chest phantom with UIDs of its own (case `index`)."""
    ds = make_phantom(seed).dataset
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = UID(f"{ROOT}.{seed}.{index}.1")
    ds.StudyInstanceUID = UID(f"{ROOT}.{seed}.{index}.2")
    ds.SeriesInstanceUID = UID(f"{ROOT}.{seed}.{index}.3")
    return ds


def encapsulated(ds: Dataset, syntax: str, frames: list[bytes], *, bits: int | None = None) -> Dataset:
    """`ds` with `frames` as its encapsulated Pixel Data in `syntax` (8-bit when `bits` is 8)."""
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    if bits is not None:
        ds.BitsAllocated, ds.BitsStored, ds.HighBit = 8, bits, bits - 1
        for keyword in ("WindowCenter", "WindowWidth"):
            if keyword in ds:
                del ds[keyword]
    if len(frames) > 1:
        ds.NumberOfFrames = len(frames)
    ds.PixelData = encapsulate(frames)
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    return ds


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    ds.save_as(buf, enforce_file_format=True)
    return buf.getvalue()


def _nested(depth: int) -> Sequence:
    inner = Dataset()
    inner.CodeValue = "0"
    for _ in range(depth - 1):
        item = Dataset()
        item.ContentSequence = Sequence([inner])
        inner = item
    return Sequence([inner])


def _invalid_uid(ds: Dataset, variant: int) -> Dataset:
    bad = [f"{ROOT}.07.1", f"{ROOT}.abc", f"{ROOT}." + "9" * (64 - len(ROOT)), ""][variant]
    if variant == 3:
        ds.StudyInstanceUID = UID(bad)
    else:
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = UID(bad)
    return ds


def _element_offsets(data: bytes, tag: tuple[int, int]) -> Iterator[int]:
    needle = struct.pack("<HH", *tag)
    start = PREAMBLE_AND_MAGIC
    while (at := data.find(needle, start)) >= 0:
        yield at
        start = at + 1


def _wrong_length(data: bytes, tag: tuple[int, int], length: int) -> bytes:
    """Rewrite the 16-bit explicit-VR length of the first element `tag` (a short-VR element)."""
    at = next(_element_offsets(data, tag))
    out = bytearray(data)
    struct.pack_into("<H", out, at + 6, length & 0xFFFF)
    return bytes(out)


def _bitflip(data: bytes, rng: random.Random, flips: int) -> bytes:
    out = bytearray(data)
    for _ in range(flips):
        at = rng.randrange(PREAMBLE_AND_MAGIC, len(out))
        out[at] ^= 1 << rng.randrange(8)
    return bytes(out)


Builder = Callable[[int], "bytes | Dataset"]


def _truncated(seed: int, fraction: float, index: int) -> bytes:
    data = to_bytes(phantom(seed, index))
    return data[: max(PREAMBLE_AND_MAGIC, int(len(data) * fraction))]


def _flipped(seed: int, local_seed: int, flips: int, index: int) -> bytes:
    return _bitflip(to_bytes(phantom(seed, index)), random.Random(local_seed), flips)


def _relength(seed: int, tag: tuple[int, int], length: int, index: int) -> bytes:
    return _wrong_length(to_bytes(phantom(seed, index)), tag, length)


def _changed(seed: int, values: dict[str, object], index: int) -> Dataset:
    return _with(phantom(seed, index), **values)


def _bomb(seed: int, syntax: str, frames: tuple[bytes, ...], index: int) -> Dataset:
    return encapsulated(phantom(seed, index), syntax, list(frames), bits=8)


def short_cases(seed: int) -> Iterator[tuple[str, str, Builder]]:
    """(name, kind, build(index)) for one case of each kind."""
    lie = jpeg_ls_codestream(65535, 65535)
    jpeg_lie = jpeg_baseline(np.zeros((512, 512), np.uint8), claim=(65535, 65535))
    yield "truncated-header", "truncated", partial(_truncated, seed, 0.001)
    yield "truncated-pixels", "truncated", partial(_truncated, seed, 0.66)
    yield "bitflip-32", "bitflip", partial(_flipped, seed, seed * 1000, 32)
    yield "wrong-length-name", "wrong-length", partial(_relength, seed, (0x0010, 0x0010), 0xFFF1)
    yield "nested-40", "nested", partial(_changed, seed, {"ContentSequence": _nested(40)})
    yield "nested-12", "nested", partial(_changed, seed, {"ContentSequence": _nested(12)})
    yield "uid-leading-zero", "invalid-uid", lambda i: _invalid_uid(phantom(seed, i), 0)
    yield "uid-empty-study", "invalid-uid", lambda i: _invalid_uid(phantom(seed, i), 3)
    yield "meta-jpegls-pixels-native", "lying-syntax", lambda i: _lying_native(phantom(seed, i))
    yield "meta-native-pixels-items", "lying-syntax", lambda i: _lying_items(phantom(seed, i))
    yield "bomb-jpegls", "bomb", partial(_bomb, seed, JPEGLSLossless, (lie,))
    yield "bomb-jpeg", "bomb", partial(_bomb, seed, JPEGBaseline8Bit, (jpeg_lie,))
    yield "bomb-second-frame", "bomb", partial(_bomb, seed, JPEGLSLossless, (jpeg_ls_codestream(512, 512), lie))
    yield "zero-length-pixels", "zero-pixels", partial(_changed, seed, {"PixelData": b""})
    yield "rows-larger-than-pixels", "lying-size", partial(_changed, seed, {"Rows": 4096})


_LENGTH_TAGS = [(0x0010, 0x0010), (0x0008, 0x0050), (0x0008, 0x0060), (0x0020, 0x000D), (0x0028, 0x0010)]


def full_cases(seed: int, count: int = 300) -> Iterator[tuple[str, str, Builder]]:
    """The short cases, then `count` random byte-level variants."""
    yield from short_cases(seed)
    rng = random.Random(seed)
    for n in range(count):
        choice = rng.randrange(3)
        if choice == 0:
            yield f"bitflip-{n}", "bitflip", partial(_flipped, seed, rng.randrange(1 << 30), rng.choice([1, 4, 16, 64]))
        elif choice == 1:
            yield f"truncated-{n}", "truncated", partial(_truncated, seed, rng.random())
        else:
            length = rng.choice([0, 1, 3, 0x00FF, 0x7FFF, 0xFFFF])
            yield f"wrong-length-{n}", "wrong-length", partial(_relength, seed, rng.choice(_LENGTH_TAGS), length)


def _with(ds: Dataset, **values: object) -> Dataset:
    for keyword, value in values.items():
        setattr(ds, keyword, value)
    return ds


def _lying_native(ds: Dataset) -> bytes:
    """The native file with its meta's Transfer Syntax UID replaced by JPEG-LS Lossless."""
    data = to_bytes(ds)
    (group_length,) = struct.unpack_from("<I", data, PREAMBLE_AND_MAGIC + 8)
    body = data[PREAMBLE_AND_MAGIC + 12 + group_length :]
    meta = copy.deepcopy(ds.file_meta)
    meta.TransferSyntaxUID = JPEGLSLossless
    buf = DicomBytesIO()
    write_file_meta_info(buf, meta, enforce_standard=True)
    return data[:PREAMBLE_AND_MAGIC] + buf.getvalue() + body


def _lying_items(ds: Dataset) -> Dataset:
    ds.PixelData = encapsulate([jpeg_ls_codestream(512, 512)])  # item structure under a native syntax
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    return ds


def write_corpus(out: Path, *, seed: int = 0, full: bool = False) -> list[Case]:
    """Write the corpus into `out` (created) and its manifest.json; returns the cases."""
    out.mkdir(parents=True, exist_ok=True)
    cases = []
    for index, (name, kind, build) in enumerate(full_cases(seed) if full else short_cases(seed)):
        built = build(index)
        reference = phantom(seed, index)
        sop, study = str(reference.SOPInstanceUID), str(reference.StudyInstanceUID)
        if isinstance(built, Dataset):
            sop, study = str(built.SOPInstanceUID), str(built.StudyInstanceUID)
            data = to_bytes(built)
        else:
            data = built
        file = f"{index:04d}-{name}.dcm"
        (out / file).write_bytes(data)
        cases.append(Case(name, file, kind, sop, study))
    (out / "manifest.json").write_text(json.dumps([asdict(c) for c in cases], indent=1))
    return cases


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", type=Path)
    parser.add_argument("--full", action="store_true", help="a few hundred cases instead of one per kind")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    cases = write_corpus(args.out, seed=args.seed, full=args.full)
    print(f"{len(cases)} hostile files in {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
