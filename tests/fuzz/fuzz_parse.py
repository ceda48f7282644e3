"""Coverage-guided fuzzing (atheris / libFuzzer) of the path received bytes take through the appliance.

    python tests/fuzz/fuzz_parse.py -runs=N [-max_total_time=S] [CORPUS_DIR ...]

Each input is one C-STORE as the listener sees it: the first byte picks the transfer syntax the
association negotiated (`SYNTAXES`), the rest is the data set as received (no file meta). It goes
where a real one goes:

1. the listener's check (dicom_listener.identity: the structural walk, the UIDs, the image header and
   codestream limits when dicom_listener.image_limits is present); a refusal must be an
   `UnparseableInstance` (the listener quarantines it with its reason and answers its status);
2. an accepted one is written as the spool writes it (file meta + the received bytes) and run through
   the first stages for real: load (pydicom parse, bounded decode of compressed Pixel Data),
   classify and anonymize (header de-identification); those must end with `Withheld` or
   `StageFailed`, the stages' typed outcomes.

Any other exception escaping is a finding: atheris prints it with the input, writes `crash-*`, exits 1.
An empty (or no) corpus directory is seeded with small valid phantoms (explicit, implicit, RLE,
JPEG-LS) and the short hostile corpus (tools/hostile_corpus.py). FUZZ_PARSE_WORK_DIR: where the
spool file of the input under test is written (default: the temporary directory).
"""

from __future__ import annotations

import importlib
import io
import logging
import os
import sys
import tempfile
import warnings
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[2]
if str(REPO) not in sys.path:  # run as a script
    sys.path.insert(0, str(REPO))

import atheris  # type: ignore[import-untyped]  # noqa: E402
from atheris.import_hook import HookManager  # type: ignore[import-untyped]  # noqa: E402

# Coverage instrumentation of our packages, without comparison tracing. dicom_listener.identity is
# left out: atheris 2.3.0 on Python 3.11 corrupts its code (a method of its walker then receives an
# int as `self`) and would report crashes that do not exist; it still runs, only unguided.
_OURS = {"dicom_listener", "common", "runtime", "deid", "appliance"}
_MISCOMPILED = {"dicom_listener.identity"}
with HookManager(_OURS, _MISCOMPILED, enable_loader_override=True, trace_dataflow=False):
    from pydicom.dataset import FileMetaDataset
    from pydicom.filebase import DicomBytesIO
    from pydicom.filewriter import write_file_meta_info
    from pydicom.uid import UID

    from appliance.pipeline import Job, StageFailed, Withheld
    from appliance.stages import AnonymizeStage, ClassifyStage, LoadStage
    from deid import DeidOptions, DeidTool
    from dicom_listener.errors import UnparseableInstance
    from dicom_listener.identity import parse_identity
    from runtime.decode import BoundedDecoder, DecodeSettings

SYNTAXES = (
    "1.2.840.10008.1.2",  # Implicit VR Little Endian
    "1.2.840.10008.1.2.1",  # Explicit VR Little Endian
    "1.2.840.10008.1.2.1.99",  # Deflated Explicit VR Little Endian
    "1.2.840.10008.1.2.5",  # RLE Lossless
    "1.2.840.10008.1.2.4.80",  # JPEG-LS Lossless
    "1.2.840.10008.1.2.4.50",  # JPEG Baseline
    "1.2.840.10008.1.2.4.90",  # JPEG 2000 Lossless
)
MAX_PIXEL_BYTES = 64 * 1024 * 1024


def _optional(module: str, name: str) -> Any:
    # The listener's newer entry points (image header, limits); parse_identity is the stable contract.
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


# pydicom warns (and logs) about every invalid value it reads leniently: noise at thousands of inputs.
warnings.filterwarnings("ignore", module="pydicom")
logging.getLogger("pydicom").setLevel(logging.ERROR)

PARSE_INSTANCE = _optional("dicom_listener.identity", "parse_instance")
CHECK_IMAGE = _optional("dicom_listener.image_limits", "check_image")

_WORK = Path(os.environ.get("FUZZ_PARSE_WORK_DIR") or tempfile.gettempdir())
_DECODER = BoundedDecoder(DecodeSettings(max_memory_bytes=128 << 20, timeout_s=5.0, workers=1))
_STAGES = (LoadStage(_DECODER), ClassifyStage(), AnonymizeStage(DeidTool(DeidOptions(), b"f" * 32)))


