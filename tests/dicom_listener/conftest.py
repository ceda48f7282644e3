"""Shared helpers: tiny CR test objects made with pydicom, DCMTK lookup, running listeners."""

from __future__ import annotations

import functools
import shutil
import subprocess
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from io import BytesIO
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.uid import ExplicitVRLittleEndian, ImplicitVRLittleEndian, generate_uid
from pynetdicom import AE
from pynetdicom.association import Association

from dicom_listener import ListenerServer, ListenerSettings, create_server

CR_IMAGE_STORAGE = "1.2.840.10008.5.1.4.1.1.1"
SCP_AET = "SECUREMED"
PACS_AET = "PACS"


def make_cr(
    study_uid: str | None = None,
    sop_uid: str | None = None,
    *,
    size: int = 32,
    transfer_syntax: str = ExplicitVRLittleEndian,
) -> Dataset:
    """A small, valid CR Image Storage instance with synthetic (non-patient) demographics."""
    ds = Dataset()
    ds.SOPClassUID = CR_IMAGE_STORAGE
    ds.SOPInstanceUID = sop_uid or generate_uid()
    ds.StudyInstanceUID = study_uid or generate_uid()
    ds.SeriesInstanceUID = generate_uid()
    ds.PatientName = "Synthetic^Test"
    ds.PatientID = "TEST-0001"
    ds.Modality = "CR"
    ds.BodyPartExamined = "CHEST"
    ds.ViewPosition = "PA"
    ds.StudyDate = "20240101"
    ds.Rows = size
    ds.Columns = size
    ds.SamplesPerPixel = 1
    ds.PhotometricInterpretation = "MONOCHROME2"
    ds.BitsAllocated = 16
    ds.BitsStored = 12
    ds.HighBit = 11
    ds.PixelRepresentation = 0
    rng = np.random.default_rng()
    ds.PixelData = rng.integers(0, 4096, size=(size, size), dtype=np.uint16).tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID = ds.SOPClassUID
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = transfer_syntax
    return ds


def write_cr(directory: Path, study_uid: str | None = None, **kwargs: Any) -> tuple[Path, Dataset]:
    ds = make_cr(study_uid, **kwargs)
    path = directory / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return path, ds


def dataset_offset(data: bytes) -> int:
    """Offset of the data set in a Part 10 file (after preamble and file meta)."""
    assert data[128:132] == b"DICM" and data[132:138] == b"\x02\x00\x00\x00UL", "no group length"
    return 144 + int.from_bytes(data[140:144], "little")


def dataset_bytes(path: Path) -> bytes:
    data = path.read_bytes()
    return data[dataset_offset(data) :]


def encode(ds: Dataset) -> bytes:
    """Data set bytes (no file meta) in ds.file_meta.TransferSyntaxUID."""
    buffer = BytesIO()
    ds.save_as(buffer, enforce_file_format=True)
    data = buffer.getvalue()
    return data[dataset_offset(data) :]


def craft_file(path: Path, dataset: bytes, sop_uid: str, transfer_syntax: str = ExplicitVRLittleEndian) -> Path:
    """A Part 10 file whose file meta is valid and whose data set bytes are exactly `dataset`."""
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID = CR_IMAGE_STORAGE
    meta.MediaStorageSOPInstanceUID = sop_uid
    meta.TransferSyntaxUID = transfer_syntax
    meta.ImplementationClassUID = "1.2.826.0.1.3680043.10.1234"
    from dicom_listener.spool import encode_file_meta

    path.write_bytes(encode_file_meta(meta) + dataset)
    return path


@functools.cache
def _find_dcmtk(name: str) -> str | None:
    # pynetdicom installs Python look-alikes (storescu, echoscu) into the venv's bin, ahead of
    # DCMTK on PATH; only a binary announcing itself as DCMTK counts.
    candidates = [shutil.which(name), f"/usr/bin/{name}", f"/usr/local/bin/{name}"]
    for candidate in candidates:
        if not candidate or not Path(candidate).exists():
            continue
        try:
            out = subprocess.run([candidate, "--version"], capture_output=True, text=True, timeout=10, check=False)
        except OSError:
            continue
        if "dcmtk" in (out.stdout + out.stderr).lower():
            return candidate
    return None


def dcmtk(name: str) -> str:
    """Path of a DCMTK tool, or skip the test with the reason."""
    path = _find_dcmtk(name)
    if path is None:
        pytest.skip(f"DCMTK '{name}' not installed")
    return path


def run_tool(*args: str, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    return subprocess.run(list(args), capture_output=True, text=True, timeout=timeout, check=False)


@dataclass
class Listener:
    server: ListenerServer
    port: int
    settings: ListenerSettings

    @property
    def spool_dir(self) -> Path:
        return self.settings.spool_dir


@pytest.fixture
def start_listener(tmp_path: Path) -> Iterator[Callable[..., Listener]]:
    """Factory: start_listener(**settings_overrides) -> a running Listener, stopped at teardown."""
    started: list[ListenerServer] = []

    def start(**overrides: Any) -> Listener:
        values: dict[str, Any] = {
            "ae_title": SCP_AET,
            "allowed_calling_aets": frozenset({PACS_AET, "STORESCU"}),
            "spool_dir": tmp_path / "spool",
            "quiet_period_s": 1.0,
            "acse_timeout_s": 10.0,
            "dimse_timeout_s": 10.0,
            "network_timeout_s": 10.0,
        }
        admission = overrides.pop("admission", None)
        values.update(overrides)
        settings = ListenerSettings(**values)
        server, port = create_server(settings, admission=admission)
        started.append(server)
        return Listener(server, port, settings)

    yield start
    for server in started:
        server.shutdown(grace_s=0.5)


@pytest.fixture
def listener(start_listener: Callable[..., Listener]) -> Listener:
    return start_listener()


def associate(
    port: int,
    *,
    calling: str = PACS_AET,
    called: str = SCP_AET,
    contexts: list[tuple[str, list[str]]] | None = None,
    tls_args: Any = None,
) -> Association:
    """A pynetdicom SCU association to the listener."""
    ae = AE(ae_title=calling)
    ae.acse_timeout = 10
    ae.dimse_timeout = 10
    ae.network_timeout = 10
    for abstract, syntaxes in contexts or [("1.2.840.10008.1.1", [ImplicitVRLittleEndian])]:
        ae.add_requested_context(abstract, syntaxes)
    return ae.associate("127.0.0.1", port, ae_title=called, tls_args=tls_args)
