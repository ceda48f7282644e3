"""ReceivingFile: an instance written to the spool's scratch folder while it arrives.

The listener streams each C-STORE data set fragment into one of these as the fragments arrive,
instead of assembling the data set in memory and writing it again once it is complete: the bytes
are written once, and their writeback to the disk starts while the rest is still arriving, so the
fsync before the response has little left to wait for.

Contract:

* The file starts with the Part 10 header (`header`, see files.instance_header) followed by the
  data set bytes exactly as received; it lives in a private scratch folder (files.py's step 1) and
  becomes visible in incoming/ only through Spool.store_received (fsync, rename, folder fsync).
* `write` never raises: the first OSError (disk full, I/O error) marks the file failed (`failed`
  holds a fixed reason), the partial file is removed at once, and later writes are ignored. The
  C-STORE handler answers such an instance 0xA700.
* `discard` closes and removes the file; idempotent, and safe after `finish`.
* `dataset_view` maps the data set bytes read-only for the structural parse (nothing is copied:
  the parse skips Pixel Data by its length).
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import mmap
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

from dicom_listener.errors import SpoolWriteError
from dicom_listener.spool.files import FILE_MODE

WRITEBACK_BYTES = 1 << 20
"""Written bytes after which their writeback is started (asynchronously) while more arrive."""

_SYNC_FILE_RANGE_WRITE = 2


def _load_sync_file_range() -> Callable[[int, int, int], None] | None:
    """Linux's sync_file_range(fd, offset, n, SYNC_FILE_RANGE_WRITE), or None elsewhere.

    It only *starts* writeback of dirty pages (it returns without waiting and guarantees nothing);
    durability still comes from the fsync in finish(). It is what makes that fsync short.
    """
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        function = libc.sync_file_range
    except (OSError, AttributeError):
        return None
    function.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    function.restype = ctypes.c_int

    def start(fd: int, offset: int, length: int) -> None:
        function(fd, offset, length, _SYNC_FILE_RANGE_WRITE)  # a failure only loses the head start

    return start


_start_writeback = _load_sync_file_range()


class ReceivingFile:
    """A new <random>.part file in `folder` holding `header`, then the data set as it arrives."""

    def __init__(self, folder: Path, header: bytes) -> None:
        self.path = folder / f"{uuid.uuid4().hex}.part"
        self.header_length = len(header)
        self.failed: str | None = None
        self._fd = -1
        self._written = 0  # bytes in the file
        self._flushed = 0  # bytes whose writeback was started
        self._lock = threading.Lock()  # write (DUL thread) against discard (connection close)
        try:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, FILE_MODE)
        except OSError as exc:
            self.failed = f"cannot create temp file: {exc.strerror or exc}"
            return
        self.write(header)

    @property
    def dataset_length(self) -> int:
        """Data set bytes written so far."""
        return max(0, self._written - self.header_length)

    def write(self, data: bytes | memoryview) -> None:
        """Append `data`; on an OSError mark the file failed and remove it (never raises)."""
        with self._lock:
            if self._fd < 0:
                return
            view = memoryview(data)
            try:
                while view:
                    done = os.write(self._fd, view)
                    view = view[done:]
                    self._written += done
            except OSError as exc:
                self.failed = f"cannot write temp file: {exc.strerror or exc}"
                self._close_and_remove()
                return
            if _start_writeback is not None and self._written - self._flushed >= WRITEBACK_BYTES:
                _start_writeback(self._fd, self._flushed, self._written - self._flushed)
                self._flushed = self._written

    @contextlib.contextmanager
    def dataset_view(self) -> Iterator[memoryview]:
        """The data set bytes (header excluded), mapped read-only for the duration of the block.

        Raises SpoolWriteError when the file failed or cannot be mapped.
        """
        with self._lock:
            if self._fd < 0:
                raise SpoolWriteError(self.failed or "temp file is closed")
            if self.dataset_length == 0:
                mapped = None
                view = memoryview(b"")
            else:
                try:
                    mapped = mmap.mmap(self._fd, self._written, access=mmap.ACCESS_READ)
                except (OSError, ValueError) as exc:
                    raise SpoolWriteError(f"cannot map temp file: {exc}") from exc
                view = memoryview(mapped)[self.header_length :]
        try:
            yield view
        finally:
            view.release()
            if mapped is not None:
                # A traceback may still hold slices of the map: then it closes when they go.
                with contextlib.suppress(BufferError):
                    mapped.close()

    def read_dataset(self) -> bytes:
        """A copy of the data set bytes (for quarantine). Raises SpoolWriteError."""
        with self.dataset_view() as view:
            return bytes(view)

    def finish(self) -> Path:
        """fsync and close the file; returns its path (still in the scratch folder).

        Raises SpoolWriteError (the file is then removed) when it failed or cannot be synced.
        """
        with self._lock:
            if self._fd < 0:
                raise SpoolWriteError(self.failed or "temp file is closed")
            try:
                os.fsync(self._fd)
            except OSError as exc:
                self.failed = f"cannot sync temp file: {exc.strerror or exc}"
                self._close_and_remove()
                raise SpoolWriteError(self.failed) from exc
            os.close(self._fd)
            self._fd = -1
        return self.path

    def discard(self) -> None:
        """Close (if open) and remove the file if it is still in the scratch folder. Idempotent."""
        with self._lock:
            self._close_and_remove()

    def _close_and_remove(self) -> None:
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1
        with contextlib.suppress(OSError):
            self.path.unlink()
