"""Durable on-disk spool: received instances, grouped by study, handed to the pipeline by rename.

Layout under the spool root (all on one filesystem, so every rename below is atomic):

    incoming/<StudyInstanceUID>/<SOPInstanceUID>.dcm   received, not yet claimed
    claimed/<StudyInstanceUID>/<SOPInstanceUID>.dcm    owned by the pipeline (see claim())
    quarantine/<name>.dcm + <name>.reason.json          refused data and why (no patient data)
    tmp/<owner>/                                        partial writes of one live Spool object
    index.sqlite3                                       SOP Instance UIDs ever stored (WAL, FULL)
    .lock                                               flock serialising spool mutations

Disk is the truth for *where* an instance is; the index is the truth for *whether it was seen*.
Nothing lives only in memory: a new Spool on the same root (after a crash or restart) re-scans
incoming/ and claimed/ and rebuilds anything the index is missing.

Store protocol and why the index insert comes *after* the rename
-----------------------------------------------------------------
store() runs these steps and the C-STORE handler acknowledges Success only after step 4:

    1. write file (preamble + file meta + data set bytes as received) to tmp/<owner>/, fsync it
    2. rename it to incoming/<study>/<sop>.dcm, fsync the study folder (and incoming/ if the
       study folder was just created)
    3. insert the SOP Instance UID into the index (a committed WAL transaction, fsynced)
    4. return STORED -> the handler answers 0x0000

A crash (or power loss) between any two steps loses nothing and duplicates nothing:

    * before 2: only a temp file exists. It is deleted when the next Spool opens (its owner is
      dead), nothing was acknowledged, the sender retries and the retry stores it.
    * between 2 and 3: the file is in incoming/ but not in the index, and was not acknowledged.
      The next Spool adopts every indexed-less file it finds in incoming/ or claimed/ into the
      index (so the pipeline processes it once), and the sender's retry is then answered Success
      as a duplicate without a second copy. The file name is the SOP Instance UID, so even a
      retry that races the adoption can only replace the file with itself.
    * between 3 and 4: stored and indexed but not acknowledged; the retry is a duplicate -> Success.

The other order (index first) would lose data: a crash after the insert but before the rename
leaves the UID "seen" with no file, and the retry would be acknowledged as a duplicate of an
instance that does not exist. claim() and complete() also adopt unindexed files before they move
or delete them, so an instance cannot be processed, deleted and later re-stored as new.

Concurrency: the steps 2-3 critical section, claim/release/complete and the listings hold one
lock (a threading lock plus an flock on .lock, so a pipeline in another process that opens its
own Spool is serialised too). Step 1, the large write, runs outside it. Partial writes live in a
per-Spool tmp/<owner>/ folder whose owner holds an flock for its lifetime, so opening a second
Spool never deletes a live writer's temp files.

A late instance of a study that was already claimed starts a new incoming/<study>/ folder and
becomes ready again after the quiet period; the pipeline sees it as a follow-up batch. A study
cannot be claimed again while claimed/<study>/ exists (StudyAlreadyClaimed): complete or release
the first batch first. ready_studies() leaves such studies out until then.
"""

from __future__ import annotations

import contextlib
import enum
import fcntl
import json
import logging
import os
import shutil
import sqlite3
import threading
import time
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from io import BytesIO
from pathlib import Path

from pydicom.dataset import FileMetaDataset
from pydicom.filereader import read_file_meta_info
from pydicom.filewriter import write_file_meta_info
from pydicom.uid import UID

from dicom_listener.errors import (
    ListenerConfigError,
    SpoolError,
    SpoolWriteError,
    StudyAlreadyClaimed,
    StudyNotFound,
)
from dicom_listener.identity import InstanceIdentity, is_valid_uid

LOGGER = logging.getLogger("securemed.dicom_listener")

INCOMING = "incoming"
CLAIMED = "claimed"
QUARANTINE = "quarantine"
TMP = "tmp"
INDEX_FILE = "index.sqlite3"
LOCK_FILE = ".lock"
SUFFIX = ".dcm"
_OWNER_LOCK = "owner.lock"
_DIR_MODE = 0o750
_FILE_MODE = 0o640

_SCHEMA = """
CREATE TABLE IF NOT EXISTS instances (
    sop_instance_uid   TEXT PRIMARY KEY,
    study_instance_uid TEXT NOT NULL,
    sop_class_uid      TEXT NOT NULL,
    calling_aet        TEXT NOT NULL,
    received_at        REAL NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS instances_by_study ON instances (study_instance_uid);
"""


class StoreOutcome(enum.Enum):
    STORED = "stored"
    DUPLICATE = "duplicate"


@dataclass(frozen=True)
class StoreResult:
    """What store() did. path is where the instance now lies (None for a duplicate)."""

    outcome: StoreOutcome
    sop_instance_uid: str
    path: Path | None


