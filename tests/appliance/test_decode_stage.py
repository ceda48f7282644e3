"""The load stage decodes compressed Pixel Data only in runtime.decode's bounded workers: a compressed
study reaches classification and de-identification native, and a decoder bomb ends as a job withheld
with its reason while the service's own process stays small."""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from pydicom.uid import ExplicitVRLittleEndian, JPEGLSLossless, RLELossless

from appliance.jobs import TERMINAL
from appliance.pipeline import Job, Outcome, run_pipeline
from appliance.stages import AnonymizeStage, ClassifyStage, LoadStage
from deid import DeidOptions, DeidTool
from runtime.decode import BoundedDecoder, DecodeSettings
from tests.appliance.test_jobs import _dev_config
from tests.conftest import DEMO_BUNDLE
from tools.hostile_corpus import encapsulated, jpeg_ls_codestream, phantom
from training.phantoms import make_phantom

MIB = 1 << 20


@pytest.fixture(scope="module")
def decoder():
    d = BoundedDecoder(DecodeSettings(max_memory_bytes=128 * MIB, timeout_s=30, workers=1))
    yield d
    d.close()


def _job(tmp_path: Path, ds, name: str = "1.dcm") -> Job:
    path = tmp_path / name
    ds.save_as(path, enforce_file_format=True)
    return Job(job_id="j", study_uid=str(ds.StudyInstanceUID), files=(path,))


def test_a_compressed_study_reaches_later_stages_native(decoder: BoundedDecoder, tmp_path: Path) -> None:
    ds = make_phantom(21).dataset
    expected = ds.pixel_array.copy()
    ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
    tool = DeidTool(DeidOptions(), b"s" * 32)
    job = _job(tmp_path, ds)
    job = AnonymizeStage(tool)(ClassifyStage()(LoadStage(decoder)(job)))
    (original,) = job.originals
    assert original.file_meta.TransferSyntaxUID == ExplicitVRLittleEndian
    np.testing.assert_array_equal(original.pixel_array, expected)
    assert job.deidentified[0].file_meta.TransferSyntaxUID == ExplicitVRLittleEndian


def test_a_lying_codestream_is_withheld_at_load_with_its_reason(decoder: BoundedDecoder, tmp_path: Path) -> None:
    bomb = encapsulated(phantom(3, 0), JPEGLSLossless, [jpeg_ls_codestream(65535, 65535)], bits=8)
    result = run_pipeline([LoadStage(decoder), ClassifyStage()], _job(tmp_path, bomb))
    assert (result.outcome, result.stage) == (Outcome.WITHHELD, "load")
    assert result.reason == "pixel data refused (header): codestream is 65535x65535 but Columns x Rows is 512x512"


def _rss() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * 4096


