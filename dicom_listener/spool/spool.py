"""The Spool facade: one object that ingests, lists, claims, releases and completes studies.

It owns the layout under the root, the lock that serialises mutations (a threading lock plus an
flock on .lock, so Spools in other processes are serialised too) and crash recovery at open. The
pieces it composes live beside it: files (durable writes), index (SQLite), scratch (per-Spool temp
folders) and quarantine. The store protocol and why its steps come in this order are described in
the package docstring (dicom_listener.spool).
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from pathlib import Path

from pydicom.dataset import FileMetaDataset

from common.logref import uid_ref
from dicom_listener.errors import (
    ListenerConfigError,
    SpoolError,
    SpoolWriteError,
    StudyAlreadyClaimed,
    StudyNotFound,
)
from dicom_listener.identity import InstanceIdentity, is_valid_uid
from dicom_listener.spool.files import (
    DIR_MODE,
    SUFFIX,
    fsync_dir,
    instance_header,
    instance_paths,
    publish,
    write_temp,
)
from dicom_listener.spool.index import SpoolIndex
from dicom_listener.spool.quarantine import write_quarantine
from dicom_listener.spool.receiving import ReceivingFile
from dicom_listener.spool.records import (
    ClaimedStudy,
    QuarantineRecord,
    ReadyStudy,
    StoreOutcome,
    StoreResult,
)
from dicom_listener.spool.scratch import Scratch

LOGGER = logging.getLogger("securemed.dicom_listener")

INCOMING = "incoming"
CLAIMED = "claimed"
QUARANTINE = "quarantine"
TMP = "tmp"
INDEX_FILE = "index.sqlite3"
LOCK_FILE = ".lock"


class Spool:
    """The spool at `root`; opening it creates the layout and recovers from any earlier crash.

    Thread-safe; several Spool objects (threads or processes) may share one root.
    Raises SpoolError when the root cannot be prepared.
    """

    def __init__(self, root: Path | str, quiet_period_s: float = 10.0) -> None:
        if quiet_period_s < 0:
            raise ListenerConfigError("quiet_period_s", "must be >= 0")
        self.root = Path(root)
        self.quiet_period_s = float(quiet_period_s)
        self.incoming = self.root / INCOMING
        self.claimed = self.root / CLAIMED
        self.quarantine_dir = self.root / QUARANTINE
        self._tmp_root = self.root / TMP
        self._lock = threading.Lock()
        self._closed = False
        try:
            for folder in (self.root, self.incoming, self.claimed, self.quarantine_dir, self._tmp_root):
                folder.mkdir(mode=DIR_MODE, parents=True, exist_ok=True)
                folder.chmod(DIR_MODE)  # also narrows a spool made by an older, laxer version
            fsync_dir(self.root)
            self._lock_fd = os.open(self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
            self._index = SpoolIndex(self.root / INDEX_FILE)
            self._scratch = Scratch(self._tmp_root)
            self._recover()
        except (OSError, sqlite3.Error, SpoolError) as exc:
            self._abandon()
            raise SpoolError(f"cannot open spool at {self.root}: {exc.__class__.__name__}") from exc

    def _abandon(self) -> None:
        """Release whatever a failed __init__ had opened."""
        self._closed = True
        if hasattr(self, "_index"):
            self._index.close()
        if hasattr(self, "_scratch"):
            self._scratch.close()
        if hasattr(self, "_lock_fd"):
            with contextlib.suppress(OSError):
                os.close(self._lock_fd)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Release the index and this Spool's tmp folder. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._index.close()
            self._scratch.close()
            os.close(self._lock_fd)

    def __enter__(self) -> Spool:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextlib.contextmanager
    def _exclusive(self) -> Iterator[None]:
        with self._lock:
            if self._closed:
                raise SpoolError("spool is closed")
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX)
            try:
                yield
            except (OSError, sqlite3.Error) as exc:
                # Anything not already translated (listing a folder, reading the index).
                raise SpoolError(f"spool I/O failed: {exc.__class__.__name__}") from exc
            finally:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)

    def _recover(self) -> None:
        with self._exclusive():
            self._scratch.remove_orphans()
            adopted = 0
            for base in (self.incoming, self.claimed):
                for study_dir in base.iterdir():
                    if not study_dir.is_dir() or not is_valid_uid(study_dir.name):
                        LOGGER.warning("spool: ignoring unexpected entry %s", study_dir.name)
                        continue
                    paths = instance_paths(study_dir)
                    if not paths:
                        with contextlib.suppress(OSError):
                            study_dir.rmdir()
                        continue
                    adopted += self._index.adopt(study_dir.name, paths)
            if adopted:
                LOGGER.warning("spool: adopted %d instance(s) left unindexed by a crash", adopted)

    # ------------------------------------------------------------------ storing

    def contains(self, sop_instance_uid: str) -> bool:
        """True when this SOP Instance UID was stored before (even if claimed/completed since)."""
        with self._lock:
            if self._closed:
                raise SpoolError("spool is closed")
            try:
                return self._index.contains(sop_instance_uid)
            except sqlite3.Error as exc:
                raise SpoolError(f"cannot read index: {exc.__class__.__name__}") from exc

    def store(
        self,
        dataset: bytes,
        file_meta: FileMetaDataset,
        identity: InstanceIdentity,
        calling_aet: str,
        *,
        received_at: float | None = None,
    ) -> StoreResult:
        """Durably store one instance, or recognise it as a duplicate. See the package docstring.

        `dataset` is the data set exactly as received (no file meta); `file_meta` must carry the
        Transfer Syntax UID; the media storage UIDs and Source AE title are set here.
        On return the instance is on disk and indexed (STORED) or was already (DUPLICATE).
        Raises SpoolWriteError on a write or index failure (SpoolError if closed); nothing is then
        left in incoming/.
        """
        sop = identity.sop_instance_uid
        study = identity.study_instance_uid
        if not (is_valid_uid(sop) and is_valid_uid(study) and is_valid_uid(identity.sop_class_uid)):
            raise SpoolError("identity UIDs must be valid DICOM UIDs")
        at = time.time() if received_at is None else received_at
        if self.contains(sop):
            return StoreResult(StoreOutcome.DUPLICATE, sop, None)
        header = instance_header(file_meta, identity.sop_class_uid, sop, calling_aet)
        return self._commit(self._stage((header, dataset)), identity, calling_aet, at)

    def open_receiving(self, header: bytes) -> ReceivingFile:
        """A ReceivingFile in this Spool's scratch folder, `header` written (see receiving.py).

        Never raises: a file that cannot be created comes back failed.
        """
        return ReceivingFile(self._scratch.path, header)

    def store_received(
        self,
        received: ReceivingFile,
        identity: InstanceIdentity,
        calling_aet: str,
        *,
        received_at: float | None = None,
    ) -> StoreResult:
        """store() for an instance already written while it arrived: same outcome, same file.

        `received`'s header must be instance_header(file meta, identity's SOP Class and Instance
        UIDs, calling_aet), as the guard writes it. fsyncs it, then publishes and indexes it as
        store() does; the ReceivingFile is used up (removed unless published) either way.
        Raises SpoolWriteError (SpoolError if closed); nothing is then left in incoming/.
        """
        try:
            sop = identity.sop_instance_uid
            uids = (sop, identity.study_instance_uid, identity.sop_class_uid)
            if not all(is_valid_uid(uid) for uid in uids):
                raise SpoolError("identity UIDs must be valid DICOM UIDs")
            at = time.time() if received_at is None else received_at
            if self.contains(sop):
                return StoreResult(StoreOutcome.DUPLICATE, sop, None)
            return self._commit(received.finish(), identity, calling_aet, at)
        finally:
            received.discard()

    def _commit(self, staged: Path, identity: InstanceIdentity, calling_aet: str, at: float) -> StoreResult:
        """Steps 2 and 3 for a staged (fsynced) file; the staged file is gone afterwards."""
        sop = identity.sop_instance_uid
        try:
            with self._exclusive():
                if self._index.contains(sop):
                    return StoreResult(StoreOutcome.DUPLICATE, sop, None)
                final = self._publish(staged, identity.study_instance_uid, sop)
                self._record(final, identity, calling_aet, at)
        finally:
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()
        return StoreResult(StoreOutcome.STORED, sop, final)

    def _stage(self, parts: Iterable[bytes]) -> Path:
        """Step 1: write `parts` to a new fsynced file in this Spool's tmp folder."""
        return write_temp(self._scratch.path, parts)

    def _publish(self, staged: Path, study: str, sop: str) -> Path:
        """Step 2 (under the lock): rename into incoming/<study>/<sop>.dcm and fsync the folders."""
        return publish(staged, self.incoming / study, f"{sop}{SUFFIX}")

    def _record(self, final: Path, identity: InstanceIdentity, aet: str, at: float) -> None:
        """Step 3 (under the lock): index the instance; on failure take the file back out."""
        try:
            self._index.insert(
                identity.sop_instance_uid,
                identity.study_instance_uid,
                identity.sop_class_uid,
                aet,
                at,
            )
        except sqlite3.Error as exc:
            with contextlib.suppress(OSError):
                final.unlink()
                fsync_dir(final.parent)
            raise SpoolWriteError(f"cannot index instance: {exc.__class__.__name__}") from exc

    def quarantine(self, payload: Iterable[bytes], record: QuarantineRecord) -> Path:
        """Durably keep refused bytes as quarantine/<name>.dcm with <name>.reason.json beside it.

        Returns the payload's path. The name is time + random, never derived from the payload.
        Raises SpoolWriteError when either file cannot be written.
        """
        return write_quarantine(self.quarantine_dir, self._scratch.path, payload, record)

    # ------------------------------------------------------------------ studies

    def ready_studies(self, now: float) -> list[ReadyStudy]:
        """Studies in incoming/ whose last instance arrived more than quiet_period_s before `now`.

        `now` is a time.time() value. Oldest first. A study that also has a claimed/ folder is
        left out until that batch is completed or released.
        """
        ready: list[ReadyStudy] = []
        with self._exclusive():
            for study_dir in sorted(self.incoming.iterdir()):
                study = study_dir.name
                if not is_valid_uid(study) or (self.claimed / study).exists():
                    continue
                paths = instance_paths(study_dir)
                if not paths:
                    continue
                first, last, aet = self._index.describe(study, paths)
                if now - last > self.quiet_period_s:
                    ready.append(ReadyStudy(study, tuple(paths), first, last, aet))
        ready.sort(key=lambda r: (r.first_received, r.study_uid))
        return ready

    def claim(self, study_uid: str) -> ClaimedStudy:
        """Atomically move incoming/<study_uid>/ to claimed/<study_uid>/ and return what moved.

        Raises StudyNotFound if there is nothing to claim, StudyAlreadyClaimed if claimed/ already
        holds that study, SpoolWriteError if the rename fails.
        """
        if not is_valid_uid(study_uid):
            raise StudyNotFound("not a valid Study Instance UID")
        source = self.incoming / study_uid
        target = self.claimed / study_uid
        with self._exclusive():
            if target.exists():
                raise StudyAlreadyClaimed(study_uid)
            paths = instance_paths(source) if source.is_dir() else []
            if not paths:
                raise StudyNotFound(study_uid)
            first, last, aet = self._index.describe(study_uid, paths)
            try:
                os.rename(source, target)
                fsync_dir(self.incoming)
                fsync_dir(self.claimed)
            except OSError as exc:
                raise SpoolWriteError(f"cannot claim study: {exc.strerror or exc}") from exc
        LOGGER.info("spool: claimed study %s (%d instances)", uid_ref(study_uid), len(paths))
        return ClaimedStudy(study_uid, target, tuple(target / p.name for p in paths), first, last, aet)

    def claimed_studies(self) -> list[ClaimedStudy]:
        """Every study currently in claimed/ (after a restart: the pipeline's unfinished work)."""
        out: list[ClaimedStudy] = []
        with self._exclusive():
            for study_dir in sorted(self.claimed.iterdir()):
                if not is_valid_uid(study_dir.name):
                    continue
                paths = instance_paths(study_dir)
                if not paths:
                    continue
                first, last, aet = self._index.describe(study_dir.name, paths)
                out.append(ClaimedStudy(study_dir.name, study_dir, tuple(paths), first, last, aet))
        return out

    def release(self, study_uid: str) -> None:
        """Give a claimed study back to incoming/ (e.g. the pipeline failed and will retry).

        Instances that arrived meanwhile are merged with it. Raises StudyNotFound if not claimed.
        """
        source = self.claimed / study_uid
        target = self.incoming / study_uid
        with self._exclusive():
            if not is_valid_uid(study_uid) or not source.is_dir():
                raise StudyNotFound(study_uid)
            try:
                if not target.exists():
                    os.rename(source, target)
                else:
                    # Per-file renames: a crash midway leaves every file in one of two valid places,
                    # and calling release() again finishes the job.
                    for path in instance_paths(source):
                        os.replace(path, target / path.name)
                    fsync_dir(target)
                    shutil.rmtree(source)
                fsync_dir(self.claimed)
                fsync_dir(self.incoming)
            except OSError as exc:
                raise SpoolWriteError(f"cannot release study: {exc.strerror or exc}") from exc
        LOGGER.info("spool: released study %s", uid_ref(study_uid))

    def complete(self, study_uid: str) -> None:
        """The pipeline is done with a claimed study: delete its files, keep its UIDs indexed.

        The folder is first renamed out of claimed/ (atomic), so a crash during deletion never
        leaves a half-deleted study that looks claimable. Raises StudyNotFound if not claimed.
        """
        source = self.claimed / study_uid
        with self._exclusive():
            if not is_valid_uid(study_uid) or not source.is_dir():
                raise StudyNotFound(study_uid)
            self._index.adopt(study_uid, instance_paths(source))
            trash = self._scratch.path / f"done-{uuid.uuid4().hex}"
            try:
                os.rename(source, trash)
                fsync_dir(self.claimed)
            except OSError as exc:
                raise SpoolWriteError(f"cannot complete study: {exc.strerror or exc}") from exc
        shutil.rmtree(trash, ignore_errors=True)
        LOGGER.info("spool: completed study %s", uid_ref(study_uid))

    def prune_index(self, older_than: float) -> int:
        """Forget UIDs received before `older_than` (time.time()) for studies no longer on disk.

        After this, a re-send of such an instance is stored as new. Returns rows removed.
        """
        with self._exclusive():
            keep = {p.name for base in (self.incoming, self.claimed) for p in base.iterdir()}
            try:
                return self._index.prune(older_than, keep)
            except sqlite3.Error as exc:
                raise SpoolWriteError(f"cannot prune index: {exc.__class__.__name__}") from exc
