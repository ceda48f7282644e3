"""tmp/<owner>/: the private scratch folder of one live Spool object.

Partial writes (and studies being deleted by complete()) live in a folder of their own per Spool,
whose owner holds an exclusive flock on <owner>/owner.lock for as long as it is open. Opening a
Spool removes every other owner folder whose lock it can take: its owner is dead (crashed or
closed), so its files were never acknowledged. A live writer's folder, in this process or another,
is never touched.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import uuid
from pathlib import Path

from dicom_listener.spool.files import DIR_MODE

OWNER_LOCK = "owner.lock"


class Scratch:
    """A new tmp_root/<random>/ folder, flock-owned until close(). Raises OSError."""

    def __init__(self, tmp_root: Path) -> None:
        self.tmp_root = tmp_root
        self.path = tmp_root / uuid.uuid4().hex
        self.path.mkdir(mode=DIR_MODE)
        try:
            self._fd = os.open(self.path / OWNER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            shutil.rmtree(self.path, ignore_errors=True)
            raise
        try:
            fcntl.flock(self._fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self.close()
            raise

    def close(self) -> None:
        """Delete the folder and release the lock. Idempotent."""
        shutil.rmtree(self.path, ignore_errors=True)
        if self._fd >= 0:
            with contextlib.suppress(OSError):
                os.close(self._fd)
            self._fd = -1

    def remove_orphans(self) -> None:
        """Delete every other owner folder under tmp_root whose owner is gone."""
        for owner in self.tmp_root.iterdir():
            if owner != self.path:
                _remove_if_orphaned(owner)


def _remove_if_orphaned(owner: Path) -> None:
    if not owner.is_dir():
        with contextlib.suppress(OSError):
            owner.unlink()
        return
    try:
        fd = os.open(owner / OWNER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    except OSError:
        return
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return  # a live Spool (this or another process) owns it
    finally:
        os.close(fd)
    shutil.rmtree(owner, ignore_errors=True)
