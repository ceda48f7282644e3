"""The one reader and writer of key files: secrets (private keys, the site secret) and public keys.

Contract
--------
`read_private(path)` returns the bytes of a secret file, or raises `KeyFileError`:

* the file must open for reading (missing, unreadable: "cannot be read", with the OS reason);
* it must be a regular file (a directory, FIFO, socket or device is refused);
* on POSIX it must not be accessible by group or others (``mode & 0o077 == 0``), like ssh does for
  identity files; the message says to ``chmod 600`` it. ``allow_insecure_permissions=True`` waives
  this one check (never the regular-file check).

`read_public(path)` is the same without the permission check (public keys may be world-readable).

`write_private(path, data)` / `write_public(path, data)` replace `path` atomically with a file of
mode 0600 / 0644: a temporary file in the same directory (created 0600 by `tempfile.mkstemp`, so
the secret is never readable by others, whatever the umask), written, fsync'ed, chmod'ed to the
exact mode, renamed over `path` with `os.replace`, and the directory fsync'ed. A failure leaves
`path` as it was and removes the temporary file; the `OSError` propagates unchanged.

Symbolic links are followed, as ssh does: the checks apply to the file the link points to, so a
key mounted as a symlink (Kubernetes secret volumes, /etc/alternatives-style layouts) works, and a
link to a group-readable file is refused like the file itself. The checks are made on the opened
file descriptor (`os.fstat`), not on the path, so the file cannot be swapped between check and
read. Writing replaces a link at `path` by a regular file; it never writes through it.

Messages name the path and what to do, never the key material. Standard library only (this is
`common/`, the ground floor).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
from pathlib import Path

from common.errors import KeyFileError

__all__ = ["PRIVATE_MODE", "PUBLIC_MODE", "read_private", "read_public", "write_private", "write_public"]

PRIVATE_MODE = 0o600
PUBLIC_MODE = 0o644

# O_NONBLOCK: opening a FIFO planted at the path must not hang; it is refused as "not a regular file".
_OPEN_FLAGS = os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)

_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISSOCK, "a socket"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
)


def read_private(path: str | os.PathLike[str], *, allow_insecure_permissions: bool = False) -> bytes:
    """The contents of the secret file `path`; `KeyFileError` unless it is a regular file without
    group/other access (see module docstring). The access check is waived with
    ``allow_insecure_permissions=True``."""
    return _read(Path(path), private=True, allow_insecure_permissions=allow_insecure_permissions)


def read_public(path: str | os.PathLike[str]) -> bytes:
    """The contents of the public key file `path`; `KeyFileError` unless it is a readable regular file."""
    return _read(Path(path), private=False, allow_insecure_permissions=True)


def write_private(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically replace `path` with `data`, mode 0600 (never wider at any moment)."""
    _write(Path(path), bytes(data), PRIVATE_MODE)


def write_public(path: str | os.PathLike[str], data: bytes) -> None:
    """Atomically replace `path` with `data`, mode 0644."""
    _write(Path(path), bytes(data), PUBLIC_MODE)


def _read(path: Path, *, private: bool, allow_insecure_permissions: bool) -> bytes:
    try:
        fd = os.open(path, _OPEN_FLAGS)
    except OSError as exc:
        raise KeyFileError(
            f"key file {path} cannot be read: {exc.strerror}; check the path and its permissions"
        ) from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            kind = next((name for test, name in _KINDS if test(st.st_mode)), "a special file")
            raise KeyFileError(
                f"key file {path} is {kind}, not a regular file; point the configuration at the key file"
            )
        if private and not allow_insecure_permissions and os.name == "posix" and st.st_mode & 0o077:
            raise KeyFileError(
                f"key file {path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):o}); "
                f"chmod 600 {path}"
            )
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
        return b"".join(chunks)
    except OSError as exc:
        raise KeyFileError(f"key file {path} cannot be read: {exc.strerror}") from None
    finally:
        os.close(fd)


def _write(path: Path, data: bytes, mode: int) -> None:
    directory = path.parent
    fd, tmp_name = tempfile.mkstemp(dir=directory, prefix=f".{path.name}.", suffix=".tmp")
    tmp = Path(tmp_name)
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fchmod(fh.fileno(), mode)  # exact mode, whatever the umask
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_directory(directory)


def _fsync_directory(directory: Path) -> None:
    """Make the rename durable; best effort where directories cannot be opened (not POSIX)."""
    try:
        dir_fd = os.open(directory, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