def test_the_service_withholds_a_bomb_with_its_reason_stays_small_and_delivers_the_next_study(tmp_path: Path) -> None:
    """In-process service (so its RSS is this process's): a two-frame JPEG-LS instance whose second
    frame claims 65535 x 65535 passes the listener's check (it reads the first frame) and is refused
    by the decoder's check of every frame, before any decoding (the memory cap behind it is tested in
    tests/runtime/test_decode.py); a compressed study sent next is delivered."""
    from pynetdicom import AE

    from appliance.config import load_config
    from appliance.devsetup import init_dev
    from appliance.service import Appliance

    config_path = init_dev(tmp_path / "dev", dicom_port=0, grpc_port=0, bundle=DEMO_BUNDLE, quiet_period_s=0.2)
    text = _dev_config(config_path.read_text(), threads=1, allow_spinning="false")
    config_path.write_text(text + "\n[decode]\nmax_memory_mib = 128\ntimeout_s = 60\nworkers = 1\n")
    appliance = Appliance(load_config(config_path), poll_interval=0.05)
    ports = appliance.start()
    bomb = encapsulated(
        phantom(4, 0), JPEGLSLossless, [jpeg_ls_codestream(512, 512), jpeg_ls_codestream(65535, 65535)], bits=8
    )
    good = phantom(5, 1)
    good.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
    peak, stop = [_rss()], threading.Event()

    def sample() -> None:
        while not stop.wait(0.01):
            peak.append(_rss())

    sampler = threading.Thread(target=sample, daemon=True)
    before = _rss()
    sampler.start()
    try:
        ae = AE(ae_title="DEVPACS")
        ae.add_requested_context(str(bomb.SOPClassUID), str(JPEGLSLossless))
        ae.add_requested_context(str(good.SOPClassUID), str(RLELossless))
        assoc = ae.associate("127.0.0.1", ports.dicom, ae_title="SECUREMED")
        assert assoc.is_established
        try:
            for name, ds in (("bomb.dcm", bomb), ("good.dcm", good)):
                ds.save_as(tmp_path / name, enforce_file_format=True)
                assert assoc.send_c_store(tmp_path / name).Status == 0x0000  # the file's bytes, as is
        finally:
            assoc.release()
        assert appliance.jobs is not None
        deadline = time.monotonic() + 120
        while not (len(r := appliance.jobs.all()) == 2 and all(x.state in TERMINAL for x in r)):
            assert time.monotonic() < deadline, [(x.state, x.stage, x.reason) for x in appliance.jobs.all()]
            time.sleep(0.1)
        stop.set()
        sampler.join()
        by_study = {r.study_uid: r for r in appliance.jobs.all()}
        refused = by_study[str(bomb.StudyInstanceUID)]
        assert (refused.state, refused.stage) == ("withheld", "load")
        assert refused.reason.startswith("pixel data refused (header): frame 2: ") and "65535" in refused.reason
        assert by_study[str(good.StudyInstanceUID)].state == "delivered"
        assert max(peak) - before < 200 * MIB, f"the service grew by {(max(peak) - before) >> 20} MiB"
        with sqlite3.connect(appliance.state_dir / "jobs.sqlite3") as db:
            assert db.execute("SELECT COUNT(*) FROM jobs WHERE state = 'withheld'").fetchone() == (1,)
    finally:
        stop.set()
        appliance.stop(grace=2)


def _patched(tmp_path: Path, header: bytes, replace_with: bytes, *, offset: int) -> Job:
    """A phantom file with the bytes at `offset` after the element header `header` replaced."""
    ds = make_phantom(22).dataset
    path = tmp_path / "patched.dcm"
    ds.save_as(path, enforce_file_format=True)
    data = bytearray(path.read_bytes())
    at = data.index(header) + offset
    data[at : at + len(replace_with)] = replace_with
    path.write_bytes(bytes(data))
    return Job(job_id="j", study_uid=str(ds.StudyInstanceUID), files=(path,))


@pytest.mark.parametrize(
    "header, replacement, offset, where",
    [
        (b"\x28\x00\x51\x10DS", b"\xca", 8, "(0028,1051)"),  # Window Width: a Decimal String that is no number
        (b"\x20\x00\x0d\x00UI", b"IS", 4, "(0020,000D)"),  # Study Instance UID encoded as an Integer String
    ],
)
def test_a_header_value_that_cannot_be_represented_is_withheld_with_its_element(
    decoder: BoundedDecoder, tmp_path: Path, header: bytes, replacement: bytes, offset: int, where: str
) -> None:
    """Found by tests/fuzz/fuzz_parse.py: de-identification failed on both with an untyped ValueError."""
    tool = DeidTool(DeidOptions(), b"s" * 32)
    job = _patched(tmp_path, header, replacement, offset=offset)
    result = run_pipeline([LoadStage(decoder), ClassifyStage(), AnonymizeStage(tool)], job)
    assert (result.outcome, result.stage) == (Outcome.WITHHELD, "anonymize")
    assert result.reason == f"unsafe to de-identify: value of {where} at top level cannot be represented (ValueError)"
