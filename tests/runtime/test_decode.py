"""runtime.decode: compressed Pixel Data is decoded in a bounded worker process, bit-identically to
pydicom in-process; bombs, stalls and crashed workers are refused with a typed error, and the
caller's process does not grow."""

from __future__ import annotations

import copy
import io
import multiprocessing
import os
import signal
import struct
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pydicom
import pytest
from PIL import Image
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.encaps import encapsulate
from pydicom.uid import (
    UID,
    ExplicitVRLittleEndian,
    JPEG2000Lossless,
    JPEGBaseline8Bit,
    JPEGLSLossless,
    RLELossless,
    SecondaryCaptureImageStorage,
    generate_uid,
)

from common.errors import ExitCode, SecureMedError
from runtime.decode import BoundedDecoder, DecodeRefused, DecodeSettings, is_encapsulated
from training.phantoms import make_phantom

MIB = 1 << 20


def jpeg_ls_codestream(width: int, height: int, payload: int = 2000) -> bytes:
    """A tiny JPEG-LS (SOF55) codestream: 8-bit, one component, `payload` zero bytes of scan data."""
    sof = b"\xff\xf7" + struct.pack(">HBHHB", 11, 8, height, width, 1) + bytes([1, 0x11, 0])
    sos = b"\xff\xda" + struct.pack(">HB", 8, 1) + bytes([1, 0]) + bytes([0, 0, 0])
    return b"\xff\xd8" + sof + sos + b"\x00" * payload + b"\xff\xd9"


def jpeg_baseline(pixels: np.ndarray, *, claim: tuple[int, int] | None = None) -> bytes:
    """A JPEG baseline codestream by Pillow; `claim` rewrites the SOF0 height and width (a lie)."""
    buf = io.BytesIO()
    Image.fromarray(pixels).save(buf, format="JPEG", quality=90, subsampling=1)  # 4:2:2 for colour
    data = bytearray(buf.getvalue())
    if claim is not None:
        sof = data.find(b"\xff\xc0")
        struct.pack_into(">HH", data, sof + 5, *claim)
    return bytes(data)


def encapsulated(
    tmp: Path, syntax: str, fragment: bytes, rows: int, cols: int, *, samples: int = 1, photometric: str = "MONOCHROME2"
) -> Dataset:
    """An 8-bit secondary capture in `syntax`, written and read back (as the appliance's LoadStage sees it)."""
    ds = Dataset()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.TransferSyntaxUID = UID(syntax)
    ds.file_meta.MediaStorageSOPClassUID = SecondaryCaptureImageStorage
    ds.SOPClassUID = SecondaryCaptureImageStorage
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    ds.Rows, ds.Columns = rows, cols
    ds.SamplesPerPixel = samples
    ds.PhotometricInterpretation = photometric
    if samples > 1:
        ds.PlanarConfiguration = 0
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 8, 8, 7, 0
    ds.PixelData = encapsulate([fragment])
    ds["PixelData"].VR = "OB"
    ds["PixelData"].is_undefined_length = True
    path = tmp / f"{ds.SOPInstanceUID}.dcm"
    ds.save_as(path, enforce_file_format=True)
    return pydicom.dcmread(path)


def in_process(ds: Dataset, *, as_rgb: bool) -> Dataset:
    ref = copy.deepcopy(ds)
    ref.decompress(as_rgb=as_rgb, generate_instance_uid=False)
    return ref


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


class PeakRss:
    """Samples this process's resident set every 10 ms while in the block."""

    def __enter__(self) -> PeakRss:
        self.before = rss_bytes()
        self.peak = self.before
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)
        self._thread.start()
        return self

    def _sample(self) -> None:
        while not self._stop.wait(0.01):
            self.peak = max(self.peak, rss_bytes())

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    @property
    def growth(self) -> int:
        return self.peak - self.before


@pytest.fixture(scope="module")
def decoder() -> Iterator[BoundedDecoder]:
    d = BoundedDecoder(DecodeSettings(max_memory_bytes=256 * MIB, timeout_s=30, workers=1))
    yield d
    d.close()


def test_refusals_are_typed_errors_with_exit_65() -> None:
    error = DecodeRefused("memory", "decoding needed more than 256 MiB of memory")
    assert isinstance(error, SecureMedError) and error.exit_code == ExitCode.DATAERR
    assert (error.code, str(error)) == ("memory", "memory: decoding needed more than 256 MiB of memory")


