"""Side-by-side de-identification: ours (header engine, Basic Profile), Orthanc and dicom-anonymizer.

    python -m tools.compare_deid                 # prints the per-attribute table of differences
    python -m tools.compare_deid --all           # every planted attribute, not only differences

The inputs are the planted-PHI study of `planted_study` (phantom chest radiographs with PHI in
every place PS3.15 Table E.1-1 covers; no burned-in text: peers do not clean pixels). Each tool
gets the same files; for every top-level attribute and file-meta attribute of the input the
outcome is classified as removed, emptied, replaced or kept. Private attributes are compared per
element, overlay/curve groups per element too.

Orthanc runs as a real server (Debian package orthanc, /usr/sbin/Orthanc) on 127.0.0.1 with a
temporary configuration and storage; dicom-anonymizer (PyPI dicom-anonymizer, import name
dicomanonymizer) runs in process with its default rules.
"""

from __future__ import annotations

import argparse
import copy
import io
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from pydicom import dcmread, dcmwrite
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.tag import Tag

from deid.header.engine import Deidentifier
from deid.options import DeidOptions
from deid.testing import (
    SECRET,
    nested_phi,
    plant_every_row,
    plant_overlay_and_curve,
    plant_private,
    planted_uid,
    token,
)
from training.phantoms import make_phantom

ORTHANC = "/usr/sbin/Orthanc"
REMOVED, EMPTIED, REPLACED, KEPT = "removed", "emptied", "replaced", "kept"

#: Patient identifiers shared by every instance of the planted study.
PATIENT_NAME = "PHIXNAME^PHIXGIVEN"
PATIENT_ID = "PHIXPID77"
STUDY_UID = planted_uid(700001)
SERIES_UID = planted_uid(700002)


def planted_study(count: int = 2, size: int = 256, *, seed: int = 11) -> list[Dataset]:
    """`count` CR instances of one study and series (phantom pixels, `size` x `size`, 12 bits
    MONOCHROME2) with PHI planted in every place Table E.1-1 covers: every exact-tag row at the
    top level, a private block, overlays 60xx and curves 50xx, PHI three levels deep in kept
    sequences and in a Content Sequence, file meta Source/Sending AE and private information.
    Tokens start with "PHIX", planted UIDs with factory.PLANTED_UID_ROOT, planted dates with 1953."""
    out: list[Dataset] = []
    for k in range(count):
        ds = make_phantom(
            seed + k, modality="CR", photometric="MONOCHROME2", bits_stored=12, rows=size, cols=size
        ).dataset
        plant_every_row(ds)
        plant_private(ds, 8000 + 20 * k)
        plant_overlay_and_curve(ds, 8100 + 20 * k)
        ds.AnatomicRegionSequence = DicomSequence([nested_phi(8200 + 40 * k, 3)])
        content = Dataset()
        content.ValueType = "TEXT"
        content.TextValue = f"{token(8300 + k)} lives at 12 Main St"
        content.ContentSequence = DicomSequence([nested_phi(8310 + 40 * k, 2)])
        ds.ContentSequence = DicomSequence([content])
        # plant_every_row gives every instance the same value per row; a study needs its own
        # identity: one patient, one study, one series, distinct instances.
        ds.PatientName = PATIENT_NAME
        ds.PatientID = PATIENT_ID
        ds.StudyInstanceUID = STUDY_UID
        ds.SeriesInstanceUID = SERIES_UID
        ds.SOPInstanceUID = planted_uid(700100 + k)
        ds.InstanceNumber = k + 1
        ds.StudyDescription = f"XR CHEST {token(8500)}"
        ds.SeriesDescription = f"CHEST PA {token(8501)}"
        ds.ImageComments = f"{token(8502 + k)} seen by Dr {token(8510)}"
        ds.BurnedInAnnotation = "NO"
        for tag in (0x60003000,):  # overlay data must match Overlay Rows x Columns to be valid
            ds[tag].value = bytes(8)
        meta = ds.file_meta
        meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        meta.SourceApplicationEntityTitle = "PHIXSRCAE"
        meta.add_new(0x00020100, "UI", planted_uid(8400))  # Private Information Creator UID
        meta.add_new(0x00020102, "OB", f"{token(8401)}PRIVINFO".encode())
        meta.add_new(0x00020017, "AE", f"{token(8402)}SND")  # Sending AE Title
        out.append(ds)
    return out


def to_bytes(ds: Dataset) -> bytes:
    buf = io.BytesIO()
    dcmwrite(buf, ds, enforce_file_format=True)
    return buf.getvalue()


# ------------------------------------------------------------------------------------- tools


def ours(raw: bytes) -> bytes:
    """Our header engine with the Basic Profile (no options)."""
    return to_bytes(Deidentifier(DeidOptions(), SECRET).deidentify(dcmread(io.BytesIO(raw))).dataset)


def dicom_anonymizer(raw: bytes) -> bytes:
    """dicom-anonymizer's default rules (its bundled edition of Table E.1-1), private tags deleted."""
    from dicomanonymizer import anonymize_dataset

    ds = dcmread(io.BytesIO(raw))
    anonymize_dataset(ds, delete_private_tags=True)
    buf = io.BytesIO()
    ds.save_as(buf)
    return buf.getvalue()