@dataclass(frozen=True)
class ReadyStudy:
    """A study in incoming/ whose last instance arrived more than the quiet period ago.

    Times are time.time() values. calling_aet is the AE title that sent the first instance.
    """

    study_uid: str
    paths: tuple[Path, ...]
    first_received: float
    last_received: float
    calling_aet: str


@dataclass(frozen=True)
class ClaimedStudy:
    """A study moved to claimed/<study_uid>/; the pipeline owns it until complete/release."""

    study_uid: str
    directory: Path
    paths: tuple[Path, ...]
    first_received: float
    last_received: float
    calling_aet: str


@dataclass(frozen=True)
class QuarantineRecord:
    """Why a payload was refused. Only UIDs, AE titles, addresses and codes: never patient data.

    The UID fields are None unless they were valid UIDs (an invalid one may be arbitrary text).
    """

    reason: str
    error: str
    calling_aet: str
    peer_host: str
    peer_port: int
    received_at: float
    dimse_status: int | None = None
    transfer_syntax_uid: str | None = None
    affected_sop_class_uid: str | None = None
    affected_sop_instance_uid: str | None = None

    def to_json(self) -> str:
        data = asdict(self)
        data["received_at_utc"] = (
            datetime.fromtimestamp(self.received_at, tz=timezone.utc)
            .isoformat()
            .replace("+00:00", "Z")
        )
        if self.dimse_status is not None:
            data["dimse_status"] = f"0x{self.dimse_status:04X}"
        return json.dumps(data, indent=2, sort_keys=True) + "\n"


def encode_file_meta(file_meta: FileMetaDataset) -> bytes:
    """Return preamble + b'DICM' + the encoded File Meta Information group."""
    buffer = BytesIO()
    buffer.write(b"\x00" * 128 + b"DICM")
    write_file_meta_info(buffer, file_meta, enforce_standard=True)  # type: ignore[arg-type]
    return buffer.getvalue()