def test_a_native_dataset_passes_through_without_a_worker() -> None:
    ds = make_phantom(3).dataset
    before = set(multiprocessing.active_children())
    fresh = BoundedDecoder()
    assert fresh.to_native(ds) is ds
    assert not is_encapsulated(ds)
    assert set(multiprocessing.active_children()) == before  # no process was started for it
    fresh.close()


def test_rle_decodes_bit_identically_to_pydicom_in_process(decoder: BoundedDecoder, tmp_path: Path) -> None:
    ds = make_phantom(5).dataset
    ds.compress(RLELossless, encoding_plugin="pydicom", generate_instance_uid=False)
    ds.save_as(tmp_path / "rle.dcm", enforce_file_format=True)
    ds = pydicom.dcmread(tmp_path / "rle.dcm")
    original = copy.deepcopy(ds)
    out = decoder.to_native(ds)
    ref = in_process(ds, as_rgb=False)  # RLE keeps its stored values (deid.pixels.cleaner)
    assert out == ref and out.PixelData == ref.PixelData and out.file_meta == ref.file_meta
    assert out["PixelData"].VR == "OW" and out.file_meta.TransferSyntaxUID == "1.2.840.10008.1.2.1"
    assert ds == original  # the input is not modified
    np.testing.assert_array_equal(out.pixel_array, make_phantom(5).dataset.pixel_array)


def test_jpeg_2000_and_colour_jpeg_decode_like_pydicom_in_process(decoder: BoundedDecoder, tmp_path: Path) -> None:
    ds = make_phantom(6).dataset
    ds.compress(JPEG2000Lossless, encoding_plugin="pylibjpeg", generate_instance_uid=False)
    out = decoder.to_native(ds)
    assert out == in_process(ds, as_rgb=True)
    np.testing.assert_array_equal(out.pixel_array, make_phantom(6).dataset.pixel_array)

    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 255, (64, 96, 3), dtype=np.uint8)
    colour = encapsulated(tmp_path, JPEGBaseline8Bit, jpeg_baseline(rgb), 64, 96, samples=3, photometric="YBR_FULL_422")
    out = decoder.to_native(colour)
    ref = in_process(colour, as_rgb=True)  # lossy YBR goes to RGB, as the pixel cleaner does
    assert out == ref and out.PhotometricInterpretation == "RGB"


def test_a_lying_codestream_header_is_refused_before_any_decoding(decoder: BoundedDecoder, tmp_path: Path) -> None:
    bomb = encapsulated(tmp_path, JPEGLSLossless, jpeg_ls_codestream(65535, 65535), 512, 512)
    started = time.monotonic()
    with pytest.raises(DecodeRefused) as info:
        decoder.to_native(bomb)
    assert info.value.code == "header" and "65535" in info.value.reason
    assert time.monotonic() - started < 0.5


def test_a_bomb_in_a_later_frame_is_refused_by_its_header_before_any_decoding(
    decoder: BoundedDecoder, tmp_path: Path
) -> None:
    ds = encapsulated(tmp_path, JPEGLSLossless, jpeg_ls_codestream(512, 512), 512, 512)
    ds.NumberOfFrames = 2
    ds.PixelData = encapsulate([jpeg_ls_codestream(512, 512), jpeg_ls_codestream(65535, 65535)])
    started = time.monotonic()
    with pytest.raises(DecodeRefused) as info:
        decoder.to_native(ds)
    assert info.value.code == "header" and info.value.reason.startswith("frame 2: ") and "65535" in info.value.reason
    assert time.monotonic() - started < 0.5


@pytest.mark.parametrize("kind", ["jpeg-ls", "jpeg"])
def test_a_codestream_bomb_is_refused_under_the_memory_cap_and_the_caller_stays_small(
    kind: str, tmp_path: Path
) -> None:
    """The header check off, so the worker's decoder really meets a 65535 x 65535 claim (4 GiB)."""
    if kind == "jpeg-ls":
        fragment, syntax = jpeg_ls_codestream(65535, 65535), JPEGLSLossless
    else:
        fragment, syntax = jpeg_baseline(np.zeros((512, 512), np.uint8), claim=(65535, 65535)), JPEGBaseline8Bit
    bomb = encapsulated(tmp_path, syntax, fragment, 512, 512)
    assert len(fragment) < 4096
    capped = BoundedDecoder(DecodeSettings(max_memory_bytes=256 * MIB, timeout_s=60, workers=1), check_header=False)
    try:
        with PeakRss() as rss, pytest.raises(DecodeRefused) as info:
            capped.to_native(bomb)
        assert info.value.code == "memory", info.value
        assert rss.growth < 64 * MIB, f"the caller grew by {rss.growth >> 20} MiB"
        # The refusing worker was discarded; a good image decodes on a fresh one.
        good = encapsulated(tmp_path, JPEGLSLossless, jpeg_ls_codestream(64, 64), 64, 64)
        assert capped.to_native(good) == in_process(good, as_rgb=True)
    finally:
        capped.close()


