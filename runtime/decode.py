"""Decoding untrusted compressed Pixel Data in a memory- and time-bounded child process.

A codestream's own header decides how much memory a decoder allocates, and it may lie: a 2 KB
JPEG-LS instance whose SOF says 65535 x 65535 makes a decoder grow the process by gigabytes.
`BoundedDecoder.to_native(ds)` therefore never decodes in the calling process.

Contract of `to_native(ds) -> Dataset`:

* A dataset without Pixel Data, or in a native transfer syntax (Implicit/Explicit VR Little Endian,
  Deflated, Explicit VR Big Endian) with defined-length Pixel Data, is returned as is (the same
  object); no child process is involved.
* An encapsulated one is checked in the caller first, cheaply and without decoding: the Pixel Data
  must be encapsulated (fragments), a decoder must exist for its transfer syntax, the decoded size
  the header declares (Rows x Columns x frames x samples x Bits Allocated) must fit in
  `max_memory_bytes`, and every frame's codestream header must agree with the dataset
  (`common.codestream.codestream_problem`; the listener makes the same check on the first frame).
* It is then decoded by pydicom in a worker process whose address space is capped (RLIMIT_AS: the
  worker's idle footprint plus `max_memory_bytes`) and which is killed after `timeout_s`. The result
  is a new dataset with the semantics of `deid.pixels.cleaner` (`_decode_to_native`): pydicom's
  `decompress` with `as_rgb` for every syntax but RLE Lossless (so RLE keeps its stored values and
  colour space, the lossy YBR codecs give RGB), no new SOP Instance UID, Transfer Syntax Explicit
  VR Little Endian. The input is not modified.
* Every refusal raises `DecodeRefused` (exit 65) with a `code` (header, size, unsupported, memory,
  timeout, crashed, failed) and a reason free of patient data. `DecoderUnavailable` (exit 69) means
  no worker could be started at all (not the input's fault).
* At most `workers` decodes run at once (further callers wait). A worker that ran out of memory,
  crashed or timed out is discarded (killed) and the next decode starts a fresh one, so the pool
  recovers by itself; one whose decoder merely raised (code "failed") is kept. Workers are
  daemonic and exit when the parent goes away (their pipe closes); `close()` stops them now.
"""

from __future__ import annotations

import copy
import importlib
import logging
import multiprocessing
import os
import resource
import signal
import threading
import weakref
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, cast

from pydicom.dataset import Dataset
from pydicom.encaps import generate_fragments, generate_frames
from pydicom.pixels import get_decoder
from pydicom.uid import UID, ExplicitVRLittleEndian, RLELossless

from common.codestream import CHECKED_TRANSFER_SYNTAXES, codestream_problem
from common.errors import ExitCode
from runtime.errors import RuntimeFailure

log = logging.getLogger("securemed.decode")

_PIXEL_DATA = 0x7FE00010
_ITEM_TAG = b"\xfe\xff\x00\xe0"  # (FFFE,E000) little endian: encapsulated Pixel Data starts with an item
_EXTENDED_OFFSET_TABLE = (0x7FE00001, 0x7FE00002)
_START_TIMEOUT_S = 120.0  # a worker imports numpy, pydicom and the plugins: seconds on a busy box


class DecodeRefused(RuntimeFailure):
    """The Pixel Data was not decoded; `code` says why (header, size, unsupported, memory, timeout,
    crashed, failed), `reason` is a patient-data-free sentence for operators."""

    exit_code = ExitCode.DATAERR

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(f"{code}: {reason}")
        self.code = code
        self.reason = reason


class DecoderUnavailable(RuntimeFailure):
    """No decoding worker could be started (a fault of the machine, not of the input)."""

    exit_code = ExitCode.UNAVAILABLE


@dataclass(frozen=True)
class DecodeSettings:
    """max_memory_bytes: what one decode may allocate above the worker's idle footprint (also the
    largest decoded size accepted); timeout_s: wall-clock limit of one decode; workers: decodes at
    once (each a process)."""

    max_memory_bytes: int = 512 * 1024 * 1024
    timeout_s: float = 30.0
    workers: int = 2


def is_encapsulated(ds: Dataset) -> bool:
    """Whether `ds` carries Pixel Data in a compressed (encapsulated) transfer syntax."""
    return "PixelData" in ds and _syntax(ds).is_encapsulated


def _syntax(ds: Dataset) -> UID:
    meta = getattr(ds, "file_meta", None)
    value = meta.get("TransferSyntaxUID") if meta is not None else None
    return UID(str(value or ExplicitVRLittleEndian))