def fsync_dir(path: Path) -> None:
    """fsync a directory so that entries created, renamed or removed in it survive a power loss."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _uid_from_filename(path: Path) -> str | None:
    name = path.name
    if not name.endswith(SUFFIX):
        return None
    stem = name[: -len(SUFFIX)]
    return stem if is_valid_uid(stem) else None


class _Index:
    """The SQLite index. Not thread-safe by itself: Spool calls it under its lock."""

    def __init__(self, path: Path) -> None:
        self._db = sqlite3.connect(
            path, isolation_level=None, check_same_thread=False, timeout=30.0
        )
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")
        self._db.executescript(_SCHEMA)

    def close(self) -> None:
        self._db.close()

    def contains(self, sop_uid: str) -> bool:
        row = self._db.execute(
            "SELECT 1 FROM instances WHERE sop_instance_uid = ?", (sop_uid,)
        ).fetchone()
        return row is not None

    def insert(self, sop_uid: str, study_uid: str, sop_class_uid: str, aet: str, at: float) -> bool:
        """Insert unless present; True when this call inserted it. Committed (fsynced) on return."""
        cursor = self._db.execute(
            "INSERT OR IGNORE INTO instances VALUES (?, ?, ?, ?, ?)",
            (sop_uid, study_uid, sop_class_uid, aet, at),
        )
        return cursor.rowcount == 1

    def rows(self, sop_uids: Iterable[str]) -> dict[str, tuple[float, str]]:
        """received_at and calling_aet of those of `sop_uids` that are indexed."""
        out: dict[str, tuple[float, str]] = {}
        uids = list(sop_uids)
        for start in range(0, len(uids), 500):
            chunk = uids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            for sop, at, aet in self._db.execute(
                f"SELECT sop_instance_uid, received_at, calling_aet FROM instances "
                f"WHERE sop_instance_uid IN ({marks})",
                chunk,
            ):
                out[sop] = (at, aet)
        return out

    def prune(self, older_than: float, keep_studies: set[str]) -> int:
        removed = 0
        stale = self._db.execute(
            "SELECT DISTINCT study_instance_uid FROM instances WHERE received_at < ?", (older_than,)
        ).fetchall()
        for (study,) in stale:
            if study in keep_studies:
                continue
            removed += self._db.execute(
                "DELETE FROM instances WHERE study_instance_uid = ? AND received_at < ?",
                (study, older_than),
            ).rowcount
        return removed


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
            for folder in (
                self.root,
                self.incoming,
                self.claimed,
                self.quarantine_dir,
                self._tmp_root,
            ):
                folder.mkdir(mode=_DIR_MODE, parents=True, exist_ok=True)
            fsync_dir(self.root)
            self._lock_fd = os.open(
                self.root / LOCK_FILE, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
            self._index = _Index(self.root / INDEX_FILE)
            self._tmp = self._tmp_root / uuid.uuid4().hex
            self._tmp.mkdir(mode=_DIR_MODE)
            self._owner_fd = os.open(
                self._tmp / _OWNER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600
            )
            fcntl.flock(self._owner_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self._recover()
        except (OSError, sqlite3.Error, SpoolError) as exc:
            self._abandon()
            raise SpoolError(f"cannot open spool at {self.root}: {exc.__class__.__name__}") from exc

    def _abandon(self) -> None:
        """Release whatever a failed __init__ had opened."""
        self._closed = True
        if hasattr(self, "_index"):
            self._index.close()
        for name in ("_owner_fd", "_lock_fd"):
            if hasattr(self, name):
                with contextlib.suppress(OSError):
                    os.close(getattr(self, name))
        if hasattr(self, "_tmp"):
            shutil.rmtree(self._tmp, ignore_errors=True)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Release the index and this Spool's tmp folder. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            self._index.close()
            shutil.rmtree(self._tmp, ignore_errors=True)
            os.close(self._owner_fd)
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
            for owner in self._tmp_root.iterdir():
                if owner == self._tmp:
                    continue
                self._remove_if_orphaned(owner)
            adopted = 0
            for base in (self.incoming, self.claimed):
                for study_dir in base.iterdir():
                    if not study_dir.is_dir() or not is_valid_uid(study_dir.name):
                        LOGGER.warning("spool: ignoring unexpected entry %s", study_dir.name)
                        continue
                    paths = self._instance_paths(study_dir)
                    if not paths:
                        with contextlib.suppress(OSError):
                            study_dir.rmdir()
                        continue
                    adopted += self._adopt_missing(study_dir.name, paths)
            if adopted:
                LOGGER.warning("spool: adopted %d instance(s) left unindexed by a crash", adopted)

    def _remove_if_orphaned(self, owner: Path) -> None:
        if not owner.is_dir():
            with contextlib.suppress(OSError):
                owner.unlink()
            return
        try:
            fd = os.open(owner / _OWNER_LOCK, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        except OSError:
            return
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return  # a live Spool (this or another process) owns it
        finally:
            os.close(fd)
        shutil.rmtree(owner, ignore_errors=True)

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
        """Durably store one instance, or recognise it as a duplicate. See the module docstring.

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
        meta = FileMetaDataset(file_meta)
        meta.MediaStorageSOPClassUID = UID(identity.sop_class_uid)
        meta.MediaStorageSOPInstanceUID = UID(sop)
        meta.SourceApplicationEntityTitle = calling_aet
        try:
            header = encode_file_meta(meta)
        except (AttributeError, ValueError, TypeError) as exc:
            raise SpoolError(f"file meta cannot be encoded: {exc.__class__.__name__}") from exc
        staged = self._stage((header, dataset))
        try:
            with self._exclusive():
                if self._index.contains(sop):
                    return StoreResult(StoreOutcome.DUPLICATE, sop, None)
                final = self._publish(staged, study, sop)
                self._record(final, identity, calling_aet, at)
        finally:
            with contextlib.suppress(FileNotFoundError):
                staged.unlink()
        return StoreResult(StoreOutcome.STORED, sop, final)

    def _stage(self, parts: Iterable[bytes]) -> Path:
        """Step 1: write `parts` to a new fsynced file in this Spool's tmp folder."""
        path = self._tmp / f"{uuid.uuid4().hex}.part"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, _FILE_MODE)
            with open(fd, "wb") as handle:
                for part in parts:
                    handle.write(part)
                handle.flush()
                os.fsync(handle.fileno())
        except OSError as exc:
            with contextlib.suppress(OSError):
                path.unlink()
            raise SpoolWriteError(f"cannot write temp file: {exc.strerror or exc}") from exc
        return path

    def _publish(self, staged: Path, study: str, sop: str) -> Path:
        """Step 2 (under the lock): rename into incoming/<study>/<sop>.dcm and fsync the folders."""
        study_dir = self.incoming / study
        final = study_dir / f"{sop}{SUFFIX}"
        try:
            try:
                study_dir.mkdir(mode=_DIR_MODE)
                fsync_dir(self.incoming)
            except FileExistsError:
                pass
            os.replace(staged, final)
            fsync_dir(study_dir)
        except OSError as exc:
            raise SpoolWriteError(f"cannot place instance: {exc.strerror or exc}") from exc
        return final

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
        stamp = datetime.fromtimestamp(record.received_at, tz=timezone.utc).strftime(
            "%Y%m%dT%H%M%S"
        )
        name = f"{stamp}Z-{uuid.uuid4().hex[:12]}"
        data_path = self.quarantine_dir / f"{name}{SUFFIX}"
        reason_path = self.quarantine_dir / f"{name}.reason.json"
        data_tmp = self._stage(payload)
        reason_tmp = data_tmp
        try:
            reason_tmp = self._stage((record.to_json().encode(),))
            os.replace(data_tmp, data_path)
            os.replace(reason_tmp, reason_path)
            fsync_dir(self.quarantine_dir)
        except OSError as exc:
            raise SpoolWriteError(f"cannot write quarantine: {exc.strerror or exc}") from exc
        finally:
            for leftover in (data_tmp, reason_tmp):
                with contextlib.suppress(OSError):
                    leftover.unlink()
        return data_path

    # ------------------------------------------------------------------ studies

    @staticmethod
    def _instance_paths(study_dir: Path) -> list[Path]:
        try:
            entries = list(study_dir.iterdir())
        except OSError:
            return []
        return sorted(p for p in entries if _uid_from_filename(p) is not None and p.is_file())

    def _adopt_missing(self, study: str, paths: list[Path]) -> int:
        """Index files that are on disk but not in the index (crash between rename and insert)."""
        by_uid = {_uid_from_filename(p): p for p in paths}
        known = self._index.rows(uid for uid in by_uid if uid)
        adopted = 0
        for uid, path in by_uid.items():
            if uid is None or uid in known:
                continue
            aet, sop_class = "", ""
            try:
                meta = read_file_meta_info(path)
                aet = str(meta.get("SourceApplicationEntityTitle", "") or "").strip()
                sop_class = str(meta.get("MediaStorageSOPClassUID", "") or "")
                at = path.stat().st_mtime
            except Exception:  # noqa: BLE001 - a damaged leftover is still adopted, just without details
                at = time.time()
            try:
                adopted += self._index.insert(uid, study, sop_class, aet, at)
            except sqlite3.Error as exc:
                raise SpoolWriteError(f"cannot index instance: {exc.__class__.__name__}") from exc
        return adopted

    def _describe(self, study: str, paths: list[Path]) -> tuple[float, float, str]:
        self._adopt_missing(study, paths)
        rows = self._index.rows(_uid_from_filename(p) or "" for p in paths)
        ordered = sorted(rows.values())
        return ordered[0][0], ordered[-1][0], ordered[0][1]

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
                paths = self._instance_paths(study_dir)
                if not paths:
                    continue
                first, last, aet = self._describe(study, paths)
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
            paths = self._instance_paths(source) if source.is_dir() else []
            if not paths:
                raise StudyNotFound(study_uid)
            first, last, aet = self._describe(study_uid, paths)
            try:
                os.rename(source, target)
                fsync_dir(self.incoming)
                fsync_dir(self.claimed)
            except OSError as exc:
                raise SpoolWriteError(f"cannot claim study: {exc.strerror or exc}") from exc
        LOGGER.info("spool: claimed study %s (%d instances)", study_uid, len(paths))
        return ClaimedStudy(
            study_uid, target, tuple(target / p.name for p in paths), first, last, aet
        )

    def claimed_studies(self) -> list[ClaimedStudy]:
        """Every study currently in claimed/ (after a restart: the pipeline's unfinished work)."""
        out: list[ClaimedStudy] = []
        with self._exclusive():
            for study_dir in sorted(self.claimed.iterdir()):
                if not is_valid_uid(study_dir.name):
                    continue
                paths = self._instance_paths(study_dir)
                if not paths:
                    continue
                first, last, aet = self._describe(study_dir.name, paths)
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
                    for path in self._instance_paths(source):
                        os.replace(path, target / path.name)
                    fsync_dir(target)
                    shutil.rmtree(source)
                fsync_dir(self.claimed)
                fsync_dir(self.incoming)
            except OSError as exc:
                raise SpoolWriteError(f"cannot release study: {exc.strerror or exc}") from exc
        LOGGER.info("spool: released study %s", study_uid)

    def complete(self, study_uid: str) -> None:
        """The pipeline is done with a claimed study: delete its files, keep its UIDs indexed.

        The folder is first renamed out of claimed/ (atomic), so a crash during deletion never
        leaves a half-deleted study that looks claimable. Raises StudyNotFound if not claimed.
        """
        source = self.claimed / study_uid
        with self._exclusive():
            if not is_valid_uid(study_uid) or not source.is_dir():
                raise StudyNotFound(study_uid)
            self._adopt_missing(study_uid, self._instance_paths(source))
            trash = self._tmp / f"done-{uuid.uuid4().hex}"
            try:
                os.rename(source, trash)
                fsync_dir(self.claimed)
            except OSError as exc:
                raise SpoolWriteError(f"cannot complete study: {exc.strerror or exc}") from exc
        shutil.rmtree(trash, ignore_errors=True)
        LOGGER.info("spool: completed study %s", study_uid)

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