def test_a_decode_past_the_timeout_is_killed_and_the_next_one_works(tmp_path: Path) -> None:
    # Honest header, 8192 x 8192 (64 MiB decoded): some 3 s of decoding, killed after 0.5 s.
    slow = encapsulated(tmp_path, JPEGLSLossless, jpeg_ls_codestream(8192, 8192), 8192, 8192)
    small = BoundedDecoder(DecodeSettings(max_memory_bytes=256 * MIB, timeout_s=0.5, workers=1))
    try:
        small.to_native(encapsulated(tmp_path, JPEGLSLossless, jpeg_ls_codestream(8, 8), 8, 8))  # worker up
        started = time.monotonic()
        with pytest.raises(DecodeRefused) as info:
            small.to_native(slow)
        assert info.value.code == "timeout" and "0.5 s" in info.value.reason
        assert time.monotonic() - started < 2.5
        good = encapsulated(tmp_path, JPEGLSLossless, jpeg_ls_codestream(64, 64), 64, 64)
        assert small.to_native(good).Rows == 64
    finally:
        small.close()


def test_a_worker_killed_mid_decode_is_refused_as_crashed_and_replaced(tmp_path: Path) -> None:
    slow = encapsulated(tmp_path, JPEGLSLossless, jpeg_ls_codestream(8192, 8192), 8192, 8192)
    good = encapsulated(tmp_path, JPEGLSLossless, jpeg_ls_codestream(64, 64), 64, 64)
    pool = BoundedDecoder(DecodeSettings(max_memory_bytes=256 * MIB, timeout_s=60, workers=1))
    try:
        pool.to_native(good)
        (pid,) = pool.idle_pids()

        def kill_soon() -> None:
            time.sleep(0.3)
            os.kill(pid, signal.SIGKILL)  # what the kernel's OOM killer does

        killer = threading.Thread(target=kill_soon)
        killer.start()
        with pytest.raises(DecodeRefused) as info:
            pool.to_native(slow)
        killer.join()
        assert info.value.code == "crashed" and "SIGKILL" in info.value.reason
        assert pool.to_native(good) == in_process(good, as_rgb=True)
    finally:
        pool.close()


def test_inconsistent_encapsulation_size_and_syntax_are_refused(decoder: BoundedDecoder, tmp_path: Path) -> None:
    native_bytes = make_phantom(7).dataset
    lying = copy.deepcopy(native_bytes)
    lying.file_meta.TransferSyntaxUID = JPEGLSLossless  # meta says JPEG-LS, Pixel Data is native
    with pytest.raises(DecodeRefused, match="not encapsulated"):
        decoder.to_native(lying)

    wrapped = encapsulated(tmp_path, JPEGLSLossless, jpeg_ls_codestream(64, 64), 64, 64)
    wrapped.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian  # meta says native, Pixel Data has fragments
    with pytest.raises(DecodeRefused, match="encapsulated but the transfer syntax is native"):
        decoder.to_native(wrapped)

    huge = encapsulated(tmp_path, JPEGLSLossless, jpeg_ls_codestream(30000, 30000), 30000, 30000)
    with pytest.raises(DecodeRefused) as info:
        decoder.to_native(huge)  # 900 MB declared honestly: more than the 256 MiB allowed
    assert info.value.code == "size"

    mpeg = encapsulated(tmp_path, "1.2.840.10008.1.2.4.100", b"\x00\x00\x01\xb3" + b"\x00" * 60, 64, 64)
    with pytest.raises(DecodeRefused) as info:
        decoder.to_native(mpeg)
    assert info.value.code == "unsupported"

    garbage = encapsulated(tmp_path, RLELossless, b"\x01\x00\x00\x00" + b"\xff" * 60, 64, 64)
    with pytest.raises(DecodeRefused) as info:
        decoder.to_native(garbage)
    assert info.value.code == "failed"