def dicom_anonymizer_version() -> str | None:
    try:
        from importlib.metadata import version

        return version("dicom-anonymizer")
    except Exception:
        return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class OrthancError(RuntimeError):
    """Orthanc did not start or a REST call failed."""


@dataclass
class Orthanc:
    """A running Orthanc reachable on 127.0.0.1:`port` (REST)."""

    port: int
    process: subprocess.Popen[bytes]

    def call(self, method: str, path: str, body: bytes | None = None, content_type: str = "application/json") -> bytes:
        req = urllib.request.Request(f"http://127.0.0.1:{self.port}{path}", data=body, method=method)
        if body is not None:
            req.add_header("Content-Type", content_type)
        try:
            with urllib.request.urlopen(req, timeout=30) as resp:
                return resp.read()
        except urllib.error.HTTPError as exc:
            raise OrthancError(f"{method} {path}: HTTP {exc.code} {exc.read()[:300]!r}") from None

    def anonymize(self, raw: bytes, body: dict[str, object]) -> bytes:
        """Upload, anonymize the instance with `body`, download the result; deletes both."""
        uploaded = json.loads(self.call("POST", "/instances", raw, "application/dicom"))
        source = uploaded["ID"]
        try:
            return self.call("POST", f"/instances/{source}/anonymize", json.dumps(body).encode())
        finally:
            self.call("DELETE", f"/instances/{source}")


#: Orthanc's anonymization request: the 2021b edition of Table E.1-1 (the newest Orthanc 1.10
#: knows), Basic Profile, private tags removed (its default), Force for the UID-replacing actions.
ORTHANC_BODY: dict[str, object] = {"DicomVersion": "2021b", "Force": True, "KeepPrivateTags": False}


@contextmanager
def orthanc_server(timeout: float = 30.0) -> Iterator[Orthanc]:
    """Start Orthanc on 127.0.0.1 free ports with a throw-away configuration and storage; stop it
    (SIGTERM, then SIGKILL after a grace period) on exit. Raises OrthancError if it does not start."""
    if not os.path.exists(ORTHANC):
        raise OrthancError(f"{ORTHANC} not installed (apt-get install orthanc)")
    with tempfile.TemporaryDirectory(prefix="orthanc-") as tmp:
        port = free_port()
        config = {
            "Name": "compare-deid",
            "HttpPort": port,
            "DicomPort": free_port(),
            "DicomServerEnabled": False,
            "StorageDirectory": f"{tmp}/storage",
            "IndexDirectory": f"{tmp}/index",
            "RemoteAccessAllowed": False,
            "AuthenticationEnabled": False,
            "HttpServerEnabled": True,
            "Plugins": [],
            "StorageCompression": False,
            "HttpTimeout": 30,
        }
        path = Path(tmp, "orthanc.json")
        path.write_text(json.dumps(config))
        log = open(Path(tmp, "orthanc.log"), "wb")  # noqa: SIM115 - closed below
        process = subprocess.Popen([ORTHANC, str(path)], stdout=log, stderr=subprocess.STDOUT, cwd=tmp)
        server = Orthanc(port, process)
        try:
            deadline = time.monotonic() + timeout
            while True:
                if process.poll() is not None:
                    raise OrthancError(
                        f"Orthanc exited with {process.returncode}: {Path(tmp, 'orthanc.log').read_text()[-500:]}"
                    )
                try:
                    server.call("GET", "/system")
                    break
                except (OSError, OrthancError):
                    if time.monotonic() > deadline:
                        raise OrthancError("Orthanc did not answer in time") from None
                    time.sleep(0.2)
            yield server
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
            log.close()


# ---------------------------------------------------------------------------------- comparing


def _elements(ds: Dataset) -> Iterator[tuple[int, object]]:
    for elem in ds.file_meta if hasattr(ds, "file_meta") else ():
        yield int(elem.tag), elem
    for elem in ds:
        yield int(elem.tag), elem


def _empty(value: object) -> bool:
    if value is None:
        return True
    if isinstance(value, (str, bytes, list, tuple, DicomSequence)):
        return len(value) == 0
    return False


def outcome(before: Dataset, after: Dataset, tag: int) -> str:
    """What a tool did to top-level (or file meta) attribute `tag` of `before`."""
    src = before.file_meta if tag >> 16 == 0x0002 else before
    dst = getattr(after, "file_meta", Dataset()) if tag >> 16 == 0x0002 else after
    if tag not in dst:
        return REMOVED
    old, new = src[tag].value, dst[tag].value
    if _empty(new) and not _empty(old):
        return EMPTIED
    if isinstance(old, DicomSequence) and isinstance(new, DicomSequence):
        return KEPT if to_bytes_items(old) == to_bytes_items(new) else REPLACED
    return KEPT if old == new else REPLACED