def listener_accepts(syntax: str, body: bytes) -> tuple[str, str] | None:
    """(SOP Class UID, SOP Instance UID) when the listener would store `body`, None when it refuses."""
    try:
        if PARSE_INSTANCE is not None:
            parsed = PARSE_INSTANCE(body, syntax)
            if CHECK_IMAGE is not None:
                CHECK_IMAGE(parsed.image, syntax, MAX_PIXEL_BYTES)
            identity = parsed.identity
        else:
            identity = parse_identity(body, syntax)
    except UnparseableInstance:
        return None
    return identity.sop_class_uid, identity.sop_instance_uid


def spool_file(syntax: str, body: bytes, sop_class: str, sop_instance: str) -> bytes:
    """What the spool writes for an accepted instance: preamble, file meta, the bytes received."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = UID(sop_class)
    meta.MediaStorageSOPInstanceUID = UID(sop_instance)
    meta.TransferSyntaxUID = UID(syntax)
    meta.ImplementationClassUID = UID("1.2.826.0.1.3680043.10.1137.1")
    buffer = DicomBytesIO()
    buffer.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buffer, meta, enforce_standard=True)
    return buffer.getvalue() + body


def one_input(data: bytes) -> None:
    if not data:
        return
    syntax = SYNTAXES[data[0] % len(SYNTAXES)]
    body = data[1:]
    accepted = listener_accepts(syntax, body)
    if accepted is None:
        return
    path = _WORK / f"fuzz-parse-{os.getpid()}.dcm"
    path.write_bytes(spool_file(syntax, body, *accepted))
    job = Job(job_id="fuzz", study_uid="1.2.3", files=(path,))
    try:
        for stage in _STAGES:
            job = stage(job)
    except (Withheld, StageFailed):
        return


def write_seeds(folder: Path) -> int:
    """Seed inputs (syntax byte + data set): small valid phantoms in several syntaxes, the short hostile
    corpus. Returns how many."""
    from pydicom import dcmread
    from pydicom.uid import RLELossless

    from tools.hostile_corpus import encapsulated, jpeg_ls_codestream, to_bytes, write_corpus
    from training.phantoms import make_phantom

    folder.mkdir(parents=True, exist_ok=True)
    files: list[bytes] = []
    for seed, syntax in enumerate(("1.2.840.10008.1.2.1", "1.2.840.10008.1.2", "1.2.840.10008.1.2.5")):
        ds = make_phantom(seed, rows=64, cols=64).dataset
        if syntax == RLELossless:
            ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
        else:
            ds.file_meta.TransferSyntaxUID = UID(syntax)
        files.append(to_bytes(ds))
    small = encapsulated(
        make_phantom(7, rows=64, cols=64).dataset, "1.2.840.10008.1.2.4.80", [jpeg_ls_codestream(64, 64)], bits=8
    )
    files.append(to_bytes(small))
    hostile = folder.parent / (folder.name + "-hostile")
    for case in write_corpus(hostile, seed=11):
        files.append((hostile / case.file).read_bytes())
    count = 0
    for data in files:
        try:
            meta = dcmread(io.BytesIO(data), stop_before_pixels=True).file_meta
            syntax = str(meta.TransferSyntaxUID)
            meta_end = 132 + 12 + int(meta.FileMetaInformationGroupLength)
        except Exception:  # a hostile file whose meta does not parse: sent as Explicit VR Little Endian
            syntax, meta_end = "1.2.840.10008.1.2.1", 132
        index = SYNTAXES.index(syntax) if syntax in SYNTAXES else 1
        (folder / f"seed-{count:03d}").write_bytes(bytes([index]) + data[meta_end:])
        count += 1
    return count


def main(argv: list[str]) -> None:
    """libFuzzer's command line; the first corpus directory is seeded when empty (a temporary one
    when none is given)."""
    args = list(argv)
    corpora = [Path(a) for a in args[1:] if not a.startswith("-")]
    if not corpora:
        corpora = [Path(tempfile.mkdtemp(prefix="fuzz-parse-")) / "corpus"]
        args.append(str(corpora[0]))
    if not corpora[0].is_dir() or not any(corpora[0].iterdir()):
        write_seeds(corpora[0])
    atheris.Setup(args, one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main(sys.argv)