class BoundedDecoder:
    """Decodes encapsulated Pixel Data in bounded worker processes; see the module docstring."""

    def __init__(self, settings: DecodeSettings | None = None, *, check_header: bool = True) -> None:
        """check_header=False skips the codestream header check (tests use it to reach the worker's
        memory cap with a lying codestream); the appliance never turns it off."""
        self.settings = settings if settings is not None else DecodeSettings()
        self._context = multiprocessing.get_context("spawn")
        self._slots = threading.BoundedSemaphore(max(1, self.settings.workers))
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []
        self._finalizer = weakref.finalize(self, _stop_all, self._idle)
        self._check_header = check_header
        self._closed = False

    def close(self) -> None:
        """Stop every idle worker now; one busy with a decode stops when that decode ends. A later
        decode starts a worker again."""
        with self._lock:
            self._closed = True
            _stop_all(self._idle)

    def idle_pids(self) -> list[int]:
        """Process ids of the idle workers (monitoring, tests)."""
        with self._lock:
            return [w.process.pid for w in self._idle]

    def to_native(self, ds: Dataset) -> Dataset:
        """`ds` itself when native, else a decoded copy in Explicit VR Little Endian; raises
        DecodeRefused or DecoderUnavailable."""
        try:
            if "PixelData" not in ds:
                return ds
            syntax = _syntax(ds)
            undefined = bool(ds["PixelData"].is_undefined_length)
            starts_with_item = bytes((ds.PixelData or b"")[:4]) == _ITEM_TAG  # zero length reads as None
        except Exception as exc:  # a malformed Pixel Data element or Transfer Syntax UID
            raise DecodeRefused("header", f"Pixel Data element unreadable ({type(exc).__name__})") from None
        if not syntax.is_encapsulated:
            if undefined:
                raise DecodeRefused("header", "Pixel Data is encapsulated but the transfer syntax is native")
            return ds
        if not starts_with_item:
            raise DecodeRefused("header", f"{syntax.name} declared but Pixel Data is not encapsulated")
        request = self._request(ds, syntax)
        answer = self._run(request)
        return _apply(ds, answer)

    # ---- the caller's side: checks that need no decoding ---------------------------------------

    def _request(self, ds: Dataset, syntax: UID) -> Dataset:
        try:
            decoder = get_decoder(syntax)
        except NotImplementedError:
            decoder = None
        if decoder is None or not decoder.is_available:
            raise DecodeRefused("unsupported", f"no pixel decoder for {syntax.name}")
        try:
            rows, columns = int(ds.Rows), int(ds.Columns)
            samples, allocated = int(ds.SamplesPerPixel), int(ds.BitsAllocated)
            stored = int(ds.BitsStored)
            frames = int(ds.get("NumberOfFrames") or 1)
            fragments = generate_fragments(ds.PixelData)
            next(fragments)  # the Basic Offset Table item
            first = next(fragments, b"")
        except Exception as exc:  # a missing or malformed Image Pixel element, bad items
            raise DecodeRefused(
                "header", f"Image Pixel module or fragments unreadable ({type(exc).__name__})"
            ) from None
        if min(rows, columns, samples, allocated, frames) < 1:
            raise DecodeRefused("header", "Rows, Columns, Samples per Pixel, Bits Allocated and frames must be >= 1")
        size = rows * columns * frames * samples * ((allocated + 7) // 8)
        if size > self.settings.max_memory_bytes:
            raise DecodeRefused(
                "size", f"decoded size {size} bytes exceeds the limit of {self.settings.max_memory_bytes} bytes"
            )
        if self._check_header:
            # Every frame's header: a bomb may hide in a later frame (the listener reads frame 1 only).
            problem = codestream_problem(str(syntax), bytes(first), rows, columns, samples, stored)
            if problem is None and frames > 1 and str(syntax) in CHECKED_TRANSFER_SYNTAXES:
                try:
                    for index, frame in enumerate(generate_frames(ds.PixelData, number_of_frames=frames)):
                        if index and (
                            problem := codestream_problem(str(syntax), frame, rows, columns, samples, stored)
                        ):
                            problem = f"frame {index + 1}: {problem}"
                            break
                except Exception as exc:  # pydicom raises ValueError, IndexError, ... on bad items
                    raise DecodeRefused("header", f"frames unreadable ({type(exc).__name__})") from None
            if problem:
                raise DecodeRefused("header", problem)
        # Only what the decoder reads travels to the worker: the Image Pixel elements (group 0028),
        # the extended offset table and the fragments; the rest of the header stays here.
        request = Dataset()
        request.file_meta = copy.deepcopy(ds.file_meta)
        for elem in ds:
            if elem.tag.group == 0x0028 or elem.tag in _EXTENDED_OFFSET_TABLE or elem.tag == _PIXEL_DATA:
                request.add(copy.copy(elem))
        return request

    def _run(self, request: Dataset) -> Dataset:
        with self._slots:
            with self._lock:
                worker = self._idle.pop() if self._idle else None
            if worker is None or not worker.alive():
                worker = _Worker.start(self._context, self.settings.max_memory_bytes)
                with self._lock:
                    self._closed = False
            try:
                answer = worker.decode(request, self.settings.timeout_s)
            except DecodeRefused as exc:
                if exc.code == "failed":  # the decoder raised and returned: the worker is sound
                    self._give_back(worker)
                else:  # out of memory, stalled or dead: the next decode gets a fresh worker
                    worker.kill()
                raise
            except BaseException:
                worker.kill()
                raise
            self._give_back(worker)
            return answer

    def _give_back(self, worker: _Worker) -> None:
        with self._lock:
            if not self._closed:
                self._idle.append(worker)
                return
        worker.stop()


def _apply(ds: Dataset, decoded: Dataset) -> Dataset:
    """A copy of `ds` with the worker's Image Pixel elements and Pixel Data: what pydicom's
    in-place decompress() leaves (pydicom.pixels.utils.decompress)."""
    out = copy.deepcopy(ds)
    for elem in decoded:
        if elem.tag.group == 0x0028 or elem.tag == _PIXEL_DATA:
            out[elem.tag] = elem
    out.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    out._pixel_array = None
    out._pixel_id = {}
    return out


def _stop_all(workers: list[_Worker]) -> None:
    while workers:
        workers.pop().stop()


class _Worker:
    """One worker process and the parent's end of its pipe."""

    def __init__(self, process: Any, conn: Connection, max_memory_bytes: int) -> None:
        self.process = process
        self.conn = conn
        self.max_memory_bytes = max_memory_bytes

    @classmethod
    def start(cls, context: Any, max_memory_bytes: int) -> _Worker:
        parent, child = context.Pipe(duplex=True)
        process = context.Process(target=_serve, args=(child, max_memory_bytes), name="securemed-decode", daemon=True)
        try:
            process.start()
        except OSError as exc:
            raise DecoderUnavailable(f"decoding worker could not start ({type(exc).__name__})") from None
        child.close()
        worker = cls(process, parent, max_memory_bytes)
        try:
            ready = parent.poll(_START_TIMEOUT_S) and parent.recv() == "ready"
        except (EOFError, OSError):
            ready = False
        if not ready:
            worker.kill()
            raise DecoderUnavailable("decoding worker did not start")
        return worker

    def alive(self) -> bool:
        return bool(self.process.is_alive())

    def decode(self, request: Dataset, timeout_s: float) -> Dataset:
        try:
            self.conn.send(request)
            if not self.conn.poll(timeout_s):
                raise DecodeRefused("timeout", f"decoding took longer than {timeout_s:g} s")
            status, value = self.conn.recv()
        except (EOFError, OSError, BrokenPipeError):
            self.process.join(5)
            raise DecodeRefused("crashed", f"decoding worker died ({_how(self.process.exitcode)})") from None
        if status == "ok":
            return cast(Dataset, value)
        if status == "memory":
            raise DecodeRefused("memory", f"decoding needed more than {self.max_memory_bytes >> 20} MiB of memory")
        raise DecodeRefused("failed", f"pixel data could not be decoded ({value})")

    def stop(self) -> None:
        try:
            self.conn.send(None)
        except (OSError, ValueError):
            pass
        self.process.join(2)
        self.kill()

    def kill(self) -> None:
        if self.process.is_alive():
            self.process.kill()
        self.process.join(5)
        self.conn.close()


def _how(exitcode: int | None) -> str:
    if exitcode is None or exitcode >= 0:
        return f"exit {exitcode}"
    try:
        return f"signal {signal.Signals(-exitcode).name}"
    except ValueError:
        return f"signal {-exitcode}"


# ---- the worker process -------------------------------------------------------------------------


def _address_space() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")


def _serve(conn: Connection, max_memory_bytes: int) -> None:
    """Worker main loop: cap the address space, then decode one request after another."""
    for name in ("pylibjpeg", "libjpeg", "openjpeg", "PIL.Image", "pydicom.pixels.decoders.pylibjpeg"):
        try:  # import the decoder plugins now, so that the cap is measured with them loaded
            importlib.import_module(name)
        except ImportError:
            pass
    limit = _address_space() + max_memory_bytes
    resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    conn.send("ready")
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return  # the parent went away
        if request is None:
            return
        try:
            syntax = UID(str(request.file_meta.TransferSyntaxUID))
            request.decompress(as_rgb=syntax != RLELossless, generate_instance_uid=False)
            answer: tuple[str, Any] = ("ok", request)
        except MemoryError:
            answer = ("memory", "MemoryError")
        except Exception as exc:  # decoders raise RuntimeError, ValueError, OSError, ...
            # pylibjpeg reports an allocation the cap refused as "Out of free memory".
            answer = ("memory" if "memory" in str(exc).lower() else "failed", type(exc).__name__)
        del request
        conn.send(answer)