def to_bytes_items(seq: DicomSequence) -> list[bytes]:
    out = []
    for item in seq:
        buf = io.BytesIO()
        dcmwrite(buf, copy.deepcopy(item), implicit_vr=False, little_endian=True)
        out.append(buf.getvalue())
    return out


TOOLS: dict[str, Callable[[bytes], bytes]] = {"ours": ours, "dicom-anonymizer": dicom_anonymizer}


def compare(inputs: Sequence[bytes], orthanc: Orthanc | None) -> dict[int, dict[str, str]]:
    """tag -> {tool: outcome}, over every top-level attribute of every input (an attribute's
    outcome is the first non-kept one across inputs)."""
    runners: dict[str, Callable[[bytes], bytes]] = dict(TOOLS)
    if orthanc is not None:
        runners["orthanc"] = lambda raw: orthanc.anonymize(raw, ORTHANC_BODY)
    table: dict[int, dict[str, str]] = {}
    for raw in inputs:
        before = dcmread(io.BytesIO(raw))
        results = {name: dcmread(io.BytesIO(run(raw))) for name, run in runners.items()}
        for tag, _ in _elements(before):
            row = table.setdefault(tag, {})
            for name, after in results.items():
                got = outcome(before, after, tag)
                if row.get(name, KEPT) == KEPT:
                    row[name] = got
    return table


def keeps_what_a_peer_changes(table: dict[int, dict[str, str]]) -> dict[int, dict[str, str]]:
    """The rows where ours keeps an attribute that some peer removes, empties or replaces."""
    return {
        t: row
        for t, row in table.items()
        if row.get("ours") == KEPT and any(v != KEPT for k, v in row.items() if k != "ours")
    }


def leaks(raw: bytes) -> dict[str, int]:
    """Occurrences, anywhere in the file (nested items, private blocks, file meta), of the planted
    text tokens, planted UIDs and planted 1953 dates."""
    from deid.testing import PLANTED_UID_ROOT, TOKEN

    return {
        "tokens": raw.count(TOKEN.encode()),
        "uids": raw.count(PLANTED_UID_ROOT.encode()),
        "dates": raw.count(b"1953"),
    }


def leak_counts(inputs: Sequence[bytes], orthanc: Orthanc | None) -> dict[str, dict[str, int]]:
    """tool -> summed `leaks` over the outputs of `inputs` ("input" is the untouched input)."""
    runners: dict[str, Callable[[bytes], bytes]] = {"input": lambda raw: raw, **TOOLS}
    if orthanc is not None:
        runners["orthanc"] = lambda raw: orthanc.anonymize(raw, ORTHANC_BODY)
    out: dict[str, dict[str, int]] = {}
    for name, run in runners.items():
        total = {"tokens": 0, "uids": 0, "dates": 0}
        for raw in inputs:
            for k, v in leaks(run(raw)).items():
                total[k] += v
        out[name] = total
    return out


def describe(tag: int, before: Dataset | None = None) -> str:
    from pydicom.datadict import keyword_for_tag

    t = Tag(tag)
    name = keyword_for_tag(t) or ("private" if t.is_private else "")
    return f"({t.group:04X},{t.element:04X}) {name}"


def markdown(table: dict[int, dict[str, str]], tools: Sequence[str], only_differences: bool = True) -> str:
    lines = ["| Attribute | " + " | ".join(tools) + " |", "|---|" + "---|" * len(tools)]
    for tag in sorted(table):
        row = table[tag]
        if only_differences and len({row.get(t, "-") for t in tools}) == 1:
            continue
        flag = " **ours keeps**" if tag in keeps_what_a_peer_changes({tag: row}) else ""
        lines.append(f"| {describe(tag)}{flag} | " + " | ".join(row.get(t, "-") for t in tools) + " |")
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tools.compare_deid", description=__doc__.splitlines()[0])
    parser.add_argument("--all", action="store_true", help="list every attribute, not only differences")
    parser.add_argument("--count", type=int, default=2, help="instances in the planted study")
    args = parser.parse_args(argv)
    inputs = [to_bytes(ds) for ds in planted_study(args.count)]
    tools = ["ours", "dicom-anonymizer"]
    try:
        with orthanc_server() as server:
            version = json.loads(server.call("GET", "/system")).get("Version")
            table = compare(inputs, server)
            counts = leak_counts(inputs, server)
            tools.append("orthanc")
    except OrthancError as exc:
        print(f"Orthanc unavailable ({exc}); comparing without it", file=sys.stderr)
        version = None
        table = compare(inputs, None)
        counts = leak_counts(inputs, None)
    print(f"dicom-anonymizer {dicom_anonymizer_version()}, Orthanc {version}, ORTHANC_BODY={json.dumps(ORTHANC_BODY)}")
    print(markdown(table, tools, only_differences=not args.all))
    print("\nPlanted markers left anywhere in the output files (summed over the study):")
    for name, c in counts.items():
        print(f"  {name}: {c}")
    flagged = keeps_what_a_peer_changes(table)
    print(f"\n{len(table)} attributes compared; ours keeps {len(flagged)} that a peer changes:")
    for tag, row in sorted(flagged.items()):
        print(f"  {describe(tag)}: {row}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
